"""`cip experiment` end to end at a micro scale: train, fork a shared run, evaluate per phase, resume, judge."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

from code_in_pretraining.cli import main
from code_in_pretraining.data.phase_plan import PhasePlan
from code_in_pretraining.eval import report, report_rows
from code_in_pretraining.experiments import runner
from code_in_pretraining.experiments.grids import get_scale
from code_in_pretraining.model import restore
from code_in_pretraining.train import launch

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
# 256 tokens per step; 40B -> 2 steps, 200B -> 10 steps at this budget scale.
MICRO = ["TrainConfig.seq_len = 64", "TrainConfig.global_batch = 4", f"TrainConfig.budget_scale = {1 / (8 * 5**10)!r}",
         "TrainConfig.checkpoint_every = 100", "TrainConfig.progress = False", "TrainConfig.log_every = 5"]


@pytest.fixture(scope="module")
def cooldown_grid(default_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    with pytest.MonkeyPatch.context() as mp:
        if (SHARED_DATA / "eval").is_dir():  # else the runner fetches the offline evaluation files
            mp.setenv("CIP_EVAL_DIR", str(SHARED_DATA / "eval"))
        plans = runner.run("cooldown", "toy", root, bindings=MICRO, limit=1)
    return root, plans


def _params(workdir):
    _, model = restore.restore_model(workdir)
    return nnx.to_pure_dict(nnx.state(model))


def test_every_variant_has_a_result_per_phase(cooldown_grid):
    root, plans = cooldown_grid
    assert [ph.name for ph in plans["cooldown_no_code"].plan.phases] == ["pretrain", "continued", "cooldown"]
    assert plans["cooldown_no_code"].plan.steps == (10, 10, 2)
    for variant in ("cooldown_with_code", "cooldown_no_code"):
        for i, phase in enumerate(("pretrain", "continued", "cooldown")):
            r = json.loads(runner.result_path(root, variant, phase).read_text())
            assert (r["variant"], r["phase"], r["phase_index"]) == (variant, phase, i)
            assert r["step"] == [10, 20, 22][i] and r["tokens"] == r["step"] * 256 and r["scale"] == "toy"
            assert set(r["aggregates"]) >= {"reason", "know", "code", "nl_avg", "total_avg"}
            assert set(r["perplexity"]) == {"slimpajama", "stack_code"}
    from code_in_pretraining.eval import report

    md, _ = report.write_report([root], plots=False)
    assert "## Held-out perplexity (lower is better)" in md and "slimpajama [stand-in: KJV chapters] ppl" in md
    record = json.loads((root / "experiment.json").read_text())
    assert (record["grid"], record["scale"], record["bindings"]) == ("cooldown", "toy", MICRO)


def test_shared_phases_fork_and_match_a_run_from_scratch(cooldown_grid, tmp_path):
    root, plans = cooldown_grid
    shared = json.loads(runner.result_path(root, "cooldown_no_code", "continued").read_text())
    assert shared["shared_with"] == "cooldown_with_code"
    assert "shared_with" not in json.loads(runner.result_path(root, "cooldown_no_code", "cooldown").read_text())
    v = plans["cooldown_no_code"]
    launch.run(v.gin_files, v.bindings, str(tmp_path))  # the whole recipe, no fork
    jax.tree.map(np.testing.assert_array_equal, _params(root / "cooldown_no_code" / "train"), _params(tmp_path))
    assert json.loads((root / "cooldown_no_code" / "train" / "metrics.jsonl").read_text().splitlines()[-1])["loss"] \
        == json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["loss"]


def test_rerun_skips_what_finished_and_refuses_other_settings(cooldown_grid, capsys):
    root, _ = cooldown_grid
    before = {p: p.stat().st_mtime_ns for p in root.glob("*/results/*.json")}
    runner.run("cooldown", "toy", root, bindings=MICRO, limit=1)
    assert "trained" not in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in root.glob("*/results/*.json")} == before
    with pytest.raises(ValueError, match="bindings"):
        runner.run("cooldown", "toy", root, bindings=[*MICRO, "TrainConfig.seed = 1"], limit=1)


def test_unknown_grid_scale_or_recipe_fail_before_training(tmp_path):
    with pytest.raises(KeyError, match="unknown grid"):
        runner.run("nope", "toy", tmp_path)
    with pytest.raises(KeyError, match="unknown scale"):
        runner.run("paper", "huge", tmp_path)
    with pytest.raises(KeyError, match="unknown recipe 'nope'"):
        runner.run("paper", "toy", tmp_path, variants=["nope"])
    assert not (tmp_path / "experiment.json").exists()


def test_balanced_to_text_phase_1_is_the_run_of_code_sweep_50(cooldown_grid, tmp_path):
    """balanced→text's phase 1 (cooldown_with_code trains its recipe) and code_sweep_50 are one run: a fork
    shares it only with the same data, LR and configuration."""
    root, plans = cooldown_grid
    base, sweep = plans["cooldown_with_code"], runner.plan_variant("code_sweep_50", get_scale("toy"), MICRO)
    assert runner.fork_source(sweep, [base], root) == (base, 1)
    joined = dataclasses.replace(base, plan=PhasePlan(
        (base.plan.phases[0], dataclasses.replace(base.plan.phases[1], schedule="cosine_joined")),
        base.plan.steps[:2], base.plan.tokens_per_step))
    assert runner.fork_source(sweep, [joined], root) is None  # phase 1 would decay over 20 steps, not 10
    seeded = runner.plan_variant("code_sweep_50", get_scale("toy"), [*MICRO, "TrainConfig.seed = 1"])
    assert runner.fork_source(seeded, [base], root) is None
    other_data = tmp_path / "other" / base.name / "train"
    other_data.mkdir(parents=True)
    record = json.loads((root / base.name / "train" / "plan.json").read_text())
    record["fingerprints"]["tokens"]["slimpajama"] = "0" * 12
    (other_data / "plan.json").write_text(json.dumps(record))
    assert runner.same_shards(base, sweep.plan.phases, root)
    assert not runner.same_shards(base, sweep.plan.phases, tmp_path / "other")
    launch.run(sweep.gin_files, sweep.bindings, str(tmp_path / "sweep"))  # code_sweep_50 from scratch
    _, phase_1 = restore.restore_model(root / base.name / "train", 10)
    jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(phase_1)), _params(tmp_path / "sweep"))


def test_dry_run_prints_the_2p8b_grid_and_its_forks(capsys, tmp_path):
    assert main(["experiment", "--dry-run", "--grid", "paper_2p8b", "--scale", "2p8b", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("balanced_only", "balanced_to_text", "code_to_text"):
        assert (f"cip train --distributed --gin-file=models/2p8b.gin --gin-file=runtime/tpu_v5e.gin "
                f"--gin-file=recipes/{name}.gin --workdir={tmp_path / name / 'train'}") in out  # on every VM
    assert "balanced_to_text: 104,905 steps" in out and "shares" not in out
    assert main(["experiment", "--dry-run", "--scale", "2p8b", "--workdir", str(tmp_path),
                 "--variants", "code_sweep_100,code_to_text"]) == 0
    assert (f"shares ['pretrain'] with code_sweep_100: the experiment copies "
            f"{tmp_path / 'code_sweep_100' / 'train' / 'checkpoints' / '47684'}") in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_judge_flags_a_user_gets_wrong_fail_before_training(capsys, tmp_path):
    base = ["experiment", "--scale", "toy", "--workdir", str(tmp_path), "--judge-url", "http://127.0.0.1:9/v1"]
    assert main(base) == 2
    assert "--judge-url and --judge-model go together" in capsys.readouterr().err
    assert main([*base, "--judge-model", "m", "--judge-prompts", str(tmp_path / "dolly.jsonl")]) == 2
    assert f"no such file {tmp_path / 'dolly.jsonl'}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_experiment_with_a_judge_writes_win_rates_for_every_pair_and_order(cooldown_grid, judge_server, tmp_path):
    """`cip experiment --judge-url` with `cip serve` as the judge: every pair judged in both orders."""
    root, _ = cooldown_grid
    dolly = tmp_path / "databricks-dolly-15k.jsonl"
    dolly.write_text("".join(json.dumps({"instruction": p, "context": "", "response": "", "category": "open_qa"}) + "\n"
                             for p in ("Name a colour.", "Say hello.", "Count to three.")))
    argv = ["experiment", "--grid", "cooldown", "--variants", "code_sweep_0,code_sweep_50", "--scale", "toy",
            "--workdir", str(root), *(f"--gin-bindings={b}" for b in MICRO), "--no-eval", "--judge-url", judge_server,
            "--judge-model", "tiny", "--judge-prompts", str(dolly), "--judge-max-tokens", "4"]
    assert main(argv) == 0
    pairs = json.loads((root / "win_rates.json").read_text())
    assert {(p["variant"], p["phase"], p["against"], p["against_phase"], p["kind"]) for p in pairs} == {
        *((v, "pretrain", "code_sweep_0", "pretrain", "text-only")
          for v in ("code_sweep_50", "cooldown_with_code", "cooldown_no_code")),
        *((v, "cooldown", v, "continued", "no cooldown") for v in ("cooldown_with_code", "cooldown_no_code"))}
    for p in pairs:
        assert p["judgements"] == p["wins"] + p["ties"] + p["losses"] == 6 and p["prompts"] == 3
        assert p["by_order"]["ab"]["judgements"] == p["by_order"]["ba"]["judgements"] == 3
        assert p["setup"]["prompts"]["dolly"] and p["setup"]["judge"] == {"url": judge_server, "model": "tiny"}
        judged = json.loads((root / "judge" / "pairs" / f"{p['variant']}.{p['phase']}~{p['against']}."
                                                         f"{p['against_phase']}.json").read_text())["records"]
        assert sorted((r["prompt"], r["order"]) for r in judged) == [(i, o) for i in range(3) for o in ("ab", "ba")]
    experiment = report_rows.load_experiment(root)
    assert experiment["win_rates"] == pairs
    md = report.experiment_markdown(experiment, report_rows.experiment_rows(experiment))
    assert "## Win-rates (LLM-as-a-judge)" in md and "| 50% code | 0% code | 6 |" in md
    before = {f: f.stat().st_mtime_ns for f in (root / "judge").rglob("*.json")}
    assert main(argv) == 0  # a re-run keeps the answers and judgements made with the same setup
    assert {f: f.stat().st_mtime_ns for f in (root / "judge").rglob("*.json")} == before
