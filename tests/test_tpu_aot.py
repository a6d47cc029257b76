"""Compiling the train step for TPU slices on this CPU machine, through the venv that
`make tpu-aot` builds (.ci/run builds it): libtpu's XLA compiler, Mosaic for the Pallas kernels.
The slice names, the collective counting and the fit rule are checked without it."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

from code_in_pretraining.parallel import collectives, topology
from code_in_pretraining.train.config import TrainConfig, effective_microbatches

ROOT = pathlib.Path(__file__).resolve().parents[1]
TPU_PYTHON = ROOT / ".venv-tpu-aot" / "bin" / "python"
needs_libtpu = pytest.mark.skipif(not TPU_PYTHON.exists(), reason="no .venv-tpu-aot: run `make tpu-aot`")
PAPER_470M = ["--gin-file=models/470m.gin", "--gin-file=runtime/tpu_v5e.gin", "--gin-file=recipes/balanced_to_text.gin"]


def _run(*args, timeout=1800):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.run([str(TPU_PYTHON), *args], cwd=ROOT, check=False, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_slice_names_count_chips_or_cores_by_generation():
    assert topology.parse("v5e-256").topology == "v5e:16x16"
    assert topology.parse("v5e-128").topology == "v5e:8x16"
    assert topology.parse("v5p-128").topology == "v5p:4x4x4"  # 128 TensorCores, 64 chips
    assert topology.parse("v4-64").num_devices == 64  # 32 chips; libtpu lists each chip's two cores
    assert topology.parse("v5e:16x16").num_devices == 256
    with pytest.raises(ValueError, match="v5e-256"):
        topology.parse("tpu-256")
    with pytest.raises(ValueError, match="power-of-two"):
        topology.parse("v5e-96")


def test_collectives_counted_per_loop_iteration():
    """A collective inside a while loop runs once per iteration (XLA's known trip count); mesh-style
    replica groups give the group size that sets the bytes each device moves."""
    hlo = """HloModule m

%body (p: (s32[], f32[8])) -> (s32[], f32[8]) {
  %ag = bf16[4,256]{1,0} all-gather(%x), replica_groups=mesh['axis_0'=1,'axis_1'=4] {'axis_1'}, dimensions={0}
}

ENTRY %main (a: f32[8]) -> f32[8] {
  %w = (s32[], f32[8]) while(%t), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"16"}}
  %rs = f32[64]{0} reduce-scatter(%g), replica_groups=[1,4]<=[4], dimensions={0}
}
"""
    found = collectives.collectives(hlo, 4)
    assert found["all-gather"].count == 16
    assert found["all-gather"].bytes_per_device == 16 * 4 * 256 * 2 * 3 / 4
    assert found["reduce-scatter"].count == 1 and found["reduce-scatter"].bytes_per_device == 64 * 4 * 3


def test_async_collective_split_over_fusions_counts_once():
    """The TPU compiler copies an asynchronous all-gather into each fusion that overlaps it (same
    channel id): one collective. A collective-permute moves its operand, not its context scalars."""
    hlo = """HloModule m

%start (p: bf16[1,8]) -> bf16[4,8] {
  %ag.1 = bf16[4,8]{1,0} all-gather(%p), channel_id=7, replica_groups=[1,4]<=[4], dimensions={0}
}

%overlap (p: bf16[1,8]) -> bf16[4,8] {
  %ag.2 = bf16[4,8]{1,0} all-gather(%p), channel_id=7, replica_groups=[1,4]<=[4], dimensions={0}
}

ENTRY %main (a: bf16[1,8]) -> bf16[4,8] {
  %s = bf16[4,8]{1,0} fusion(%a), kind=kCustom, calls=%start
  %o = bf16[4,8]{1,0} fusion(%a), kind=kLoop, calls=%overlap
  %cp = (bf16[16,8]{1,0}, bf16[16,8]{1,0}, u32[], u32[]) collective-permute-start(%x), channel_id=9, source_target_pairs={{0,1},{1,2},{2,3},{3,0}}
}
"""
    found = collectives.collectives(hlo, 4)
    assert found["all-gather"].count == 1 and found["all-gather"].bytes_per_device == 4 * 8 * 2 * 3 / 4
    assert found["collective-permute"].count == 1 and found["collective-permute"].bytes_per_device == 16 * 8 * 2


def test_max_device_sequences_picks_microbatches():
    cfg = TrainConfig(global_batch=512, max_device_sequences=2)
    assert effective_microbatches(cfg, 256) == 1  # 2 sequences per chip
    assert effective_microbatches(cfg, 64) == 4  # 8 per chip, 2 at a time
    with pytest.raises(ValueError, match="batch shards"):
        effective_microbatches(cfg, 384)


@needs_libtpu
def test_tiny_step_compiles_for_v5e_through_mosaic():
    """The step with pallas_tpu on a 2x2 v5e slice: splash runs per shard and compiles through Mosaic
    (its custom call is in the program), and XLA's argument bytes match the per-chip accounting;
    then the same step over two such slices."""
    proc = _run("tests/helpers/aot_step_check.py", "tpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["devices"] == 4 and r["attention"] == "pallas_tpu"
    assert r["mosaic_calls"] > 0 and r["shard_map"], r
    assert r["argument_bytes"] == pytest.approx(r["own_bytes"], rel=0.10), r
    # Two slices (--num_slices 2): the step compiles over both, data-parallel across them; the
    # gradients are summed over all 8 chips (all-reduces move at least the parameter shard's bytes).
    two = r["two_slices"]
    assert two["devices"] == 8 and two["mesh"] == {"data": 2, "fsdp": 4, "tensor": 1}, two
    assert two["mosaic_calls"] > 0 and two["all_reduce_bytes"] >= two["params_bytes"], two


@needs_libtpu
def test_compile_only_470m_on_v5e_256_fits():
    """The paper's 470M configuration (512 x 8192, the balanced recipe) on a v5e-256: exit 0 and the table."""
    proc = _run("-m", "code_in_pretraining.cli", "train", "--compile-only", "--topology", "v5e-256", *PAPER_470M)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for line in ("parameters", "optimizer state", "temporaries", "total", "all-gather", "FSDP's floor",
                 "estimate, not a timing", "fits:"):
        assert line in proc.stdout, proc.stdout


@needs_libtpu
def test_a_config_that_cannot_fit_says_what_would_reduce_it():
    proc = _run("-m", "code_in_pretraining.cli", "train", "--compile-only", "--topology", "v5e-8",
                "--gin-file=models/2p8b.gin", "--gin-file=runtime/tpu_v5e.gin",
                "--gin-file=recipes/balanced_to_text.gin", "--gin-bindings=TrainConfig.remat = 'none'")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DOES NOT FIT" in proc.stdout and "TrainConfig.remat = 'full'" in proc.stdout, proc.stdout


def test_pod_dry_run_prints_what_each_vm_runs(tmp_path, capsys):
    from code_in_pretraining.cli import main

    assert main(["experiment", "--grid", "paper", "--scale", "470m", "--dry-run", "--workdir", str(tmp_path),
                 "--variants", "balanced_to_text"]) == 0
    out = capsys.readouterr().out
    assert "cip train --distributed" in out and "CIP_VOCAB=" in out and "CIP_DATA_DIR=" in out, out
    assert out.count("cip eval --checkpoint=") == 3, out  # one per phase
    assert "not shared storage" in out, out  # tmp_path is a local disk


def test_model_info_takes_the_tpu_mesh_and_flags_hbm(capsys):
    from code_in_pretraining.cli import main

    assert main(["model-info", "--preset", "2p8b", "--mesh", "1,-1,1", "--topology", "v5e-8"]) == 0
    out = capsys.readouterr().out
    assert "1,8,1" in out and "OVER HBM" in out, out
    assert main(["model-info", "--preset", "470m", "--mesh", "1,-1,1", "--topology", "v5e-256", "--remat", "full",
                 "--loss-vocab-block", "16000"]) == 0
    assert "fits" in capsys.readouterr().out


@needs_libtpu
def test_model_info_compile_prints_the_compiled_figures():
    """`cip model-info --compile` runs `cip train --compile-only`'s code on the preset and flags."""
    proc = _run("-m", "code_in_pretraining.cli", "model-info", "--preset", "tiny", "--topology", "v5e:2x2",
                "--compile", "--seq-len", "256", "--batch", "8", "--remat", "none", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "compiled for v5e:2x2" in proc.stdout and "remat 'none'" in proc.stdout, proc.stdout
    assert "temporaries" in proc.stdout and "fits:" in proc.stdout, proc.stdout


@needs_libtpu
def test_two_slices_join_over_dcn_on_the_data_axis():
    code = ("from code_in_pretraining.parallel import mesh, topology\n"
            "m = mesh.make_multislice_mesh((1, -1, 1), topology.devices(topology.parse('v5e-16'), 2), 2)\n"
            "print(dict(m.shape), sorted({d.slice_index for d in m.devices[1].flat}))")
    proc = _run("-c", code, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "{'data': 2, 'fsdp': 16, 'tensor': 1} [1]", proc.stdout
