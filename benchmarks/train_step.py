"""Train-step throughput and MFU of a model preset on packed batches (one device).

Times the project's own jit-compiled AdamW step (`train/step.py`) on random packed
batches whose documents have a mean length of 1024 tokens (segment ids masked by the
attention kernel), in bfloat16 compute with float32 parameters. MFU uses the model's
FLOPs per token (`model/info.py`) against the card's peak, and against a bf16 matmul
ceiling measured in the same run; attention FLOPs count the causal half of the square.
Needs only jax, flax and optax:

    PYTHONPATH=. python benchmarks/train_step.py --preset 470m --out bench.json
    python benchmarks/train_step.py --smoke      # CPU, tiny preset, a few seconds
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16, by card name


def packed_batch(batch: int, seq_len: int, vocab: int, mean_doc: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random tokens in documents of uniform random length (mean `mean_doc`), positions restarting."""
    rng = np.random.default_rng(seed)
    seg = np.zeros((batch, seq_len), np.int32)
    pos = np.zeros((batch, seq_len), np.int32)
    for b in range(batch):
        t, s = 0, 0
        while t < seq_len:
            n = min(int(rng.integers(1, 2 * mean_doc)), seq_len - t)
            s += 1
            seg[b, t:t + n], pos[b, t:t + n] = s, np.arange(n)
            t += n
    return {"tokens": rng.integers(0, vocab, (batch, seq_len), dtype=np.int32), "segment_ids": seg,
            "positions": pos}


def matmul_ceiling_tflops(n: int = 8192, iters: int = 20) -> float:
    a = jnp.ones((n, n), jnp.bfloat16)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    t = time.perf_counter()
    for _ in range(iters):
        out = f(a, a)
    out.block_until_ready()
    return 2 * n**3 * iters / (time.perf_counter() - t) / 1e12


def time_step(cfg, batch, seq_len, steps, mean_doc):
    import optax
    from flax import nnx

    from code_in_pretraining.model.decoder import Decoder
    from code_in_pretraining.train import step as step_lib

    graphdef, state = nnx.split(Decoder(cfg, rngs=nnx.Rngs(0)))
    params = nnx.to_pure_dict(state)
    sched = optax.constant_schedule(1e-4)
    tx = step_lib.make_optimizer(sched, b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.1, clip_norm=1.0)
    opt_state = jax.jit(tx.init)(params)
    train_step = step_lib.make_train_step(graphdef, tx, sched)
    data = jax.device_put(packed_batch(batch, seq_len, cfg.vocab_size, mean_doc))
    t0 = time.perf_counter()
    params, opt_state, m = train_step(params, opt_state, data, 0)
    jax.block_until_ready(m["loss"])
    compile_s = time.perf_counter() - t0
    params, opt_state, m = train_step(params, opt_state, data, 1)
    jax.block_until_ready(m["loss"])
    t0 = time.perf_counter()
    for s in range(steps):
        params, opt_state, m = train_step(params, opt_state, data, s)
    loss = float(m["loss"])
    dt = (time.perf_counter() - t0) / steps
    return {"step_ms": dt * 1e3, "tokens_per_s": batch * seq_len / dt, "compile_s": compile_s, "loss": loss}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="470m")
    parser.add_argument("--configs", default="2048x4,8192x1", help="seq_len x batch, comma-separated")
    parser.add_argument("--attention", default="auto")
    parser.add_argument("--mean-doc", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    from code_in_pretraining.model import info
    from code_in_pretraining.model.config import get_preset

    overrides = {"dtype": "bfloat16", "attention_impl": args.attention}
    if args.smoke:
        args.preset, args.configs, args.steps, args.mean_doc = "tiny", "128x2", 2, 32
        overrides = {"attention_impl": "xla"}
    cfg = get_preset(args.preset, **overrides)
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", str(device))
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in kind), None)
    ceiling = None if args.smoke else matmul_ceiling_tflops()
    print(f"{args.preset}: {info.param_counts(cfg)['params']:,} params on {kind}, jax {jax.__version__}"
          + (f", bf16 matmul ceiling {ceiling:.0f} TFLOP/s" if ceiling else ""))
    print("\n| T x B | tokens/s | step ms | TFLOP/s | MFU (peak) | MFU (measured ceiling) | compile s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    fmt = lambda x: f"{x:.1%}" if x is not None else "n/a"  # noqa: E731
    rows = []
    for spec in args.configs.split(","):
        seq_len, batch = (int(x) for x in spec.split("x"))
        try:
            r = time_step(cfg, batch, seq_len, args.steps, args.mean_doc)
        except Exception as e:  # noqa: BLE001 - e.g. out of memory: report it, go on with the next
            print(f"| {seq_len} x {batch} | failed: {type(e).__name__}: {str(e)[:120]} |||||")
            continue
        f = info.flops_per_token(cfg, seq_len)
        flops = f["flops_per_token_dense"] + f["flops_per_token_attention"] / 2  # causal: half the square
        r.update(seq_len=seq_len, batch=batch, tflops=r["tokens_per_s"] * flops / 1e12)
        r["mfu_peak"] = r["tflops"] / peak if peak else None
        r["mfu_ceiling"] = r["tflops"] / ceiling if ceiling else None
        rows.append(r)
        print(f"| {seq_len} x {batch} | {r['tokens_per_s']:,.0f} | {r['step_ms']:.1f} | {r['tflops']:.1f} | "
              f"{fmt(r['mfu_peak'])} | {fmt(r['mfu_ceiling'])} | {r['compile_s']:.0f} |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": kind, "jax": jax.__version__, "preset": args.preset, "ceiling_tflops": ceiling,
                       "attention": args.attention, "mean_doc": args.mean_doc, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
