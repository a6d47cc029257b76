"""Run with .venv-aot's python: the PTX that the Pallas attention kernels compile to for an H100.

Compiles the forward, the dQ and dK/dV kernels and the fused backward (default tiles, with
segments, at head_dim 64 and at the 470m model's 128) through XLA's deviceless GPU path
(benchmarks/tools/gpu_target.py) with the PTX dumped, and prints one JSON object: per head_dim and
kernel, its tensor-core instructions (Hopper's wgmma or Ampere's mma.sync), its exponentials
(with or without flushing subnormals, and per score), its global atomics by kind, semantics
and width, and what the plugin's ptxas (sm_90a) reports: registers, spill stores, and
whether it had to serialize the wgmma pipeline. tests/test_gpu_aot.py reads it. XLA_FLAGS
must be set before jax starts.

    .venv-aot/bin/python benchmarks/tools/kernel_ptx.py [DIR]   # DIR: keep XLA's dump (PTX) there
"""

import collections
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
KEEP = len(sys.argv) > 1
DUMP = pathlib.Path(sys.argv[1] if KEEP else tempfile.mkdtemp(prefix="kernel_ptx_"))
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={DUMP}").strip()
sys.path.insert(0, str(ROOT))

from benchmarks.tools import gpu_target  # noqa: E402

gpu_target.prepare_environment()

import dataclasses  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from code_in_pretraining.kernels import pallas_gpu, relaxed_add  # noqa: E402

B, L, H = 1, 2048, 4
HEAD_DIMS = (64, 128)
ENTRY = re.compile(r"\.entry\s+(cip_\w+)\(")
ATOMIC = re.compile(r"\b((?:atom|red)\.global\.[\w.]+)")
# ptxas' notice when something other than a wgmma writes a wgmma accumulator inside the
# pipeline (e.g. a branch that yields the scores): it then waits for each wgmma to finish.
SERIALIZED = "wgmma.mma_async instructions are serialized"


def compile_kernels(D: int) -> dict[str, float]:
    """Compiles the four kernels at head_dim D; gives each kernel's scores per thread per tile."""
    rep = gpu_target.replicated("h100")
    x = jax.ShapeDtypeStruct((B, L, H, D), jnp.bfloat16, sharding=rep)
    seg = jax.ShapeDtypeStruct((B, L), jnp.int32, sharding=rep)
    rows = jax.ShapeDtypeStruct((B, H, L), jnp.float32, sharding=rep)
    blocks = pallas_gpu.BlockSizes.for_head_dim(D).clamp(L)
    cfg = pallas_gpu._Config(causal=True, sm_scale=D**-0.5, has_segments=True, blocks=blocks, interpret=False)
    fused = dataclasses.replace(cfg, blocks=pallas_gpu.BlockSizes.for_head_dim(D, fused_bwd=True).clamp(L))
    calls = {
        "cip_flash_fwd": (pallas_gpu._fwd_call, cfg, "fwd", (x, x, x, seg)),
        "cip_flash_bwd_dq": (pallas_gpu._dq_call, cfg, "dq", (x, x, x, seg, x, rows, x)),
        "cip_flash_bwd_dkv": (pallas_gpu._dkv_call, cfg, "dkv", (x, x, x, seg, x, rows, rows)),
        "cip_flash_bwd_fused": (pallas_gpu._dkv_call, fused, "dkv", (x, x, x, seg, x, rows, rows)),
    }
    scores_per_thread = {}
    for name, (fn, c, kind, args) in calls.items():
        jax.jit(functools.partial(fn, cfg=c)).trace(*args).lower(lowering_platforms=("cuda",)).compile()
        bq, bk, warps, _ = c.blocks.kernel(kind, D)
        scores_per_thread[name] = bq * bk / (32 * warps)
    return scores_per_thread


def ptxas_facts(path: pathlib.Path) -> dict:
    """Registers, spill stores and wgmma serialization of one kernel, from `ptxas -v`."""
    nvcc = importlib.util.find_spec("nvidia.cuda_nvcc").submodule_search_locations[0]
    report = subprocess.run([os.path.join(nvcc, "bin", "ptxas"), "-arch=sm_90a", "-v", "-o", os.devnull, str(path)],
                            capture_output=True, text=True, check=True).stderr
    return {
        "registers": int(re.search(r"Used (\d+) registers", report).group(1)),
        "spill_stores": int(re.search(r"(\d+) bytes spill stores", report).group(1)),
        "wgmma_serialized": SERIALIZED in report,
    }


def ptx_facts(paths, scores_per_thread: dict[str, float]) -> dict:
    """ex2_per_score: exponentials in the PTX per score a thread holds in one tile, over the
    kernel's four loops (1, or a little more in the forward for its rescaling factors)."""
    facts = {}
    loops = pallas_gpu._N_BOUNDS - 1
    for path in paths:
        text = path.read_text()
        entry = ENTRY.search(text)
        if entry:
            facts[entry.group(1)] = {
                "wgmma": text.count("wgmma.mma_async"),
                "mma_sync": text.count("mma.sync"),
                "ex2_ftz": text.count("ex2.approx.ftz.f32"),
                "ex2": text.count("ex2.approx.f32"),
                "ex2_per_score": text.count("ex2.approx.ftz.f32") / (loops * scores_per_thread[entry.group(1)]),
                "atomics": dict(collections.Counter(ATOMIC.findall(text))),
                **ptxas_facts(path),
            }
    return facts


if __name__ == "__main__":
    try:
        facts = {}
        for D in HEAD_DIMS:
            scores_per_thread = compile_kernels(D)
            paths = sorted(DUMP.glob("*.ptx"))
            facts[D] = ptx_facts(paths, scores_per_thread)
            (DUMP / f"head_dim_{D}").mkdir()
            for path in paths:  # out of the next head_dim's way
                path.rename(DUMP / f"head_dim_{D}" / path.name)
        print(json.dumps({"relaxed_available": relaxed_add.RELAXED, "kernels": facts}))
    finally:
        if not KEEP:
            shutil.rmtree(DUMP, ignore_errors=True)
