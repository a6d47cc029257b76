"""The Pallas attention kernels inside the model run per shard (model/sharded_attention.py):
on 8 simulated CPU devices, in interpret mode, the training loss and gradients equal the xla
reference's on the same mesh. Runs tests/helpers/sharded_kernels_check.py in a subprocess,
since the device count must be set before jax is imported."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def results():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "helpers", "sharded_kernels_check.py")],
                          cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mesh,kernel", [("8,1,1", "pallas_tpu"), ("2,4,1", "pallas_tpu"), ("2,2,2", "pallas_tpu"),
                                         ("2,2,2", "pallas_gpu")])
def test_per_shard_kernel_step_equals_xla(results, mesh, kernel):
    row = results["meshes"][mesh][kernel]
    assert row["shard_map"], row
    assert row["loss_abs_diff"] <= 1e-6, row
    assert row["grad_max_abs_diff"] <= 1e-6, row


def test_heads_that_do_not_split_over_tensor_are_named(results):
    msg = results["heads_error"]
    assert msg and "tensor axis (4 devices)" in msg and "n_kv_heads=2" in msg, msg


def test_auto_follows_the_mesh_platform():
    """'auto' picks the kernel of the mesh's devices (a TPU mesh compiled on a CPU machine gets
    the TPU kernel), not of the process's default backend."""
    from code_in_pretraining.kernels import dispatch

    assert dispatch.by_platform("auto", "tpu") == "pallas_tpu"
    assert dispatch.by_platform("auto", "gpu") == "pallas_gpu"
    assert dispatch.by_platform("auto", "cpu") == "xla"
    assert dispatch.by_platform("auto") == "xla"  # this CPU process, no mesh
    assert dispatch.by_platform("pallas_tpu", "cpu") == "pallas_tpu"
