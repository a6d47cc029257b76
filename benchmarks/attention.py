"""Attention kernel benchmark: TFLOP/s of forward and forward+backward.

Needs only jax and numpy (of this project: `code_in_pretraining.kernels`, and
`data.packing` for random packings). On a GPU it compares, in bf16:
  pallas_gpu  our Pallas/Triton kernel (segment-aware block skipping)
  pallas_gpu_fused  the same forward, with the one-kernel backward (atomic dQ)
  cudnn       jax.nn.dot_product_attention(implementation="cudnn")
  jax_pallas  JAX's bundled Pallas Triton kernel (pallas.ops.gpu.attention)
  xla         our plain-jnp reference
plus a packed batch (documents of mean length 1024 at L=8192) against the
same kernel's unpacked causal case, and a small correctness check against
xla. FLOPs: forward 4*B*H*L^2*D (halved when causal), backward 2.5x forward.

--tune times each pallas_gpu kernel (forward, dq, dk/dv) alone over a few
tile/warp/stage candidates (reaching into pallas_gpu's internals for the
backward kernels), then times the combination of the per-kernel winners
end to end ("pallas_gpu_tuned") and compares its outputs with cuDNN's.
--deadline stops starting tuning candidates after that many seconds.

  python benchmarks/attention.py --out results.json [--tune] [--deadline 150]
  python benchmarks/attention.py --smoke [--tune]  # CPU, interpret mode
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.tools import profile_breakdown
from benchmarks.tools.packings import random_documents
from code_in_pretraining import kernels
from code_in_pretraining.kernels import pallas_gpu, relaxed_add

SHAPES = [(2, 16, 8192, 64), (1, 8, 8192, 128), (8, 16, 2048, 64)]
SMOKE_SHAPES = [(1, 2, 64, 16)]
PACKED_L, PACKED_MEAN_DOC = 8192, 1024
SMOKE_BLOCKS = pallas_gpu.BlockSizes(
    block_q=32, block_k=32, block_q_dkv=32, block_k_dkv=32, block_q_dq=32, block_k_dq=32
)

# --tune candidates, per kernel: (block_q, block_k, num_warps, num_stages),
# most promising first. For dk/dv, block_q is the streamed query tile and
# block_k the resident key tile (the Triton tutorial's 32x128; ours 64x64).
FWD_CANDIDATES = [(64, 128, 4, 2), (128, 128, 8, 2), (128, 64, 8, 3), (128, 64, 4, 3), (64, 64, 4, 3)]
DQ_CANDIDATES = [(64, 64, 4, 2), (128, 32, 4, 3), (128, 64, 8, 2), (128, 64, 4, 3)]
DKV_CANDIDATES = [(64, 64, 4, 2), (64, 128, 8, 2), (32, 128, 4, 3), (64, 128, 4, 3)]
# The fused backward (dK/dV plus atomic dQ), same tile roles as dk/dv.
FUSED_CANDIDATES = [(64, 128, 8, 2), (32, 128, 8, 2), (64, 64, 4, 2), (128, 128, 8, 2)]
SMOKE_CANDIDATES = [(32, 32, 4, 2)]


def _blocks_from(fwd, dq, dkv) -> pallas_gpu.BlockSizes:
    return pallas_gpu.BlockSizes(
        block_q=fwd[0],
        block_k=fwd[1],
        num_warps=fwd[2],
        num_stages=fwd[3],
        block_q_dq=dq[0],
        block_k_dq=dq[1],
        num_warps_dq=dq[2],
        num_stages_dq=dq[3],
        block_q_dkv=dkv[0],
        block_k_dkv=dkv[1],
        num_warps_bwd=dkv[2],
        num_stages_bwd=dkv[3],
    )


def attention_flops(B, H, L, D, causal=True) -> float:
    return 4.0 * B * H * L * L * D * (0.5 if causal else 1.0)


def make_impl(name: str, *, interpret: bool, blocks=None):
    """Returns f(q, k, v, segment_ids) for one implementation (bf16 in/out)."""
    if name in ("pallas_gpu", "pallas_gpu_fused", "xla", "cudnn"):
        return lambda q, k, v, seg=None: kernels.attention(
            q, k, v, seg, implementation=name, interpret=interpret, block_sizes=blocks)
    if name == "jax_pallas":
        from jax.experimental.pallas.ops.gpu import attention as jax_attn  # pylint: disable=g-import-not-at-top

        def f(q, k, v, seg=None):
            return jax_attn.mha(q, k, v, seg, sm_scale=q.shape[-1] ** -0.5, causal=True)

        return f
    raise ValueError(name)


def time_fn(fn, *args, iters: int, warmup: int = 1) -> float:
    """Median wall seconds of a jitted call, after compile and warm-up."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def make_inputs(B, H, L, D, dtype, seed=0, kv_heads=None):
    ks = jax.random.split(jax.random.key(seed), 4)
    K = kv_heads or H
    q = jax.random.normal(ks[0], (B, L, H, D), dtype)
    k = jax.random.normal(ks[1], (B, L, K, D), dtype)
    v = jax.random.normal(ks[2], (B, L, K, D), dtype)
    do = jax.random.normal(ks[3], (B, L, H, D), dtype)
    return q, k, v, do


def fwd_and_fwdbwd(f):
    fwd = jax.jit(f)

    @jax.jit
    def fwdbwd(q, k, v, seg, do):
        _, vjp = jax.vjp(lambda q, k, v: f(q, k, v, seg), q, k, v)
        return vjp(do)

    return fwd, fwdbwd


def bench_one(name, shape, *, interpret, iters, seg=None, blocks=None, dtype=jnp.bfloat16, outputs=False):
    """Timing row; with outputs=True also (o, dq, dk, dv) of the timed calls."""
    B, H, L, D = shape
    q, k, v, do = make_inputs(B, H, L, D, dtype)
    fwd, fwdbwd = fwd_and_fwdbwd(make_impl(name, interpret=interpret, blocks=blocks))
    flops = attention_flops(B, H, L, D)
    t_f = time_fn(fwd, q, k, v, seg, iters=iters)
    t_fb = time_fn(fwdbwd, q, k, v, seg, do, iters=iters)
    row = {
        "impl": name,
        "B": B,
        "H": H,
        "L": L,
        "D": D,
        "fwd_ms": t_f * 1e3,
        "fwd_tflops": flops / t_f / 1e12,
        "fwdbwd_ms": t_fb * 1e3,
        "fwdbwd_tflops": 3.5 * flops / t_fb / 1e12,
    }
    if outputs:
        return row, (fwd(q, k, v, seg), *fwdbwd(q, k, v, seg, do))
    return row


def _error_row(impl: str, shape, e: Exception) -> dict:
    """A results row for a (B, H, L, D) case that failed: the error instead of timings."""
    return {"impl": impl, **dict(zip("BHLD", shape)), "error": repr(e)[:500]}


def packed_segments(B, L, mean_len, seed=0) -> np.ndarray:
    """Random document lengths (fixed seed), mean ~mean_len, ids 1, 2, ..."""
    return random_documents(B, L, mean_len, seed).segment_ids


def packing_ideal(seg, tile_q: int, tile_k: int) -> dict:
    """Packed/unpacked cost ratios if time followed FLOPs or visited tiles."""
    seg = np.asarray(seg)
    B, L = seg.shape
    pairs = 0
    for b in range(B):
        _, lens = np.unique(seg[b][seg[b] != 0], return_counts=True)
        pairs += int((lens * (lens + 1) // 2).sum())
    cfg = pallas_gpu._Config(  # pylint: disable=protected-access
        causal=True, sm_scale=1.0, has_segments=True, blocks=pallas_gpu.BlockSizes(), interpret=True
    )
    tiles = []
    for s in (jnp.asarray(seg), jnp.ones((B, L), jnp.int32)):
        lo, *_, hi = pallas_gpu._bounds(s, cfg, tile_q, tile_k, key_side=False)  # pylint: disable=protected-access
        tiles.append(int(jnp.sum(hi - lo)))
    return {
        "flop_ratio": pairs / (B * L * (L + 1) / 2),
        "tile_ratio": tiles[0] / tiles[1],
        "tiles": [tile_q, tile_k],
    }


_RUN_NAMES = {"none": (False, False), "causal": (True, False), "segments": (False, True), "both": (True, True)}


def mask_runs(seg, cfg) -> dict:
    """Per kernel (default backward) of config `cfg`, how many tiles each mask takes on
    this packing: {"fwd": {"none": n, "causal": n, "segments": n, "both": n}, "dq": ...,
    "dkv": ...}, summed over rows and row tiles (one head). Weighted by a loop's
    instructions per tile, this is the kernel's work."""
    out = {}
    for name in ("fwd", "dq", "dkv"):
        bq, bk, _, _ = cfg.blocks.kernel(name, 64)  # (head_dim only picks warps)
        key_side = name == "dkv"  # rows are key tiles
        rows, cols = (bk, bq) if key_side else (bq, bk)
        bounds = np.stack([np.asarray(b) for b in pallas_gpu._bounds(  # pylint: disable=protected-access
            jnp.asarray(seg), cfg, rows, cols, key_side=key_side)])
        tiles = np.diff(bounds, axis=0).sum(axis=(1, 2))
        masks = pallas_gpu._KEY_RUNS if key_side else pallas_gpu._QUERY_RUNS  # pylint: disable=protected-access
        out[name] = {run: int(tiles[masks.index(m)]) for run, m in _RUN_NAMES.items()}
    return out


def rel_err(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def correctness(*, interpret: bool, blocks=None):
    """pallas_gpu (both backwards) vs xla, forward and dq/dk/dv, packed batch with GQA."""
    out = []
    B, L, H, K, D = (1, 72, 2, 1, 16) if interpret else (2, 1000, 4, 2, 64)
    seg = packed_segments(B, L, L // 5, seed=1)
    seg[:, -L // 10 :] = 0  # trailing padding
    seg = jnp.asarray(seg)
    for dtype in (jnp.float32,) if interpret else (jnp.float32, jnp.bfloat16):
        q, k, v, do = make_inputs(B, H, L, D, dtype, seed=2, kv_heads=K)
        res = {}
        for label in ("pallas_gpu", "pallas_gpu_fused", "xla"):
            f = make_impl(label, interpret=interpret, blocks=blocks)

            def fwd_bwd(q, k, v, do, f=f):
                o, vjp = jax.vjp(lambda q, k, v: f(q, k, v, seg), q, k, v)
                return (o, *vjp(do))

            res[label] = jax.jit(fwd_bwd)(q, k, v, do)
        for label in ("pallas_gpu", "pallas_gpu_fused"):
            errs = [rel_err(a, b) for a, b in zip(res[label], res["xla"])]
            out.append({"impl": label, "dtype": jnp.dtype(dtype).name, **dict(zip(("o", "dq", "dk", "dv"), errs))})
    return out


def _config(shape, blocks=None, *, segments: bool, interpret: bool):
    """The kernels' static config at (B, H, L, D): causal, scale D^-0.5, `blocks` (default:
    the head-dim defaults) clamped to L."""
    _, _, L, D = shape
    return pallas_gpu._Config(  # pylint: disable=protected-access
        causal=True,
        sm_scale=D**-0.5,
        has_segments=segments,
        blocks=(blocks or pallas_gpu.BlockSizes.for_head_dim(D)).clamp(L),
        interpret=interpret,
    )


def _candidate(kind, shape, c, *, interpret):
    """(default config, config with candidate c for one pallas_gpu kernel) at `shape`."""
    L = shape[2]
    cfg = _config(shape, segments=False, interpret=interpret)
    blocks = {
        "fwd": dict(block_q=c[0], block_k=c[1], num_warps=c[2], num_stages=c[3]),
        "dq": dict(block_q_dq=c[0], block_k_dq=c[1], num_warps_dq=c[2], num_stages_dq=c[3]),
        "dkv": dict(block_q_dkv=c[0], block_k_dkv=c[1], num_warps_bwd=c[2], num_stages_bwd=c[3]),
        "fused": dict(block_q_dkv=c[0], block_k_dkv=c[1], num_warps_bwd=c[2], num_stages_bwd=c[3], fused_bwd=True),
    }[kind]
    return cfg, dataclasses.replace(cfg, blocks=dataclasses.replace(cfg.blocks, **blocks).clamp(L))


@functools.cache
def _jitted(kind, cfg):
    """Kernel `kind` ("fwd", "dq", or "dkv" and "fused": the same call) jitted with config
    `cfg`, once per pair: the forward that makes a backward kernel's inputs is the one timed."""
    # pylint: disable=protected-access
    f = {"fwd": pallas_gpu._fwd_call, "dq": pallas_gpu._dq_call}.get(kind, pallas_gpu._dkv_call)
    return jax.jit(functools.partial(f, cfg=cfg))


def _kernel_call(kind, cand, q, k, v, seg, o, lse, do, delta):
    """(jitted kernel `kind` with config `cand`, its inputs)."""
    args = {"fwd": (q, k, v, seg), "dq": (q, k, v, seg, o, lse, do)}.get(kind, (q, k, v, seg, do, lse, delta))
    return _jitted(kind, cand), args


def _kernel_inputs(shape, seg, cfg) -> tuple:
    """(q, k, v, seg, o, lse, do, delta): what any one kernel reads, o and lse from the forward."""
    B, H, L, D = shape
    q, k, v, do = make_inputs(B, H, L, D, jnp.bfloat16)
    o, lse = _jitted("fwd", cfg)(q, k, v, seg)
    return q, k, v, seg, o, lse, do, pallas_gpu.delta_rows(o, do)


def _time_kernel(kind, shape, c, *, interpret, iters):
    """Milliseconds of one pallas_gpu kernel alone with candidate c."""
    B, _, L, _ = shape
    cfg, cand = _candidate(kind, shape, c, interpret=interpret)
    fn, args = _kernel_call(kind, cand, *_kernel_inputs(shape, jnp.ones((B, L), jnp.int32), cfg))
    return time_fn(fn, *args, iters=iters) * 1e3


def kernel_times(shape, seg, blocks, *, interpret, iters) -> dict:
    """Milliseconds of each pallas_gpu kernel alone, default path: on packed segment ids
    `seg`, or (seg None) one causal sequence per row, as `attention` runs them."""
    B, _, L, _ = shape
    cfg = _config(shape, blocks, segments=seg is not None, interpret=interpret)
    inputs = _kernel_inputs(shape, jnp.ones((B, L), jnp.int32) if seg is None else seg, cfg)
    times = {}
    for kind in ("fwd", "dq", "dkv"):
        fn, args = _kernel_call(kind, cfg, *inputs)
        times[kind] = time_fn(fn, *args, iters=iters) * 1e3
    return times


def compile_check(on_card, shapes) -> list[dict]:
    """Compile, for a described GPU without one (`on_card`: gpu_target.replicated), what a
    device run would: fwd+bwd of each Pallas implementation with and without segments
    (with the number of ops it launches), and every --tune candidate of every kernel.
    Rows: {"what", "shape", "config", "ok", "error" or "launched"}."""
    compile_ = lambda fn, *args: fn.trace(*args).lower(lowering_platforms=("cuda",)).compile()
    rows = []

    def check(what, shape, config, fn, *args):
        try:
            compiled = compile_(fn, *args)
            rows.append({"what": what, "shape": list(shape), "config": config, "ok": True,
                         "launched": profile_breakdown.launched_ops(compiled.as_text())})
        except Exception as e:  # pylint: disable=broad-except
            rows.append({"what": what, "shape": list(shape), "config": config, "ok": False,
                         "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"})
        print(rows[-1], flush=True)

    for shape in shapes:
        B, H, L, D = shape
        x = jax.ShapeDtypeStruct((B, L, H, D), jnp.bfloat16, sharding=on_card)
        seg = jax.ShapeDtypeStruct((B, L), jnp.int32, sharding=on_card)
        rows_f32 = jax.ShapeDtypeStruct((B, H, L), jnp.float32, sharding=on_card)
        for impl in ("pallas_gpu", "pallas_gpu_fused"):
            for segments in (False, True):
                loss = lambda q, k, v, s, impl=impl, segments=segments: kernels.attention(
                    q, k, v, s if segments else None, implementation=impl).astype(jnp.float32).sum()
                what = impl + (" packed" if segments else "")
                check(what, shape, "default", jax.jit(jax.grad(loss, argnums=(0, 1, 2))), x, x, x, seg)
        for kind, cands in {"fwd": FWD_CANDIDATES, "dq": DQ_CANDIDATES, "dkv": DKV_CANDIDATES,
                            "fused": FUSED_CANDIDATES}.items():
            for c in cands:
                _, cand = _candidate(kind, shape, c, interpret=False)
                fn, args = _kernel_call(kind, cand, x, x, x, seg, x, rows_f32, x, rows_f32)
                check(kind, shape, list(c), fn, *args)
    return rows


def tune(shapes, *, interpret, iters, deadline, only=None):
    """Per-kernel candidate times; {shape: (best blocks, table)}.

    Candidates go in rounds (the i-th candidate of every kernel and shape) so
    that a deadline drops the least promising ones everywhere alike.
    """
    kinds = {"fwd": FWD_CANDIDATES, "dq": DQ_CANDIDATES, "dkv": DKV_CANDIDATES, "fused": FUSED_CANDIDATES}
    if interpret:
        kinds = {kind: SMOKE_CANDIDATES for kind in kinds}
    if only:
        kinds = {kind: cands[:1] if kind not in only else cands for kind, cands in kinds.items()}
    tables = {(shape, kind): [] for shape in shapes for kind in kinds}
    for rank in range(max(len(c) for c in kinds.values())):
        for kind, cands in kinds.items():
            if rank >= len(cands):
                continue
            c = cands[rank]
            for shape in shapes:
                rows = tables[shape, kind]
                if rank == 0 and only and kind not in only:
                    continue
                if time.perf_counter() > deadline and rank > 0:
                    rows.append({"config": list(c), "error": "skipped: deadline"})
                    continue
                try:
                    ms = _time_kernel(kind, shape, c, interpret=interpret, iters=iters)
                    rows.append({"config": list(c), "ms": ms})
                except Exception as e:  # pylint: disable=broad-except
                    rows.append({"config": list(c), "error": repr(e)[:300]})
                print(f"tune {shape} {kind} {rows[-1]}", flush=True)
    out = {}
    for shape in shapes:
        best, table = {}, {}
        for kind, cands in kinds.items():
            rows = tables[shape, kind]
            ok = sorted((r for r in rows if "ms" in r), key=lambda r: r["ms"])
            table[kind] = ok + [r for r in rows if "ms" not in r]
            best[kind] = tuple(ok[0]["config"]) if ok else None
            if best[kind] is None:  # untuned kernel: the head-dim default
                d = pallas_gpu.BlockSizes.for_head_dim(shape[3], fused_bwd=kind == "fused")
                best[kind] = tuple(d.kernel("dkv" if kind == "fused" else kind, shape[3]))
        fused = dataclasses.replace(_blocks_from(best["fwd"], best["dq"], best["fused"]), fused_bwd=True)
        out[shape] = (_blocks_from(best["fwd"], best["dq"], best["dkv"]), fused, table)
    return out


def markdown(rows) -> str:
    lines = [
        "| impl | B | H | L | D | fwd ms | fwd TFLOP/s | fwd+bwd ms | fwd+bwd TFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['impl']} | {r.get('B', '')} | {r.get('H', '')} | "
                f"{r.get('L', '')} | {r.get('D', '')} | error: "
                f"{r['error'][:80]} | | | |"
            )
        else:
            lines.append(
                f"| {r['impl']} | {r['B']} | {r['H']} | {r['L']} | {r['D']} | "
                f"{r['fwd_ms']:.3f} | {r['fwd_tflops']:.1f} | {r['fwdbwd_ms']:.3f}"
                f" | {r['fwdbwd_tflops']:.1f} |"
            )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="write JSON results here")
    p.add_argument("--smoke", action="store_true", help="tiny shapes on CPU in interpret mode")
    p.add_argument("--tune", action="store_true", help="try pallas_gpu block/warp/stage configs per shape")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--impls", default="pallas_gpu,pallas_gpu_fused,cudnn,jax_pallas,xla")
    p.add_argument(
        "--tune-only", default="", help="comma-separated kernels to tune (fwd,dq,dkv); default all"
    )
    p.add_argument("--no-cudnn-again", action="store_true", help="skip re-timing cuDNN beside the tuned rows")
    p.add_argument(
        "--deadline",
        type=float,
        default=float("inf"),
        help="seconds after start past which no tuning candidate starts",
    )
    p.add_argument("--target", choices=["h100", "h200"], help="only compile, for this card on a machine "
                   "without one (needs `make gpu-aot`; run with .venv-aot/bin/python): every implementation and "
                   "--tune candidate, reporting those that do not compile (e.g. out of shared memory)")
    args = p.parse_args(argv)

    if args.target:
        return _main_target(args)
    if args.smoke:
        jax.config.update("jax_platforms", "cpu")
    on_gpu = jax.default_backend() == "gpu"
    interpret = not on_gpu
    shapes = SMOKE_SHAPES if args.smoke else SHAPES
    iters = args.iters or (2 if interpret else 10)
    blocks = SMOKE_BLOCKS if interpret else None
    print(
        f"backend={jax.default_backend()} devices={jax.devices()} jax={jax.__version__} interpret={interpret}"
        f" relaxed_atomics={relaxed_add.RELAXED}"
    )
    results = {
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "relaxed_atomics": relaxed_add.RELAXED,  # the fused backward's dQ adds (else acquire-release)
        "rows": [],
        "skipped": [],
    }

    def dump():  # after every phase, so a run cut short still leaves data
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)

    t0 = time.perf_counter()
    deadline = t0 + args.deadline
    try:
        results["correctness"] = correctness(interpret=interpret, blocks=blocks)
    except Exception as e:  # pylint: disable=broad-except
        traceback.print_exc()
        results["correctness"] = [{"error": repr(e)[:500]}]
    print("correctness (rel. error vs xla):")
    for c in results["correctness"]:
        print("  ", c)

    for shape in shapes:
        for name in args.impls.split(","):
            if name in ("cudnn", "jax_pallas") and not on_gpu:
                msg = f"skipping {name} at {shape}: needs a GPU"
                results["skipped"].append(msg)
                print(msg)
                continue
            try:
                row = bench_one(
                    name,
                    shape,
                    interpret=interpret,
                    iters=iters,
                    blocks=blocks if name.startswith("pallas_gpu") else None,
                )
            except Exception as e:  # pylint: disable=broad-except
                row = _error_row(name, shape, e)
            print(row, flush=True)
            results["rows"].append(row)
            dump()

    # Packed documents vs one causal sequence, same kernel and tokens.
    B, H, L, D = (2, 16, PACKED_L, 64) if not args.smoke else (1, 1, 128, 16)
    mean = PACKED_MEAN_DOC if not args.smoke else 32
    try:
        seg = jnp.asarray(packed_segments(B, L, mean, seed=0))
        packed = bench_one(
            "pallas_gpu", (B, H, L, D), interpret=interpret, iters=iters, seg=seg, blocks=blocks
        )
        unpacked = bench_one("pallas_gpu", (B, H, L, D), interpret=interpret, iters=iters, blocks=blocks)
        one_loop = dataclasses.replace(blocks or pallas_gpu.BlockSizes.for_head_dim(D), split_fwd=False)
        packed_1 = bench_one(
            "pallas_gpu", (B, H, L, D), interpret=interpret, iters=iters, seg=seg, blocks=one_loop
        )
        fused = {
            kind: bench_one("pallas_gpu_fused", (B, H, L, D), interpret=interpret, iters=iters, seg=s, blocks=blocks)
            for kind, s in (("packed", seg), ("unpacked", None))
        }
        results["packed"] = {
            "shape": [B, H, L, D],
            "mean_doc_len": mean,
            "num_docs": int(np.asarray(seg).max(axis=1).sum()),
            "packed_fwd_ms": packed["fwd_ms"],
            "unpacked_fwd_ms": unpacked["fwd_ms"],
            "packed_fwdbwd_ms": packed["fwdbwd_ms"],
            "unpacked_fwdbwd_ms": unpacked["fwdbwd_ms"],
            "packed_fwd_ms_one_masked_loop": packed_1["fwd_ms"],
            "packed_fwdbwd_ms_one_masked_loop": packed_1["fwdbwd_ms"],
            "fused_bwd_packed_fwdbwd_ms": fused["packed"]["fwdbwd_ms"],
            "fused_bwd_unpacked_fwdbwd_ms": fused["unpacked"]["fwdbwd_ms"],
            "fwd_time_ratio": packed["fwd_ms"] / unpacked["fwd_ms"],
            "fwdbwd_time_ratio": packed["fwdbwd_ms"] / unpacked["fwdbwd_ms"],
            "ideal": packing_ideal(seg, *((64, 128) if not args.smoke else (32, 32))),
            "mask_runs": mask_runs(seg, _config((B, H, L, D), blocks, segments=True, interpret=interpret)),
        }
    except Exception as e:  # pylint: disable=broad-except
        traceback.print_exc()
        results["packed"] = {"error": repr(e)[:500]}
    dump()
    if "error" not in results["packed"]:
        try:  # which kernel keeps the packed case from its ideal
            results["packed"]["kernel_ms"] = {
                label: kernel_times((B, H, L, D), s, blocks, interpret=interpret, iters=iters)
                for label, s in (("packed", seg), ("unpacked", None))
            }
        except Exception:  # pylint: disable=broad-except
            traceback.print_exc()
        dump()

    if args.tune:
        tuned = tune(
            shapes,
            interpret=interpret,
            iters=max(2, iters // 2),
            deadline=deadline,
            only=[k for k in args.tune_only.split(",") if k],
        )
        results["tune"] = {
            str(shape): {"best": dataclasses.asdict(best), "best_fused": dataclasses.asdict(fused), "kernels": table}
            for shape, (best, fused, table) in tuned.items()
        }
        dump()
        winners = [(shape, "pallas_gpu_tuned", tuned[shape][0]) for shape in shapes]
        winners += [(shape, "pallas_gpu_fused_tuned", tuned[shape][1]) for shape in shapes]
        for shape, label, best in winners:  # the winners end to end, beside cuDNN again
            try:
                row, ours = bench_one(
                    "pallas_gpu", shape, interpret=interpret, iters=iters, blocks=best, outputs=True
                )
                row["impl"] = label
                row["blocks"] = dataclasses.asdict(best)
                if on_gpu and not args.no_cudnn_again and label == "pallas_gpu_tuned":
                    ref_row, ref = bench_one("cudnn", shape, interpret=False, iters=iters, outputs=True)
                    ref_row["impl"] = "cudnn_again"
                    row["rel_err_vs_cudnn"] = dict(
                        zip(("o", "dq", "dk", "dv"), (rel_err(a, b) for a, b in zip(ours, ref)))
                    )
                    results["rows"].append(ref_row)
            except Exception as e:  # pylint: disable=broad-except
                traceback.print_exc()
                row = _error_row(label, shape, e)
            print(row, flush=True)
            results["rows"].append(row)
            dump()

    print()
    print(markdown(results["rows"]))
    print()
    print(f"packed vs unpacked (pallas_gpu): {results['packed']}")
    print(f"total benchmark time {time.perf_counter() - t0:.1f}s")
    dump()


def _main_target(args) -> int:
    """--target: exit 1 where a default configuration does not compile (a candidate that
    does not is reported, as --tune would skip it)."""
    from benchmarks.tools import gpu_target  # pylint: disable=g-import-not-at-top

    gpu_target.prepare_environment()
    rows = compile_check(gpu_target.replicated(args.target), SMOKE_SHAPES if args.smoke else SHAPES)
    failed = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} compiled for {args.target}; failed:")
    print("\n".join(f"  {r['what']} {r['shape']} {r['config']}: {r['error']}" for r in failed) or "  none")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"target": args.target, "jax": jax.__version__, "rows": rows}, f, indent=1)
    return 1 if any(r["config"] == "default" for r in failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
