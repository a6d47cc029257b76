"""Training on real data: the loss falls, checkpoints restore exactly, resume is exact, bad configs fail early."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from code_in_pretraining.cli import main
from code_in_pretraining.model import restore
from code_in_pretraining.train import checkpoint, launch

BINDINGS = ["TrainConfig.seq_len = 128", "TrainConfig.global_batch = 8", "TrainConfig.log_every = 1",
            "TrainConfig.progress = False"]


def _train(workdir, steps, *extra, **kwargs):
    bindings = [*BINDINGS, f"TrainConfig.steps = {steps}", *extra]
    return launch.run(["demo.gin"], bindings, str(workdir), **kwargs)


def _losses(workdir):
    """Loss per step; where a step ran twice (after a crash), the later run counts."""
    by_step = {}
    for line in (workdir / "metrics.jsonl").open():
        record = json.loads(line)
        by_step[record["step"]] = record["loss"]
    return [by_step[s] for s in sorted(by_step)]


@pytest.fixture(scope="module")
def run_to_8(default_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("full")
    return workdir, _train(workdir, 8, "TrainConfig.checkpoint_every = 4")


def test_loss_falls_on_real_data(default_data, tmp_path):
    _train(tmp_path, 25, "TrainConfig.warmup_steps = 5", "TrainConfig.checkpoint_every = 100")
    losses = _losses(tmp_path)
    assert len(losses) == 25
    assert np.mean(losses[-5:]) < losses[0] - 1.5, losses


def test_checkpoint_restores_what_was_saved(run_to_8):
    workdir, out = run_to_8
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [4, 8]
    cfg, model = restore.restore_model(workdir)
    assert cfg == out["model_config"]
    from flax import nnx
    restored = nnx.to_pure_dict(nnx.state(model))
    jax.tree.map(np.testing.assert_array_equal, restored, jax.device_get(out["params"]))
    assert "TrainConfig.steps = 8" in (workdir / "config.gin").read_text()
    # The logged norm (taken outside the step) is that of the parameters saved at the same step.
    norm = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(restored)))
    np.testing.assert_allclose(out["final"]["param_norm"], norm, rtol=1e-5)


def test_resume_is_bitwise_identical(run_to_8, tmp_path):
    """Also with TrainConfig.deterministic: its XLA options are GPU-only, so on the CPU the
    numbers are those of the run without it."""
    workdir, full = run_to_8
    det = ("TrainConfig.checkpoint_every = 4", "TrainConfig.deterministic = True")
    _train(tmp_path, 8, *det, halt_after=6)  # dies after step 6 ...
    assert checkpoint.manager(tmp_path).latest_step() == 4
    resumed = _train(tmp_path, 8, *det)  # ... restarts from step 4
    assert (tmp_path / "xla_autotune").is_dir()
    assert len(_losses(tmp_path)) == 8
    assert _losses(tmp_path) == _losses(workdir)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed["params"]),
                 jax.device_get(full["params"]))


def _cip_train(tmp_path, *args, env=None):
    cmd = [sys.executable, "-m", "code_in_pretraining.cli", "train", f"--workdir={tmp_path / 'w'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


RECIPE_RUN = ["--gin_file=models/tiny.gin", "--gin_file=recipes/balanced_to_text.gin"]


@pytest.mark.parametrize("args, message", [
    (["--gin_bindings=TrainConfig.no_such_field = 1"], "no_such_field"),
    (["--gin_bindings=TrainConfig.mixture = 'no_such_mixture'"], "unknown mixture or task 'no_such_mixture'"),
    (["--gin_bindings=TrainConfig.model_preset = 'huge'"], "unknown model preset 'huge'"),
    (["--gin_bindings=TrainConfig.mesh_shape = (3, 1, 1)"], "mesh shape"),
    (["--gin_file=recipes/no_such_recipe.gin"], "recipes/no_such_recipe.gin"),
    (["--gin_file=recipes/text_only.gin"], "set exactly one of TrainConfig.mixture"),
    ([*RECIPE_RUN, "--gin_bindings=TrainConfig.budget_scale = 1e-7"],
     "phase 'pretrain' (balanced): a budget of 20,000 tokens is not a whole number of batches"),
    ([*RECIPE_RUN, "--gin_bindings=TrainConfig.phases = (('pretrain', 'nope', 4096),)"],
     "unknown mixture or task 'nope'"),
    (["--gin_bindings=TrainConfig.loss_vocab_block = -5"], "ModelConfig.loss_vocab_block=-5"),
    (["--gin_bindings=TrainConfig.deterministic = True",
      "--gin_bindings=TrainConfig.attention_impl = 'pallas_gpu_fused'"],
     "TrainConfig.attention_impl='pallas_gpu_fused' adds dQ with atomics"),
    (["--gin_file=models/tiny.gin", "--gin_file=recipes/balanced_only.gin", "--gin_bindings=TrainConfig.seq_len = 128",
      "--gin_bindings=TrainConfig.global_batch = 1"], "overflow the step counter"),
], ids=["binding", "mixture", "preset", "mesh", "recipe", "mixture_and_recipe", "budget", "phase_mixture",
        "loss_block", "deterministic_fused", "step_overflow"])
def test_bad_config_fails_before_compilation(default_data, tmp_path, capsys, args, message):
    """`cip train`'s own entry point, in this process (the test below runs it as a command)."""
    gin_files = [] if any(a.startswith("--gin_file=models/") for a in args) else ["--gin_file=demo.gin"]
    rc = main(["train", f"--workdir={tmp_path / 'w'}", *gin_files, *args])
    err = capsys.readouterr().err
    assert rc == 2, err[-2000:]
    assert "configuration error" in err and message in err, err[-2000:]
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_missing_data_path_is_named(default_data, tmp_path):
    from code_in_pretraining.data import vocabulary

    env = {"CIP_DATA_DIR": str(tmp_path / "empty"), "CIP_VOCAB": str(vocabulary.default_vocab_path())}
    proc = _cip_train(tmp_path, "--gin_file=demo.gin", env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert str(tmp_path / "empty") in proc.stderr and "not found" in proc.stderr
    assert "Path not found" not in proc.stderr  # gin's search of the package's own gin files is quiet


def test_a_paper_model_over_another_vocabulary_fails_before_compiling_naming_both_sizes(default_data, tmp_path):
    files = ["models/470m.gin", "runtime/cpu.gin", "recipes/text_only.gin"]  # the default vocabulary: 4,096 pieces
    with pytest.raises(launch.ConfigError, match=r"'470m' is the paper's model with a 256,000-piece vocabulary, "
                                                 r"but the tasks' vocabulary .*spm4k.model has 4,096 pieces: the "
                                                 r"model would have 2\d\d\.\dM parameters"):
        launch.run(files, [], str(tmp_path))
    assert not list(tmp_path.iterdir())  # nothing written, nothing compiled
    asked = "TrainConfig.model_overrides = {'vocab_size': 4096}"
    from code_in_pretraining.train import trainer

    assert trainer.model_config(launch.load_config(files, [asked]), 4096).vocab_size == 4096
    with pytest.raises(ValueError, match="asks for a vocabulary of 8,000 pieces, but the tasks' vocabulary has 4,096"):
        trainer.model_config(launch.load_config(files, [asked.replace("4096", "8000")]), 4096)


# -- phases, cooldown and continued pre-training ----------------------------------------------
TOKENS_PER_STEP = 128 * 8
PHASED = ["TrainConfig.mixture = ''", "TrainConfig.steps = 0", "TrainConfig.warmup_steps = 2",
          f"TrainConfig.phases = (('pretrain', 'demo_balanced', {6 * TOKENS_PER_STEP}, 'cosine'), "
          f"('cooldown', 'demo_text_only', {3 * TOKENS_PER_STEP}, 'cooldown'))"]


def _records(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").open()]


def test_cooldown_switches_mixture_and_anneals_linearly_at_one_step(default_data, tmp_path):
    out = launch.run(["demo.gin"], [*BINDINGS, *PHASED, "TrainConfig.checkpoint_every = 2",
                                        "TrainConfig.keep_checkpoints = 1"], str(tmp_path))
    record = json.loads((tmp_path / "plan.json").read_text())
    plan = record["phases"]
    assert [(r["phase"], r["mixture"], r["start_step"], r["end_step"]) for r in plan] == [
        ("pretrain", "demo_balanced", 0, 6), ("cooldown", "demo_text_only", 6, 9)]
    assert (record["steps"], record["switch_steps"]) == (9, [6])
    fingerprints = record["fingerprints"]  # equal fingerprints, equal batches
    assert set(fingerprints["tokens"]) == {"text", "code"} and len(fingerprints["vocabulary"]) == 12
    from code_in_pretraining.model.info import param_counts

    assert record["model"] == {"preset": "tiny", "vocab_size": 4096, **param_counts(out["model_config"])}
    records = _records(tmp_path)
    assert [r["phase"] for r in records] == [0] * 6 + [1] * 3
    lrs = [r["lr"] for r in records]  # record i is step i+1, trained with the LR of step i
    assert plan[1]["lr_at_start"] == pytest.approx(3e-4) == pytest.approx(lrs[6])  # the cosine's floor
    np.testing.assert_allclose(lrs[6:] + [1e-6], np.linspace(3e-4, 1e-6, 4), rtol=1e-5)
    assert all("loss/code" in r for r in records[:6]) and not any("loss/code" in r for r in records[6:])
    assert out["token_counts"]["text"] > out["token_counts"]["code"] > 0
    # The latest checkpoint and every phase end are kept.
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [6, 9]
    meta = restore.read_meta(tmp_path / "checkpoints", 6)
    assert (meta["step"], meta["phase"], meta["lr"]) == (6, "pretrain", pytest.approx(3e-4))


def test_continued_pretraining_from_params_rewarms(run_to_8, tmp_path):
    source, full = run_to_8
    out = _train(tmp_path, 3, f"TrainConfig.init_from = '{source}'", "TrainConfig.warmup_steps = 2",
                 halt_after=1)
    # Fresh optimizer, LR re-warmed from 0: the first step leaves the source's params as they were.
    assert _records(tmp_path)[0]["lr"] == 0.0
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(out["params"]), jax.device_get(full["params"]))


def test_continued_pretraining_with_optimizer_continues_the_lr(run_to_8, tmp_path):
    import optax

    source, _ = run_to_8
    meta = restore.read_meta(source / "checkpoints", 8)
    # A runtime field may differ from the source run's: here the loss is blockwise (1000 does not
    # divide the vocabulary), which computes the same function.
    out = _train(tmp_path, 4, f"TrainConfig.init_from = '{source}'",
                 "TrainConfig.init_state = 'params_and_optimizer'", "TrainConfig.init_lr = 'continue'",
                 "TrainConfig.end_lr = 1e-5", "TrainConfig.loss_vocab_block = 1000",
                 "TrainConfig.attention_impl = 'xla'")
    assert json.loads((tmp_path / "model_config.json").read_text())["loss_vocab_block"] == 1000
    # Restored for evaluation, the model takes this machine's kernel, not the run's.
    cfg, _ = restore.restore_model(tmp_path)
    assert (cfg.attention_impl, cfg.loss_vocab_block) == ("auto", 1000)
    records = _records(tmp_path)
    assert records[0]["lr"] == pytest.approx(meta["lr"]) and records[-1]["lr"] < records[0]["lr"]
    counts = {type(s).__name__: int(s.count) for s in jax.tree.leaves(
        out["opt_state"], is_leaf=lambda x: isinstance(x, (optax.ScaleByAdamState, optax.ScaleByScheduleState)))
        if hasattr(s, "count")}
    assert counts == {"ScaleByAdamState": 8 + 4, "ScaleByScheduleState": 4}  # moments carried, schedule restarted
    assert records[0]["loss"] < _losses(source)[0] - 0.2  # it starts from trained weights
    assert restore.read_meta(tmp_path / "checkpoints", 4)["init_from"]["step"] == 8


def test_nan_loss_stops_naming_the_step_and_keeps_the_good_checkpoint(default_data, tmp_path):
    # LR 1e8 (warmup 1 step): finite after step 2, NaN at step 3.
    with pytest.raises(FloatingPointError, match=r"loss is nan .*at step 3; training stopped. "
                                                 r"The last good checkpoint is step 2 in"):
        _train(tmp_path, 10, "TrainConfig.checkpoint_every = 2", "TrainConfig.warmup_steps = 1",
               "TrainConfig.peak_lr = 1e8", "TrainConfig.clip_norm = 1e30")
    assert [int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()] == [2]
    _, model = restore.restore_model(tmp_path)
    from flax import nnx
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(nnx.to_pure_dict(nnx.state(model))))


def test_missing_vocabulary_is_named(default_data, tmp_path):
    missing = tmp_path / "nowhere" / "spm.model"
    proc = _cip_train(tmp_path, "--gin_file=demo.gin", env={"CIP_VOCAB": str(missing)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"vocabulary not found: {missing}" in proc.stderr
