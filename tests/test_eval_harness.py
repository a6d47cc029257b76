"""Evaluation harness: scoring, cached generation, metrics, SeqIO tasks, the suite and the report."""

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from code_in_pretraining.eval import (aggregate, benchmarks, generate, metrics, report, sandbox, scoring, suite,
                                      uncertainty)
from code_in_pretraining.eval.lm import LanguageModel
from code_in_pretraining.eval.tokenizer import ByteTokenizer
from code_in_pretraining.model.config import get_preset
from code_in_pretraining.model.decoder import Decoder

SHARED_EVAL = pathlib.Path("/work/shared/data/eval")
needs_eval_data = pytest.mark.skipif(not (SHARED_EVAL / "boolq_val.jsonl.gz").exists(),
                                     reason=f"offline evaluation files not found at {SHARED_EVAL}")


def tiny_cfg(**kw):
    return get_preset("tiny", **{"vocab_size": 258, "d_model": 64, "n_heads": 4, "n_kv_heads": 2,
                                 "head_dim": 16, "mlp_dim": 96, "max_seq_len": 128, **kw})


@pytest.fixture(scope="module")
def model():
    return Decoder(tiny_cfg(), rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def split(model):
    graphdef, state = nnx.split(model)
    return graphdef, nnx.to_pure_dict(state)


@pytest.fixture(scope="module")
def forward(split):
    graphdef, _ = split
    return jax.jit(lambda p, t: nnx.merge(graphdef, p)(t))


@pytest.fixture(scope="module")
def lm(model):
    return LanguageModel.from_model(model, ByteTokenizer(), batch_size=4)


def test_cached_greedy_equals_uncached_argmax_token_by_token(split, forward):
    graphdef, params = split
    cfg = tiny_cfg()
    prompts = [[5, 9, 30, 40, 2], [7, 8], list(range(3, 40)), [11]]  # different lengths: left padding
    n_new = 24
    got = generate.generate_ids(graphdef, params, cfg, prompts, generate.SamplingConfig(max_new_tokens=n_new),
                                eos_id=1, max_len=128, chunk=8)
    for prompt, row in zip(prompts, got):
        seq, ref = list(prompt), []
        for _ in range(n_new):
            # Uncached: the whole sequence, right-padded to one shape (causal: padding after is unseen).
            padded = np.zeros((1, 64), np.int32)
            padded[0, :len(seq)] = seq
            nxt = int(jnp.argmax(forward(params, padded)[0, len(seq) - 1]))
            if nxt == 1:
                break
            ref.append(nxt)
            seq.append(nxt)
        assert row == ref


def test_scoring_matches_full_forward_and_left_truncates(split, forward):
    graphdef, params = split
    reqs = [([5, 9, 30], [40, 2]), ([7], [8, 9, 10]), (list(range(3, 200)), [50, 51])]
    got = scoring.loglikelihood(graphdef, params, reqs, max_len=64, batch_size=2)
    for (ctx, cont), (lp, greedy) in zip(reqs, got):
        full = (ctx + cont)[-65:]
        logp = jax.nn.log_softmax(forward(params, jnp.asarray([full[:-1]]))[0], -1)
        want = sum(float(logp[len(full) - 1 - len(cont) + j, t]) for j, t in enumerate(cont))
        assert lp == pytest.approx(want, abs=1e-4)
        argmax_ok = all(int(jnp.argmax(logp[len(full) - 1 - len(cont) + j])) == t for j, t in enumerate(cont))
        assert greedy == argmax_ok
    # A continuation longer than max_len counts every token: pieces of 32, each after up to 64 tokens before it.
    ctx, cont = [5, 6, 7], [(3 * i) % 250 + 2 for i in range(150)]
    (lp, _), = scoring.loglikelihood(graphdef, params, [(ctx, cont)], max_len=64, batch_size=2)
    want = 0.0
    for start in range(0, len(cont), 32):
        full = (ctx + cont[:start + 32])[-65:]
        logp = jax.nn.log_softmax(forward(params, jnp.asarray([full[:-1]]))[0], -1)
        piece = cont[start:start + 32]
        want += sum(float(logp[len(full) - 1 - len(piece) + j, t]) for j, t in enumerate(piece))
    assert lp == pytest.approx(want, abs=1e-3)


def test_sampling_top_p_and_key():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]]))
    draws = {int(generate.sample(logits, jax.random.PRNGKey(i), 1.0, 0.7)[0]) for i in range(60)}
    assert draws == {0, 1}  # 0.5 + 0.3 reaches 0.7: the tail is cut
    assert int(generate.sample(logits, jax.random.PRNGKey(0), 0.0, 1.0)[0]) == 0
    a = generate.sample(jnp.zeros((8, 50)), jax.random.PRNGKey(1), 1.0, 1.0)
    b = generate.sample(jnp.zeros((8, 50)), jax.random.PRNGKey(1), 1.0, 1.0)
    assert (a == b).all()


def test_lm_generate_stops_and_batches(lm):
    out = lm.generate(["abc", "hello world", "x", "y", "zz"],
                      generate.SamplingConfig(max_new_tokens=12, stop=("\n",)))
    assert len(out) == 5 and all("\n" not in o for o in out)
    assert generate.truncate_at_stop("ab\ncd.ef", ("." , "\n")) == "ab"


def test_metrics():
    assert metrics.normalize_answer("  The  Quick, brown fox!  ") == "quick brown fox"
    # QuAC's and SQuAD's F1: word overlap after normalisation, the best over the references.
    assert metrics.token_f1_one("the cat sat on a mat", ["cat sat", "dog"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert metrics.token_f1_one("", ["CANNOTANSWER"]) == 0.0 and metrics.token_f1_one("x", ["x"]) == 1.0
    assert metrics.f1([["red apple"], ["pear"]], ["apple", "plum"])["f1"] == pytest.approx(100 * (2 / 3) / 2)
    assert benchmarks.BENCHMARKS["quac"].primary == "f1" and benchmarks.BENCHMARKS["quac"].stop == ("\n",)
    assert metrics.per_example("pass@1", [0, 1], [[True, False], [False, False]]) == [50.0, 0.0]
    assert metrics.exact_match([["Sunset Blvd.", "Sunset Boulevard"]], ["sunset boulevard"])["exact_match"] == 100
    assert metrics.exact_match([["Paris"]], ["Paris, France"])["exact_match"] == 0
    assert metrics.accuracy([0, 1, 2, 1], [0, 1, 0, 0])["accuracy"] == 50
    # Unbiased pass@k against the closed form, and numerically stable for large n.
    assert metrics.pass_at_k_one(10, 3, 1) == pytest.approx(0.3)
    assert metrics.pass_at_k_one(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))
    assert metrics.pass_at_k_one(5, 3, 3) == 1.0 and metrics.pass_at_k_one(5, 0, 1) == 0.0
    assert 0.0 < metrics.pass_at_k_one(100000, 1, 10) < 1e-3
    assert metrics.pass_at_k([0, 1], [[True, False], [False, False]])["pass@1"] == 25


def test_tfds_names_are_real_builders():
    import tensorflow_datasets as tfds
    builders = set(tfds.list_builders())
    for b in benchmarks.BENCHMARKS.values():
        base = b.tfds_name.split("/")[0]
        assert base.startswith("huggingface:") or base in builders, b.tfds_name


def test_every_benchmark_is_registered_with_metrics():
    from code_in_pretraining.data import mixtures
    for name, b in benchmarks.BENCHMARKS.items():
        assert mixtures.get_task(f"eval_{name}_tfds").metric_fns
        if b.offline_file:
            assert mixtures.get_task(f"eval_{name}").metric_fns
    assert len(benchmarks.PAPER_GROUPS["reason"]) == 11


@pytest.fixture
def eval_dir(monkeypatch):
    monkeypatch.setenv("CIP_EVAL_DIR", str(SHARED_EVAL))


@needs_eval_data
def test_offline_tasks_give_canonical_examples(eval_dir):
    for name, b in benchmarks.BENCHMARKS.items():
        why = suite.availability(name)
        if why is not None:  # no offline copy, or a file this offline copy lacks (SciQ)
            assert why.startswith("not available") and name in ("sciq", "quac", "cb", "story_cloze")
            continue
        exs = suite.load_examples(name, limit=3)
        assert len(exs) == 3, name
        for ex in exs:
            if b.kind == "mc":
                assert 0 <= ex["label"] < len(ex["choices"]) and all(c.startswith(" ") for c in ex["choices"])
            elif b.kind == "qa":
                assert ex["answers"] and ex["inputs"].endswith("Answer:")
            else:
                assert json.loads(ex["meta"])["task"] in ("humaneval", "mbpp")


@needs_eval_data
def test_paper_suite_runs_and_reports(lm, eval_dir, tmp_path):
    said = []
    results = suite.evaluate(lm, "paper", limit=2, progress=said.append)
    assert said[0] == f"sandbox: {sandbox.describe()}" and results["sandbox"] == sandbox.describe()  # said once, first
    assert sum(line.startswith("sandbox:") for line in said) == 1
    tasks = results["tasks"]
    assert set(tasks) == set(benchmarks.SUITES["paper"])
    missing = {"sciq", "quac", "cb", "story_cloze"}
    assert {n for n, t in tasks.items() if not t["available"]} == missing
    for n, t in tasks.items():
        if t["available"]:
            assert t["n"] == 2 and 0.0 <= t["score"] <= 100.0
            assert len(t["per_example"]["score"]) == 2
            assert t["score"] == pytest.approx(np.mean(t["per_example"]["score"]))
            assert t["bpb"] > 0 and t["bpb_se"] is not None
    agg = results["aggregates"]
    assert agg["reason_available"] == "7/11" and agg["reason_paper"] is None
    assert sorted(agg["reason_missing"]) == sorted(missing)
    assert agg["nl_avg"] == pytest.approx((agg["reason"] + agg["know"]) / 2)
    assert agg["total_avg"] == pytest.approx((agg["reason"] + agg["know"] + agg["code"]) / 3)
    assert agg["code_bpb"] == pytest.approx((tasks["humaneval"]["bpb"] + tasks["mbpp"]["bpb"]) / 2)
    assert all(agg[f"{k}_se"] is not None for k in ("reason", "nl_avg", "total_avg", "code_bpb"))
    # Report: two runs, relative gains against a baseline.
    a = {**results, "name": "text_only"}
    b = {**results, "name": "balanced", "aggregates": {**agg, "know": (agg["know"] or 0) + 10}}
    paths = []
    for r in (a, b):
        paths.append(tmp_path / f"{r['name']}.json")
        paths[-1].write_text(json.dumps(r))
    md, _ = report.write_report(paths, tmp_path, baseline="text_only")
    assert (tmp_path / "report.md").read_text() == md + "\n"
    assert "| text_only | n/a |" in md and "7/11" in md and "| balanced | text_only |" in md
    assert " bpb (n=2) |" in md  # per task: score ± standard error, BPB and n
    assert (tmp_path / "report.png").stat().st_size > 1000
    assert "reason_gain" in (tmp_path / "report.csv").read_text().splitlines()[0]


def test_bootstrap_is_fixed_paired_and_sized_by_the_examples():
    rng = np.random.default_rng(0)
    coin = 100.0 * (rng.random(400) < 0.5)
    draws = uncertainty.task_draws("boolq", coin)
    assert np.array_equal(draws, uncertainty.task_draws("boolq", coin))  # a fixed seed: the same every run
    assert uncertainty.standard_error(draws) == pytest.approx(50 / np.sqrt(400), rel=0.1)
    # Two models on the same examples are resampled alike: a model one point better on every example
    # gains with certainty, and a model against itself gains exactly nothing.
    better = uncertainty.task_draws("boolq", coin + 1.0)
    lo, hi = uncertainty.interval(uncertainty.gain_draws(better, draws))
    assert 0 < lo <= hi and uncertainty.interval(uncertainty.gain_draws(draws, draws)) == (0.0, 0.0)
    assert uncertainty.contains_zero((0.0, 0.0)) and not uncertainty.contains_zero((lo, hi))
    tasks = {n: {"available": True, "score": 50.0, "bpb": 2.0,
                 "per_example": {"score": coin[:40].tolist(), "bpb": [2.0] * 40}} for n in ("piqa", "copa")}
    agg = aggregate.aggregates(tasks)
    assert agg["reason_bpb"] == 2.0 and agg["reason_bpb_se"] == 0.0 and agg["reason_se"] > 0
    assert agg["know"] is None and agg["know_se"] is None and agg["nl_avg_se"] is None


def test_aggregate_paper_average_when_all_available():
    tasks = {n: {"available": True, "score": 50.0} for n in benchmarks.SUITES["paper"]}
    agg = aggregate.aggregates(tasks)
    assert agg["reason_paper"] == 50.0 and agg["reason_available"] == "11/11"
    assert aggregate.relative_gain(54.9, 49.0) == pytest.approx(12.04, abs=0.01)
    assert aggregate.relative_gain(1.0, 0.0) is None


@needs_eval_data
def test_bits_per_byte_is_the_gold_nll_in_bits_per_gold_byte(default_data, eval_dir):
    """On a fixed tiny model with the project's vocabulary (pieces of several bytes): each example's BPB is
    -sum log2 p(gold token | all before it) / UTF-8 bytes of the gold text, computed here from the logits of
    one forward pass over context + gold; the task's BPB is their mean."""
    from code_in_pretraining.eval.tokenizer import default_tokenizer
    tok = default_tokenizer()
    model = Decoder(tiny_cfg(vocab_size=tok.vocab_size, max_seq_len=1024), rngs=nnx.Rngs(0))
    lm = LanguageModel.from_model(model, tok, batch_size=4)
    graphdef, params = nnx.split(model)
    log_softmax = jax.jit(lambda p, t: jax.nn.log_softmax(nnx.merge(graphdef, p)(t).astype(jnp.float32), -1))

    def independent(context: str, gold: str) -> float:
        ctx, ids = tok.encode(context), tok.encode(gold)
        full = np.zeros((1, 1024), np.int32)  # one shape, one compilation; causal: the padding after is unseen
        full[0, :len(ctx) + len(ids) - 1] = (ctx + ids)[:-1]
        logp = log_softmax(params, full)[0]
        nll = -sum(float(logp[len(ctx) - 1 + j, t]) for j, t in enumerate(ids))
        return nll / math.log(2) / len(gold.encode("utf-8"))

    copa = suite.evaluate_benchmark(lm, "copa", limit=3)  # multiple choice: the correct choice
    exs = suite.load_examples("copa", limit=3)
    want = [independent(ex["inputs"], ex["choices"][ex["label"]]) for ex in exs]
    assert copa["per_example"]["bpb"] == pytest.approx(want, rel=1e-4)
    assert copa["bpb"] == pytest.approx(np.mean(want)) and copa["gold"] == "the correct choice"
    assert copa["score_se"] is not None and copa["bpb_se"] > 0
    for name, gold in (("triviaqa", lambda ex: " " + ex["answers"][0]),  # the reference answer
                       ("humaneval", lambda ex: json.loads(ex["meta"])["reference"])):  # the canonical solution
        exs = suite.load_examples(name, limit=2)
        pairs = [benchmarks.gold(ex, benchmarks.BENCHMARKS[name].kind) for ex in exs]
        assert [p[1] for p in pairs] == [gold(ex) for ex in exs]
        assert any(len(tok.encode(p[1])) < len(p[1].encode()) for p in pairs)  # pieces are not bytes
        got = suite.bits_per_byte(lm, pairs)
        assert got == pytest.approx([independent(*p) for p in pairs], rel=1e-4), name


SHARDED_CHECK = r"""
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from code_in_pretraining.eval import generate, scoring
from code_in_pretraining.model.config import get_preset
from code_in_pretraining.model.decoder import Decoder
assert jax.device_count() == 2
cfg = get_preset("tiny", vocab_size=258, d_model=64, n_heads=4, head_dim=16, mlp_dim=96, max_seq_len=64)
graphdef, state = nnx.split(Decoder(cfg, rngs=nnx.Rngs(0)))
params = nnx.to_pure_dict(state)
mesh = Mesh(np.array(jax.devices()), ("x",))
def shard(a):
    spec = P(*([None] * (a.ndim - 1) + ["x"])) if a.shape[-1] % 2 == 0 else P()
    return jax.device_put(a, NamedSharding(mesh, spec))
sharded = jax.tree.map(shard, params)
assert any(len(x.sharding.device_set) == 2 and not x.sharding.is_fully_replicated
           for x in jax.tree.leaves(sharded))
reqs = [([5, 9, 30], [40, 2]), ([7], [8, 9, 10])]
a = scoring.loglikelihood(graphdef, params, reqs, max_len=64, batch_size=2)
b = scoring.loglikelihood(graphdef, sharded, reqs, max_len=64, batch_size=2)
assert np.allclose([x for x, _ in a], [x for x, _ in b], atol=1e-4), (a, b)
s = generate.SamplingConfig(max_new_tokens=8)
g1 = generate.generate_ids(graphdef, params, cfg, [[5, 6, 7], [9]], s, eos_id=1, max_len=64, chunk=4)
g2 = generate.generate_ids(graphdef, sharded, cfg, [[5, 6, 7], [9]], s, eos_id=1, max_len=64, chunk=4)
assert g1 == g2, (g1, g2)
print("SHARDED_OK")
"""


def test_scoring_and_generation_with_sharded_params():
    """Params sharded over 2 (host) devices give the same scores and tokens as on one."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", SHARDED_CHECK], capture_output=True, text=True, timeout=300)
    assert "SHARDED_OK" in out.stdout, out.stderr[-3000:]


@needs_eval_data
def test_clean_only_leaves_out_what_a_decontamination_report_lists(lm, eval_dir):
    from code_in_pretraining.data import fingerprint
    from code_in_pretraining.eval import contamination

    path = contamination.offline_path("copa")
    entry = {"available": True, "file": str(path), "file_fingerprint": fingerprint.of_files([path]),
             "contaminated_examples": [{"index": 0, "id": "a"}, {"index": 2, "id": "b"}]}
    clean = suite.evaluate_benchmark(lm, "copa", limit=3, contamination_report={"benchmarks": {"copa": entry}})
    every = suite.load_examples("copa", limit=5)
    assert clean["n"] == 3 and clean["contaminated_left_out"] == 2 and clean["clean_only"]
    assert [s["id"] for s in clean["samples"]] == [every[i]["id"] for i in (1, 3, 4)]
    with pytest.raises(ValueError, match="another copy of copa"):
        suite.evaluate_benchmark(lm, "copa", limit=1,
                                 contamination_report={"benchmarks": {"copa": {**entry, "file_fingerprint": "0"}}})
