"""Two CPU processes on localhost train together (jax.distributed over gloo) and match one process.

The one-process reference has 2 CPU devices; the two-process run has 1 device per
process, each process reading only its half of the global batch's rows.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from code_in_pretraining.model import restore

BINDINGS = ["TrainConfig.seq_len = 128", "TrainConfig.global_batch = 8", "TrainConfig.steps = 6",
            "TrainConfig.log_every = 1", "TrainConfig.checkpoint_every = 3", "TrainConfig.warmup_steps = 2",
            "TrainConfig.progress = False"]


def _cmd(workdir, *flags):
    return [sys.executable, "-m", "code_in_pretraining.cli", "train", "--gin_file=demo.gin",
            f"--workdir={workdir}", *(f"--gin_bindings={b}" for b in BINDINGS), *flags]


def _env(devices: int) -> dict:
    return {**os.environ, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(workdir):
    return [json.loads(line)["loss"] for line in (workdir / "metrics.jsonl").open()]


def test_two_processes_equal_one(default_data, tmp_path):
    single = subprocess.run(_cmd(tmp_path / "one"), env=_env(2), capture_output=True, text=True, timeout=300,
                            check=False)
    assert single.returncode == 0, single.stderr[-3000:]

    port, workdir = _free_port(), tmp_path / "two"
    procs = [subprocess.Popen(_cmd(workdir, f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                                   f"--process_id={i}"),
                              env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}:\n{out[-3000:]}"
        assert f"process {i} of 2, 1 local / 2 global devices" in out
        assert f"process {i} reads rows [{4 * i}, {4 * i + 4}) of 8" in out

    assert _losses(workdir) == _losses(tmp_path / "one")
    _, two = restore.restore_model(workdir)
    _, one = restore.restore_model(tmp_path / "one")
    from flax import nnx
    jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(two)), nnx.to_pure_dict(nnx.state(one)))
    # The checkpoint holds the loader position of every row, so either run resumes with any process count.
    state = [json.loads((w / "checkpoints" / "6" / "loader" / "metadata").read_text())
             for w in (workdir, tmp_path / "one")]
    assert state[0] == state[1]


def test_two_process_experiment_forks_and_resumes(default_data, tmp_path):
    """`cip experiment` on 2 processes: both train, the first forks the shared phases and writes the files."""
    micro = ["TrainConfig.seq_len = 64", "TrainConfig.global_batch = 4", f"TrainConfig.budget_scale = {1 / (8 * 5**10)!r}",
             "TrainConfig.checkpoint_every = 100", "TrainConfig.progress = False"]
    port = _free_port()
    cmd = [sys.executable, "-m", "code_in_pretraining.cli", "experiment", "--grid=cooldown", "--scale=toy",
           f"--workdir={tmp_path}", "--no-eval", *(f"--gin_bindings={b}" for b in micro),
           f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
    procs = [subprocess.Popen([*cmd, f"--process_id={i}"], env=_env(1), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outs = [p.communicate(timeout=400)[0] for p in procs]
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}:\n{out[-3000:]}"
    assert "cooldown_no_code: forks from cooldown_with_code at step 20" in outs[0]
    assert "forks from" not in outs[1]
    for variant in ("cooldown_with_code", "cooldown_no_code"):
        assert restore.locate(tmp_path / variant / "train")[1] == 22
