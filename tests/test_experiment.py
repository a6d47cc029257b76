"""`cip experiment` end to end at a micro scale: train, fork a shared prefix, evaluate per phase, resume."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

from code_in_pretraining.experiments import runner
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
