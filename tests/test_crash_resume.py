"""A run killed with SIGKILL and restarted ends bitwise identical to one that never stopped.

The killed run is a real `cip train` process; the reference trains in this process
with the same configuration. One variant is killed before the cooldown and crosses
into it after the restart. Before the restart, a half-written checkpoint is planted
at a later step: it must not be picked over the last complete one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from code_in_pretraining.model import restore
from code_in_pretraining.train import launch

STEP_TOKENS = 128 * 8
COMMON = ["TrainConfig.seq_len = 128", "TrainConfig.global_batch = 8", "TrainConfig.log_every = 1",
          "TrainConfig.checkpoint_every = 3", "TrainConfig.warmup_steps = 3", "TrainConfig.progress = False"]
VARIANTS = {
    "one_mixture": (["TrainConfig.steps = 10"], 10, None),
    "into_cooldown": (["TrainConfig.mixture = ''", "TrainConfig.steps = 0",
                       (f"TrainConfig.phases = (('pretrain', 'demo_balanced', {8 * STEP_TOKENS}, 'cosine'), "
                        f"('cooldown', 'demo_text_only', {4 * STEP_TOKENS}, 'cooldown'))")], 12, 8),
}


def _logged(workdir) -> list[dict]:
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _complete_steps(workdir) -> list[int]:
    return sorted(restore.complete_steps(workdir))


def _start(workdir, bindings):
    cmd = [sys.executable, "-m", "code_in_pretraining.cli", "train", "--gin_file=demo.gin",
           f"--workdir={workdir}", *(f"--gin_bindings={b}" for b in bindings)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


def _kill_after(proc, workdir, step: int, timeout: float = 240) -> int:
    """SIGKILLs `proc` once it has logged `step` and holds a complete checkpoint; returns the last logged step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logged = _logged(workdir)
        if logged and logged[-1]["step"] >= step and _complete_steps(workdir):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return _logged(workdir)[-1]["step"]
        if proc.poll() is not None:
            pytest.fail(f"training exited before step {step}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no step {step} within {timeout} s")


def _plant_half_written_checkpoint(workdir, step: int) -> None:
    """A later step directory without Orbax's commit markers, as an interrupted copy leaves it."""
    root = workdir / "checkpoints"
    donor = root / str(_complete_steps(workdir)[-1])
    shutil.copytree(donor, root / str(step))
    for marker in restore.COMMIT_MARKERS:
        (root / str(step) / marker).unlink()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_sigkill_and_restart_is_bitwise_identical(default_data, tmp_path, variant):
    extra, steps, cooldown_at = VARIANTS[variant]
    bindings = [*COMMON, *extra]
    reference = launch.run(["demo.gin"], bindings, str(tmp_path / "reference"))
    ref_losses = [r["loss"] for r in _logged(tmp_path / "reference")]
    assert len(ref_losses) == steps

    rng = random.Random(f"{variant}-kill")  # a random step after the first checkpoint (step 3)
    kill_at = rng.randint(4, (cooldown_at or steps) - 1)
    workdir = tmp_path / "killed"
    killed_after = _kill_after(_start(workdir, bindings), workdir, kill_at)
    assert killed_after < steps, "the run finished before it could be killed"
    resume_from = _complete_steps(workdir)[-1]
    assert resume_from < (cooldown_at or steps)
    _plant_half_written_checkpoint(workdir, steps - 1)

    proc = _start(workdir, bindings)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert f"resumed from step {resume_from}" in out
    assert (workdir / "checkpoints" / f"{steps - 1}.incomplete").is_dir()  # set aside, not deleted
    if cooldown_at:
        assert f"step {cooldown_at}: phase 1 'cooldown' starts" in out

    logged = _logged(workdir)
    assert [r["step"] for r in logged] == list(range(1, steps + 1))
    assert [r["loss"] for r in logged] == ref_losses  # bitwise: the floats print identically
    _, model = restore.restore_model(workdir)
    jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(model)),
                 jax.device_get(reference["params"]))
    print(f"{variant}: killed after step {killed_after} (aimed at {kill_at}), resumed from {resume_from}")
