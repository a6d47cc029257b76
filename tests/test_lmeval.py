"""lm-eval on our JAX model, checked against lm-eval's own `hf` backend on the same checkpoint.

One random tiny model (float32, the project's vocabulary) is saved as our checkpoint
and exported with `cip export-hf` (weights and tokenizer). lm-eval's evaluator runs
the offline tasks on both: lm-eval's `hf` model (transformers' CohereForCausalLM in
PyTorch, loaded from the export directory) and our `cip` model (JAX, from the
checkpoint). Every loglikelihood request must agree within 1e-3 nats with the same
is_greedy flag, the accuracies must be equal, and greedy generations identical.
That checks how we split context and continuation into tokens, batch and pad, and
decode with the KV cache, against an implementation we did not write.

Where the two decoders differ by design: a sequence of byte-fallback pieces that is
not valid UTF-8 (which a model can generate, but no text encodes to) decodes with
SentencePiece's replacement rules in ours and with `tokenizers`' in `hf`; the model
and prompts here were checked to generate none in their first 32 tokens.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from code_in_pretraining.eval import lmeval_tasks, offline

SHARED_EVAL = pathlib.Path("/work/shared/data/eval")
TASKS = ("arc_easy_offline", "copa_offline")  # the two loglikelihood tasks: 4 and 2 choices per document
GENERATION = "nq_open_offline"
DOCS = {"arc_easy_offline": 40, "copa_offline": 30, GENERATION: 20}


def test_a_missing_lmeval_extra_says_how_to_install_it():
    code = ("import sys; sys.modules['lm_eval'] = None\n"
            "from code_in_pretraining.cli import main\n"
            "sys.exit(main(['lm-eval', '--checkpoint', 'x', '--tasks', 'arc_easy_offline']))")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pip install -e '.[lmeval]'" in proc.stderr.strip().splitlines()[-1], proc.stderr[-2000:]


def test_offline_task_files_are_written_with_their_data_paths(tmp_path):
    names = lmeval_tasks.task_names()
    assert {*TASKS, GENERATION, "hellaswag_offline", "winogrande_offline"} <= set(names)
    for name in names:  # a file's name is its task's
        assert f"\ntask: {name}\n" in (lmeval_tasks.TEMPLATES / f"{name}.yaml").read_text()
    src = tmp_path / "evals"
    src.mkdir()
    (src / "piqa_val.jsonl.gz").write_bytes(b"")
    (src / "arc_easy_val.jsonl.gz").write_bytes(b"")
    out = lmeval_tasks.write_task_dir(tmp_path / "tasks", src)
    assert out["written"] == ["arc_easy_offline", "piqa_offline"]
    assert ("arc_challenge_offline", str(src / "arc_challenge_val.jsonl.gz")) in out["missing"]
    text = (tmp_path / "tasks" / "piqa_offline.yaml").read_text()
    assert f'validation: "{src}/piqa_val.jsonl.gz"' in text and "$CIP_EVAL_DIR" not in text


# -- agreement with lm-eval's hf backend: needs the lmeval extra, torch, transformers, accelerate ---------
def _offline_dir() -> pathlib.Path | None:
    needed = {f for t in (*TASKS, GENERATION) for f in lmeval_tasks.data_files(t)}
    return next((d for d in (offline.eval_dir(), SHARED_EVAL) if all((d / f).is_file() for f in needed)), None)


@pytest.fixture(scope="module")
def lm_eval():
    for module, extra in (("lm_eval", "lmeval"), ("torch", "test"), ("transformers", "test"), ("accelerate", "test")):
        pytest.importorskip(module, reason=f"the lm-eval agreement test needs {module}, in the `{extra}` extra "
                                           f"(pip install -e '.[{extra}]')")
    if _offline_dir() is None:
        pytest.skip(f"offline evaluation files not found in {offline.eval_dir()} or {SHARED_EVAL} "
                    "(cip data fetch-evals)")
    import lm_eval

    import code_in_pretraining.eval.lmeval  # noqa: F401  (registers `cip`)
    return lm_eval


@pytest.fixture(scope="module")
def exported(default_data, tmp_path_factory):
    """(our checkpoint, its `cip export-hf` directory) of a random float32 model over the project's vocabulary."""
    from flax import nnx

    from code_in_pretraining.cli import main
    from code_in_pretraining.eval.tokenizer import default_tokenizer
    from code_in_pretraining.model.config import get_preset
    from code_in_pretraining.model.decoder import Decoder
    from code_in_pretraining.train.checkpoint import save_model

    tmp = tmp_path_factory.mktemp("lmeval")
    cfg = get_preset("tiny", vocab_size=default_tokenizer().vocab_size, d_model=64, n_heads=4, head_dim=16,
                     mlp_dim=128, max_seq_len=256, dtype="float32")
    ckpt = save_model(tmp / "run", Decoder(cfg, rngs=nnx.Rngs(0)))
    assert main(["export-hf", "--checkpoint", str(ckpt), "--out", str(tmp / "hf")]) == 0
    return ckpt, tmp / "hf"


@pytest.fixture(scope="module")
def task_manager(lm_eval, tmp_path_factory):
    from lm_eval.tasks import TaskManager

    task_dir = tmp_path_factory.mktemp("tasks")
    lmeval_tasks.write_task_dir(task_dir, _offline_dir())
    return TaskManager(include_path=str(task_dir), include_defaults=False)


@pytest.fixture(scope="module")
def both(lm_eval, exported, task_manager):
    """lm-eval's results of the same requests from its `hf` model and from our `cip` model."""
    from lm_eval.models.huggingface import HFLM

    ckpt, hf_dir = exported
    models = {"hf": HFLM(pretrained=str(hf_dir), dtype="float32", device="cpu", batch_size=16),
              "cip": ("cip", {"checkpoint": str(ckpt), "batch_size": 16})}
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        for name, model in models.items():
            model, args = model if isinstance(model, tuple) else (model, None)
            out[name] = lm_eval.simple_evaluate(
                model=model, model_args=args, tasks=[*TASKS, GENERATION], task_manager=task_manager,
                samples={t: list(range(n)) for t, n in DOCS.items()}, gen_kwargs={"max_gen_toks": 32},
                log_samples=True, bootstrap_iters=0)
    return out


def _responses(results, task):
    return [resp[0] for sample in results["samples"][task] for resp in sample["resps"]]


def test_loglikelihoods_agree_with_lm_evals_hf_backend(both):
    n, worst, greedy_n = 0, 0.0, 0
    for task in TASKS:
        hf, ours = _responses(both["hf"], task), _responses(both["cip"], task)
        assert len(hf) == len(ours)
        for (lp_hf, greedy_hf), (lp, greedy) in zip(hf, ours):
            worst = max(worst, abs(lp - lp_hf))
            assert greedy == greedy_hf
            greedy_n += greedy
        n += len(hf)
        acc_hf, acc = both["hf"]["results"][task], both["cip"]["results"][task]
        assert {k: v for k, v in acc.items() if k.startswith("acc")} == \
               {k: v for k, v in acc_hf.items() if k.startswith("acc")}, task
        print(f"\n{task}: acc hf {acc_hf['acc,none']:.3f}, cip {acc['acc,none']:.3f}")
    print(f"{n} loglikelihood requests, largest |difference| {worst:.2e} nats, {greedy_n} greedy")
    assert n >= 200 and worst <= 1e-3


def test_greedy_generations_are_identical(both):
    hf, ours = _responses(both["hf"], GENERATION), _responses(both["cip"], GENERATION)
    assert len(hf) == DOCS[GENERATION] and sum(bool(g.strip()) for g in hf) >= DOCS[GENERATION] // 2
    assert ours == hf


def test_greedy_continuations_and_rolling_loglikelihoods_agree_with_hf(both, exported):
    """What the tasks above hardly ask: continuations that are the model's own greedy text (is_greedy
    true), and texts longer than the model's 256 tokens (rolling log-likelihood over several windows)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from code_in_pretraining.eval.lmeval import CipLM

    ckpt, hf_dir = exported
    hf = HFLM(pretrained=str(hf_dir), dtype="float32", device="cpu", batch_size=16)
    ours = CipLM(checkpoint=str(ckpt), batch_size=16)  # the shapes compiled above, where they fit
    generated = [(s["arguments"][0][0], s["resps"][0][0]) for s in both["hf"]["samples"][GENERATION]]

    def apart(context, text):  # the text's tokens follow the context's unchanged (no piece spans both)
        ids = ours.tok_encode(context)
        return text.strip() and ours.tok_encode(context + text)[:len(ids)] == ids

    reqs = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(generated) if apart(*pair)]
    want, got = hf.loglikelihood(reqs, disable_tqdm=True), ours.loglikelihood(reqs, disable_tqdm=True)
    print(f"\n{sum(g for _, g in got)} of {len(reqs)} generated continuations are greedy when scored")
    assert [g for _, g in got] == [g for _, g in want] and any(g for _, g in got)  # (a re-encoded text may
    # not be the generated pieces: then the pieces scored are not the argmax ones)
    assert max(abs(a - b) for (a, _), (b, _) in zip(want, got)) <= 1e-3

    texts = [pathlib.Path(json.__file__).read_text()[:4000], "def f(x):\n    return x + 1\n"]
    reqs = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    assert ours.max_length == hf.max_length == 256
    for a, b in zip(hf.loglikelihood_rolling(reqs, disable_tqdm=True), ours.loglikelihood_rolling(reqs)):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-3)


def test_cip_lm_eval_command_prints_the_table_and_writes_results(lm_eval, exported, tmp_path, capsys,
                                                                 monkeypatch):
    from code_in_pretraining.cli import main

    monkeypatch.setenv("CIP_EVAL_DIR", str(_offline_dir()))
    ckpt, _ = exported
    assert main(["lm-eval", "--checkpoint", str(ckpt), "--tasks", "copa_offline", "--limit", "4",
                 "--output-path", str(tmp_path / "out"), "--log-samples"]) == 0
    printed = capsys.readouterr().out
    assert "copa_offline" in printed and "acc" in printed
    (results,) = (tmp_path / "out").rglob("results_*.json")
    assert json.loads(results.read_text())["results"]["copa_offline"]["alias"] == "copa_offline"
    assert list((tmp_path / "out").rglob("samples_copa_offline_*.jsonl"))
    # a task without its offline file, or unknown: one line naming it
    monkeypatch.setenv("CIP_EVAL_DIR", str(tmp_path / "empty"))
    assert main(["lm-eval", "--checkpoint", str(ckpt), "--tasks", "copa_offline"]) == 2
    assert "copa_val.jsonl.gz" in capsys.readouterr().err
