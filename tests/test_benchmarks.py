"""The benchmarks run end to end in their small modes (attention through gpu_check.sh); the
profile breakdown reads CPU traces and GPU-shaped traces."""

from __future__ import annotations

import gzip
import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tools import profile_breakdown  # noqa: E402


def _run(*args):
    return subprocess.run([sys.executable, *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _breakdown_tables(stdout: str) -> list[dict[str, float]]:
    """{category: share in %} of each breakdown table the benchmark printed."""
    tables = []
    for block in stdout.split("Device time per step")[1:]:
        rows = re.findall(r"^\| ([a-z]+) \(.*\) \| ([\d.]+) \| ([\d.]+)% \|$", block, re.MULTILINE)
        tables.append({cat: float(share) for cat, _, share in rows})
    return tables


def test_train_step_benchmark_smoke(tmp_path):
    """Timing rows for float32 and bfloat16 logits, the blockwise loss and the peer's shortcuts,
    then a CPU trace per row broken down into every category; exit status 1 (and no table) where
    the trace could not be parsed."""
    proc = _run("benchmarks/train_step.py", "--smoke", "--loss", "f32,bf16,blockwise,peer",
                "--profile", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for label in ("128 x 2", "128 x 2, bf16 logits", "128 x 2, blockwise loss (3000)",
                  "128 x 2, peer shortcuts: xla without document masks, bf16 logits"):
        assert f"| {label} |" in proc.stdout, proc.stdout
    assert "profile failed" not in proc.stdout
    tables = _breakdown_tables(proc.stdout)
    assert len(tables) == 4, proc.stdout
    for shares in tables:
        assert list(shares) == list(profile_breakdown.CATEGORIES), proc.stdout
        assert sum(shares.values()) == pytest.approx(100.0, abs=0.5), proc.stdout
        # The tiny preset's 8k-vocabulary logits and its matmuls take real time.
        assert shares["loss"] > 0 and shares["matmuls"] > 0 and shares["optimizer"] > 0, proc.stdout
    assert "not found in the HLO" not in proc.stdout  # every traced op mapped to the compiled HLO
    assert list(tmp_path.glob("128x2/plugins/profile/*/*.trace.json.gz"))
    assert (tmp_path / "128x2-bf16" / "train_step.hlo.txt").exists()


def test_gpu_check_script_runs_every_part(tmp_path):
    """benchmarks/gpu_check.sh, which a device call runs whole, in its CPU mode: every part
    leaves its JSON and its table, and the profiles leave their breakdowns but not the traces.
    Its attention part is attention.py --smoke (interpret mode; no cuDNN on a CPU). It runs
    without the packages the GPU machine lacks (benchmarks/tools/card_site), as it would there."""
    import os

    env = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "OUT": str(tmp_path), "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(ROOT / "benchmarks" / "tools" / "card_site")}
    absent = subprocess.run([sys.executable, "-c", "import gin"], env=env, capture_output=True, text=True)
    assert "not installed on the GPU machine" in absent.stderr, absent.stderr
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for part in ("train_step_2048", "attention", "train_step_8192", "train_step_fused", "train_step_det"):
        assert json.loads((tmp_path / f"{part}.json").read_text())["rows"], part
    # On a CPU both modes of the train step repeat their bits in a fresh process.
    determinism = json.loads((tmp_path / "determinism.json").read_text())["rows"]
    assert [(r["mode"], r["losses_equal"], r["params_equal"]) for r in determinism] == [
        ("default kernels", True, True), ("deterministic", True, True)]
    assert len({r["runs"][0]["losses"][-1] for r in determinism}) == 1  # the options change nothing here
    assert len(_breakdown_tables((tmp_path / "train_step_2048.log").read_text())) == 4
    attention = (tmp_path / "attention.log").read_text()
    for text in ("| impl | B | H | L | D |", "| pallas_gpu |", "| pallas_gpu_fused |", "skipping cudnn"):
        assert text in attention, attention[-2000:]
    packed = json.loads((tmp_path / "attention.json").read_text())["packed"]
    runs = packed["mask_runs"]
    assert set(runs) == {"fwd", "dq", "dkv"} and all(sum(r.values()) > 0 for r in runs.values()), runs
    kernel_ms = packed["kernel_ms"]
    assert all(set(t) == {"fwd", "dq", "dkv"} and min(t.values()) > 0 for t in kernel_ms.values()), kernel_ms
    goals = (tmp_path / "goals.md").read_text()
    for text in ("| pallas_gpu | (1, 2, 64, 16) |", "| train_step_2048 | 128 x 2 | f32 |", "- deterministic: losses equal True"):
        assert text in goals, goals


def test_gpu_goals_marks_each_figure(tmp_path):
    """gpu_goals.py compares like with like (same shape, same L x B) and marks each goal."""
    from benchmarks.tools import gpu_goals

    att = {"device": "NVIDIA H100 80GB HBM3", "rows": [
        {"impl": impl, "B": 2, "H": 16, "L": 8192, "D": 64, "fwd_ms": 1.0, "fwdbwd_ms": ms}
        for impl, ms in (("pallas_gpu", 2.8), ("pallas_gpu_fused", 2.4), ("cudnn", 2.4))]
        + [{"impl": "pallas_gpu", "B": 1, "H": 8, "L": 8192, "D": 128, "error": "oom"}],
        "packed": {"unpacked_fwdbwd_ms": 3.3, "packed_fwdbwd_ms": 1.0,
                   "kernel_ms": {"packed": {"fwd": 0.4, "dq": 0.25, "dkv": 0.5},
                                 "unpacked": {"fwd": 1.0, "dq": 1.0, "dkv": 1.5}}}}
    step = {"device": "NVIDIA H100 80GB HBM3", "rows": [
        {"seq_len": 2048, "batch": 4, "loss": loss, "attention": "pallas_gpu", "tokens_per_s": tok}
        for loss, tok in (("f32", 170_000), ("peer", 140_000))]}
    (tmp_path / "attention.json").write_text(json.dumps(att))
    (tmp_path / "train_step_2048.json").write_text(json.dumps(step))
    report = gpu_goals.report(tmp_path)
    assert "Device: NVIDIA H100 80GB HBM3\n" in report
    assert "| pallas_gpu | (2, 16, 8192, 64) | 2.800 | 2.400 | 0.86 misses (>= 0.9) |" in report
    assert "| pallas_gpu_fused | (2, 16, 8192, 64) | 2.400 | 2.400 | 1.00 meets (>= 0.9) |" in report
    assert "| pallas_gpu | 3.300 | 1.000 | 3.30 meets (>= 3) |" in report
    assert "| pallas_gpu_fused |  |  | not measured |" in report
    assert "| dq | 1.000 | 0.250 | 4.00 |" in report and "| dkv | 1.500 | 0.500 | 3.00 |" in report
    assert "| 170,000 | 1.32 meets (>= 1.25) | 1.21 misses (>= 1.25) |" in report
    assert "- not measured" in report  # no determinism.json
    assert not list(tmp_path.glob("prof/*/plugins"))


def test_data_pipeline_benchmark_smoke(default_data, tmp_path):
    out = tmp_path / "dp.json"
    proc = _run("benchmarks/data_pipeline.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ours (grain, token mixing)" in proc.stdout and out.exists()


HLO = """HloModule jit_step, is_scheduled=true

%fused_computation (param_0: f32[8,16]) -> f32[8,16] {
  %param_0 = f32[8,16]{1,0} parameter(0)
  ROOT %multiply.1 = f32[8,16]{1,0} multiply(%param_0, %param_0), metadata={op_name="jit(step)/optimizer/mul"}
}

%fused_computation.1 (param_0.1: f32[8,16], param_1.1: f32[16,32]) -> f32[8,32] {
  %param_0.1 = f32[8,16]{1,0} parameter(0)
  %param_1.1 = f32[16,32]{1,0} parameter(1)
  %convert.1 = f32[8,16]{1,0} convert(%param_0.1), metadata={op_name="jit(step)/jvp(jit(_take))/convert"}
  ROOT %dot.1 = f32[8,32]{1,0} dot(%convert.1, %param_1.1), lhs_contracting_dims={1}, rhs_contracting_dims={0}, \
metadata={op_name="jit(step)/transpose(jvp(jvp()))/checkpoint/attn/bld,dhk->blhk/dot_general"}
}

ENTRY %main.1 (p0: f32[8,16], p1: f32[16,32]) -> (f32[8,32], f32[8,32]) {
  %p0 = f32[8,16]{1,0} parameter(0)
  %p1 = f32[16,32]{1,0} parameter(1)
  %loop_multiply_fusion = f32[8,16]{1,0} fusion(%p0), kind=kLoop, calls=%fused_computation
  %gemm_fusion = f32[8,32]{1,0} fusion(%loop_multiply_fusion, %p1), kind=kCustom, calls=%fused_computation.1
  %custom-call.3 = (f32[8,32]{1,0}, s8[0]{0}) custom-call(%loop_multiply_fusion, %p1), \
custom_call_target="__cublas$gemm", metadata={op_name="jit(step)/transpose(jvp(logits))/bld,vd->blv/dot_general"}
  %get-tuple-element.1 = f32[8,32]{1,0} get-tuple-element(%custom-call.3), index=0
  ROOT %tuple.1 = (f32[8,32]{1,0}, f32[8,32]{1,0}) tuple(%gemm_fusion, %get-tuple-element.1)
}
"""  # a backslash at a line's end joins it with the next


def _write_trace(path, events, procs, threads):
    meta = [{"ph": "M", "pid": pid, "name": "process_name", "args": {"name": n}} for pid, n in procs.items()]
    meta += [{"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": n}}
             for (pid, tid), n in threads.items()]
    with gzip.open(path, "wt") as f:
        json.dump({"displayTimeUnit": "ns", "metadata": {}, "traceEvents": meta + events}, f)


def _op(pid, tid, ts, dur, hlo_op, module="jit_step", **args):
    return {"ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur, "name": hlo_op,
            "args": {"hlo_op": hlo_op, "hlo_module": module, **args}}


def test_scope_category():
    cat = profile_breakdown.scope_category
    assert cat("jit(step)/transpose(jvp(loss))/mul") == "loss"
    assert cat("jit(step)/jvp(logits)/bld,vd->blv/dot_general") == "loss"
    assert cat("jit(step)/transpose(jvp(jvp()))/checkpoint/rematted_computation/attn/attn_core/exp") == "attention"
    assert cat("jit(step)/jvp(mlp)/jit(silu)/mul") == "matmuls"
    assert cat("jit(step)/optimizer/sqrt") == "optimizer"
    assert cat("params['blocks'][0]['attn']['q_DxHxDh']") == "other"  # a parameter, not the scope
    assert cat("jit(step)/jvp(jit(_take))/gather") == "other"
    assert cat("jit(step)/mul;jit(step)/optimizer/add") == "optimizer"  # merged ops


def test_breakdown_gpu_trace_counts_device_streams_once(tmp_path):
    """Device kernels on "Stream" threads count; host launches, derived lines and other
    modules do not; an op missing from the HLO falls back on its `name` arg."""
    trace = tmp_path / "gpu.trace.json.gz"
    events = [
        _op(1, 7, 0, 1000, "loop_multiply_fusion"),
        _op(1, 7, 1000, 2000, "gemm_fusion"),
        _op(1, 8, 1500, 3000, "custom-call.3"),  # a second stream, overlapping: both count
        _op(1, 7, 5000, 500, "fusion.99", name="attn/attn_core/exp"),
        _op(1, 7, 6000, 700, "fusion.1", module="jit_other"),
        _op(1, 9, 0, 9999, "gemm_fusion"),  # a derived "XLA Ops" line repeats the kernels
        _op(2, 1, 0, 9999, "gemm_fusion"),  # the host thread that launched it
    ]
    _write_trace(trace, events, {1: "/device:GPU:0", 2: "/host:CPU"},
                 {(1, 7): "Stream #7(Kernel)", (1, 8): "Stream #8(Kernel)", (1, 9): "XLA Ops", (2, 1): "python"})
    b = profile_breakdown.breakdown(trace, HLO, steps=2)
    assert b.source == "device streams" and b.events == 4
    assert b.ms_per_step == pytest.approx(
        {"matmuls": 1.0, "attention": 0.25, "loss": 1.5, "optimizer": 0.5, "other": 0.0})
    assert b.unmapped_ms == pytest.approx(0.25)
    assert b.span_ms == pytest.approx(2.75)
    assert b.top_ops[0] == ("custom-call.3", "loss", pytest.approx(1.5))
    assert "| total device busy | 3.25 | 100.0% |" in b.markdown()


def test_breakdown_cpu_trace_nested_events_count_self_time(tmp_path):
    trace = tmp_path / "cpu.trace.json.gz"
    events = [_op(1, 3, 0, 100, "custom-call.3"), _op(1, 3, 10, 60, "gemm_fusion"),
              _op(1, 3, 20, 10, "loop_multiply_fusion"), _op(1, 3, 200, 50, "gemm_fusion"),
              {"ph": "X", "pid": 1, "tid": 3, "ts": 0, "dur": 500, "name": "ThunkExecutor", "args": {}}]
    _write_trace(trace, events, {1: "/host:CPU"}, {(1, 3): "tf_XLAPjRtCpuClient/1"})
    b = profile_breakdown.breakdown(trace, HLO, steps=1)
    assert b.source.startswith("host")
    assert b.ms_per_step == pytest.approx(
        {"matmuls": 0.1, "attention": 0.0, "loss": 0.04, "optimizer": 0.01, "other": 0.0})


def test_breakdown_fails_without_module_events(tmp_path):
    trace = tmp_path / "x.trace.json.gz"
    _write_trace(trace, [_op(1, 3, 0, 100, "fusion.1", module="jit_other")], {1: "/host:CPU"}, {})
    with pytest.raises(profile_breakdown.TraceParseError, match="jit_other"):
        profile_breakdown.breakdown(trace, HLO, steps=1)


SLICED = """HloModule jit_step, is_scheduled=true

%fused_rope (param_0: bf16[8,48], param_1: bf16[8,48]) -> bf16[8,16] {
  %param_0 = bf16[8,48]{1,0} parameter(0)
  %slice.1 = bf16[8,16]{1,0} slice(%param_0), slice={[0:8], [16:32]}
  %param_1 = bf16[8,48]{1,0} parameter(1)
  %slice.2 = bf16[8,16]{1,0} slice(%param_1), slice={[0:8], [0:16]}
  %reduce_input = bf16[8,48]{1,0} negate(%param_1)
  %slice.3 = bf16[8,16]{1,0} slice(%reduce_input), slice={[0:8], [32:48]}
  %add.1 = bf16[8,16]{1,0} add(%slice.1, %slice.2)
  ROOT %add.2 = bf16[8,16]{1,0} add(%add.1, %slice.3), metadata={op_name="jit(step)/jvp(attn)/attn_core/add"}
}

ENTRY %main.1 (p0: bf16[8,48], p1: bf16[8,48]) -> bf16[8,16] {
  %p0 = bf16[8,48]{1,0} parameter(0)
  %p1 = bf16[8,48]{1,0} parameter(1)
  ROOT %loop_add_fusion = bf16[8,16]{1,0} fusion(%p0, %p1), kind=kLoop, calls=%fused_rope
}
"""


def test_roofline_reads_only_the_slice_of_a_sliced_operand():
    """A fusion operand used only through slices (q out of a fused q/k/v projection) is read
    a slice at a time; one that is also used whole is read whole."""
    model = profile_breakdown.roofline(SLICED, bf16_flops=1.0, f32_flops=1.0, bandwidth=1e3)
    read_sliced, read_whole, written = 8 * 16 * 2, 8 * 48 * 2, 8 * 16 * 2
    assert model.ms_per_step["attention"] == pytest.approx(read_sliced + read_whole + written)


@pytest.mark.parametrize("vocab_block", [0, 3000])
def test_roofline_counts_every_matmul_flop(vocab_block):
    """profile_breakdown.roofline on the compiled tiny train step: with unit FLOP rates and
    unlimited bandwidth its milliseconds are FLOPs, which must be the step's matmul FLOPs by
    category: 6 per token and weight for the dense layers, the attention scores' QK^T and PV,
    and the logits: whole (3 matmuls) or a vocabulary block at a time in a 3-trip loop
    (4 matmuls over the vocabulary padded to 3 x 3000)."""
    from benchmarks import train_step
    from code_in_pretraining.model.config import get_preset

    cfg = get_preset("tiny", attention_impl="xla", loss_vocab_block=vocab_block)
    B, L = 2, 128
    step, params, opt_state, data = train_step._setup(cfg, B, L, 32, abstract=True)
    hlo = step.lower(params, opt_state, data, 0).compile().as_text()
    model = profile_breakdown.roofline(hlo, bf16_flops=1e3, f32_flops=1e3, bandwidth=float("inf"))
    N, D, H, Dh, F = B * L, cfg.d_model, cfg.n_heads, cfg.head_dim, cfg.mlp_dim
    dense = cfg.n_layers * (D * (2 * H + 2 * cfg.n_kv_heads) * Dh + 3 * D * F)
    vocab, passes = (cfg.vocab_size, 3) if not vocab_block else (3 * vocab_block, 4)
    assert model.modelled and model.ms_per_step["matmuls"] == pytest.approx(6 * N * dense, rel=1e-9)
    assert model.ms_per_step["loss"] == pytest.approx(passes * 2 * N * vocab * D, rel=1e-9)
    scores = 2 * 2 * B * H * L * L * Dh  # QK^T and PV, the whole square (xla attention)
    assert model.ms_per_step["attention"] == pytest.approx(3 * scores * cfg.n_layers, rel=1e-9)
    assert model.ms_per_step["optimizer"] == 0 and model.ms_per_step["other"] == 0
