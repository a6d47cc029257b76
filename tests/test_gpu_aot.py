"""Compiling for an H100 on this CPU machine (benchmarks/tools/gpu_target.py), through the
second venv that `make gpu-aot` builds (.ci/run builds it): every Pallas kernel goes
through Triton and ptxas for compute capability 9.0 as it would on the card."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
AOT_PYTHON = ROOT / ".venv-aot" / "bin" / "python"

pytestmark = pytest.mark.skipif(not AOT_PYTHON.exists(), reason="no .venv-aot: run `make gpu-aot`")


def _run(*args):
    proc = subprocess.run([str(AOT_PYTHON), *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_attention_kernels_compile_for_h100(tmp_path):
    """Every implementation's default tiles compile at the benchmark's shapes, and so does
    every tuning candidate but one: the fused backward's 128x128 tiles at head_dim 128 need
    258 KiB of shared memory, more than an H100's SM has, which the check must report."""
    out = tmp_path / "compile.json"
    stdout = _run("benchmarks/attention.py", "--target", "h100", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    failed = [(r["what"], tuple(r["shape"]), r["config"]) for r in rows if not r["ok"]]
    assert failed == [("fused", (1, 8, 8192, 128), [128, 128, 8, 2])], stdout[-3000:]
    assert "Shared memory size limit exceeded" in next(r["error"] for r in rows if not r["ok"])
    defaults = [r for r in rows if r["config"] == "default"]
    assert len(defaults) == 3 * 4 and all(r["ok"] and r["launched"] > 0 for r in defaults)


def test_kernels_use_hopper_tensor_cores_fast_exp2_and_relaxed_atomics():
    """On an H100 every attention kernel's dots are wgmma; the score exponentials are
    ex2.approx.ftz (jnp.exp2 gives the non-ftz form, which ptxas wraps in denormal
    handling); and the fused backward adds its dQ shares with relaxed atomics (ptxas makes
    them fire-and-forget REDG). Pallas' own atomic_add is acquire-release: ptxas puts a
    GPU-wide barrier and an L1 invalidation around each 16-byte add (kernels/relaxed_add.py).
    At head_dim 64 and at the 470m model's 128, ptxas keeps every wgmma pipeline
    asynchronous (a branch that yields the scores, e.g. a per-tile lax.switch over masks,
    serializes it) and each score is exponentiated once (a dQ dot that takes dS in the other
    layout made Triton recompute the softmax chain); at 64 nothing spills (at 128 dK/dV
    spills a little between its loops)."""
    facts = json.loads(_run("benchmarks/tools/kernel_ptx.py").strip().splitlines()[-1])
    assert facts["relaxed_available"]
    by_head_dim = facts["kernels"]
    assert sorted(by_head_dim) == ["128", "64"], by_head_dim
    for head_dim, kernels in by_head_dim.items():
        assert set(kernels) == {"cip_flash_fwd", "cip_flash_bwd_dq", "cip_flash_bwd_dkv", "cip_flash_bwd_fused"}
        assert all(k["wgmma"] > 0 and k["mma_sync"] == 0 for k in kernels.values()), kernels
        assert not any(k["wgmma_serialized"] for k in kernels.values()), kernels
        assert all(k["ex2_ftz"] > 0 and k["ex2"] == 0 for k in kernels.values()), kernels
        assert all(1 <= k["ex2_per_score"] < 1.1 for k in kernels.values()), kernels
        assert head_dim != "64" or not any(k["spill_stores"] for k in kernels.values()), kernels
        atomics = kernels.pop("cip_flash_bwd_fused")["atomics"]
        assert atomics and all(".relaxed.add." in op for op in atomics), atomics
        assert not any(k["atomics"] for k in kernels.values()), kernels


def test_train_step_compiles_for_h100(tmp_path):
    """The train step with Pallas attention, whole and blockwise loss, the peer's cuDNN
    attention, and deterministic kernels: each compiles for the card, reports its GPU scratch
    memory, and comes with a modelled breakdown in which the attention kernels count. No row
    adds with atomics (the embedding gradient writes each row once, model/embed.py), so XLA's
    deterministic mode has no scatter to turn into a sort and costs nothing here."""
    out = tmp_path / "step.json"
    stdout = _run("benchmarks/train_step.py", "--target", "h100", "--preset", "tiny", "--configs", "256x2",
                  "--loss", "f32,blockwise,peer,det", "--vocab-block", "3000", "--out", str(out))
    result = json.loads(out.read_text())
    assert result["device"].startswith("NVIDIA H100")
    rows = {r["loss"]: r for r in result["rows"]}
    assert set(rows) == {"f32", "blockwise", "peer", "det"}, stdout[-3000:]
    assert all(row["atomic_scatters"] == 0 for row in rows.values())
    total = {k: sum(rows[k]["roofline"]["ms_per_step"].values()) for k in ("f32", "det")}
    assert total["det"] == pytest.approx(total["f32"], rel=0.02)
    assert rows["f32"]["attention"] == "pallas_gpu" and rows["peer"]["attention"] == "cudnn"
    for row in rows.values():
        assert row["temp_gib"] > 0
        model = row["roofline"]["ms_per_step"]
        assert all(model[c] > 0 for c in ("matmuls", "attention", "loss", "optimizer")), (row["loss"], model)
    assert stdout.count("Modelled device time per step") == 4


def test_tiny_step_compiles_for_eight_h100s_data_parallel():
    """The step with pallas_gpu on eight described H100s of one host, data parallel: the kernel runs
    per shard (shard_map) and compiles through Triton."""
    r = json.loads(_run("tests/helpers/aot_step_check.py", "gpu").strip().splitlines()[-1])
    assert r["devices"] == 8 and r["mesh"] == {"data": 8, "fsdp": 1, "tensor": 1}, r
    assert r["attention"] == "pallas_gpu" and r["triton_calls"] > 0, r
