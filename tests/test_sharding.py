"""Sharding: rule resolution, mesh errors, and sharded == single-device on 8 CPU devices.

The 8-device check runs in a subprocess (tests/helpers/sharding_check.py) because
--xla_force_host_platform_device_count must be set before jax is imported, and
other tests in this pytest process import jax first.
"""

import json
import os
import subprocess
import sys

import pytest
from jax.sharding import PartitionSpec as P

from code_in_pretraining.parallel import mesh as mesh_lib
from code_in_pretraining.parallel.rules import logical_to_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESHES = ["8,1,1", "2,4,1", "2,2,2", "1,2,4"]
SIZES = {"data": 2, "fsdp": 2, "tensor": 4}


@pytest.fixture(scope="module")
def sharded_results():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "helpers", "sharding_check.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mesh", MESHES)
def test_sharded_loss_and_grads_match_single_device(sharded_results, mesh):
    r = sharded_results["meshes"][mesh]
    assert r["tokens"] > 0
    assert r["loss_abs_diff"] <= 1e-5, r
    assert r["grad_max_abs_diff"] <= 1e-5, r
    # The blockwise loss (ragged vocabulary blocks of a vocab-sharded table) gives the same.
    assert r["blockwise_loss_abs_diff"] <= 1e-5, r
    assert r["blockwise_grad_max_abs_diff"] <= 1e-5, r
    assert r["table_all_gathers"] <= 2, r
    assert r["table_gather_dtypes"] in ([], ["bf16"]), r  # the table is cast before it moves


def test_params_follow_rule_table(sharded_results):
    m = sharded_results["meshes"]
    # mlp kernel [D=64, F=128]: embed -> fsdp, mlp -> tensor.
    assert m["2,2,2"]["gate_param_spec"] == "P('fsdp', 'tensor')"
    assert m["2,2,2"]["gate_shard_shape"] == [32, 64]
    assert m["1,2,4"]["gate_shard_shape"] == [32, 32]
    assert m["8,1,1"]["gate_shard_shape"] == [64, 128]  # pure data parallel: replicated
    assert m["2,2,2"]["gate_grad_spec"] == m["2,2,2"]["gate_param_spec"]  # grads like params
    # 2 kv heads cannot split over tensor=4: that axis is dropped, not an error.
    assert m["2,2,2"]["k_param_spec"] == "P('fsdp', 'tensor', None)"
    assert m["1,2,4"]["k_param_spec"] == "P('fsdp', None, None)"
    assert m["2,2,2"]["embedding_spec"] == "P('tensor', 'fsdp')"


def test_sharded_init_matches_host_init(sharded_results):
    # jit-compiled vs eager init: same RNG streams, float rounding only.
    assert sharded_results["init_sharded_max_abs_diff"] <= 1e-7


def test_logical_to_spec_rules():
    assert logical_to_spec(("embed", "mlp"), (64, 128), SIZES) == P("fsdp", "tensor")
    assert logical_to_spec(("act_batch", "act_length", "act_embed"), (8, 16, 64), SIZES) == P(
        ("data", "fsdp"), None, None
    )
    # batch 2 is divisible by data=2 but not by data*fsdp=4: keep data only.
    assert logical_to_spec(("act_batch",), (2,), SIZES) == P("data")
    # a mesh axis is used once per array
    assert logical_to_spec(("embed", "embed"), (64, 64), SIZES) == P("fsdp", None)
    assert logical_to_spec(("kv_heads",), (2,), SIZES) == P(None)
    with pytest.raises(KeyError, match="no rule"):
        logical_to_spec(("nonsense",), (2,), SIZES)


def test_mesh_shape_errors():
    assert mesh_lib.resolve_shape((-1, 2, 1), 8) == (4, 2, 1)
    with pytest.raises(ValueError, match="needs 16 devices but 8"):
        mesh_lib.resolve_shape((4, 4, 1), 8)
    with pytest.raises(ValueError, match="at most one -1"):
        mesh_lib.resolve_shape((-1, -1, 1), 8)
    with pytest.raises(ValueError, match="do not divide"):
        mesh_lib.resolve_shape((-1, 3, 1), 8)
    with pytest.raises(ValueError, match="needs 2 devices"):
        mesh_lib.make_mesh((2, 1, 1), devices=mesh_lib.jax.devices()[:1])
    assert mesh_lib.parse_mesh("2,4,1") == (2, 4, 1)
    with pytest.raises(ValueError, match="expected 3 sizes"):
        mesh_lib.parse_mesh("2,4")
