"""Train-step throughput and MFU of a model preset on packed batches (one device).

Times the project's own jit-compiled AdamW step (`train/step.py`) on random packed
batches whose documents have a mean length of 1024 tokens (segment ids masked by the
attention kernel), in bfloat16 compute with float32 parameters. MFU uses the model's
FLOPs per token (`model/info.py`) against the card's peak, and against a bf16 matmul
ceiling measured in the same run; attention FLOPs count the causal half of the square.
`--profile DIR` then traces a few more steps with `jax.profiler` and prints where the
device time goes (matmuls, attention, loss, optimizer, other; benchmarks/tools/profile_breakdown.py);
`--loss f32,bf16,blockwise,peer` adds rows whose logits are bfloat16 instead of float32,
rows whose loss computes the logits `--vocab-block` vocabulary rows at a time
(ModelConfig.loss_vocab_block, model/blockwise_ce.py) instead of holding [B, L, V], and
a same-run reference: this model with the shortcuts of a peer that cannot mask packed
documents (bf16 logits, cuDNN attention, no segment ids); `det` is the default row
compiled with deterministic GPU kernels (TrainConfig.deterministic, train/determinism.py).
Needs only jax, flax and optax:

    PYTHONPATH=. python benchmarks/train_step.py --preset 470m --out bench.json
    PYTHONPATH=. python benchmarks/train_step.py --preset 470m --configs 2048x4 --profile /tmp/prof
    python benchmarks/train_step.py --smoke --profile /tmp/prof  # CPU, tiny preset, seconds
    python benchmarks/train_step.py --compile-only --attention xla --configs 2048x1 --loss f32,blockwise
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root
from benchmarks.tools import gpu_target, profile_breakdown  # noqa: E402
from benchmarks.tools.packings import random_documents  # noqa: E402

class Loss(NamedTuple):
    """One --loss row kind: logits dtype, blockwise loss, whether batches drop their
    document boundaries (the peer's shortcut: cuDNN attention, which cannot mask them),
    and whether the step compiles with deterministic GPU kernels (train/determinism.py)."""

    logits: str
    blockwise: bool = False
    unpacked: bool = False
    deterministic: bool = False
    label: str = ""


LOSSES = {
    "f32": Loss("float32"),
    "bf16": Loss("bfloat16", label=", bf16 logits"),
    "blockwise": Loss("float32", blockwise=True, label=", blockwise loss ({block})"),
    "peer": Loss("bfloat16", unpacked=True, label=", peer shortcuts: {attention} without document masks, bf16 logits"),
    "det": Loss("float32", deterministic=True, label=", deterministic kernels"),
}


def _pct(x):
    return f"{x:.1%}" if x is not None else "n/a"


def _gib(x):
    return f"{x:.2f}" if x is not None else "n/a"


def packed_batch(batch: int, seq_len: int, vocab: int, mean_doc: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random tokens in documents of uniform random length (mean `mean_doc`), positions restarting."""
    rows = random_documents(batch, seq_len, mean_doc, seed)
    rows.tokens[:] = np.random.default_rng(seed).integers(0, vocab, (batch, seq_len), dtype=np.int32)
    return rows.model_inputs()


def bf16_logits_decoder():
    """The Decoder with bfloat16 logits, as the --loss bf16 and peer rows run it: half the [B, L, V]
    logits and their gradient; the loss still reduces in float32."""
    from code_in_pretraining.model.decoder import Decoder
    from code_in_pretraining.model.unembed import unembed
    from code_in_pretraining.parallel.rules import constrain

    class Bf16LogitsDecoder(Decoder):
        def __call__(self, tokens_BxL, positions_BxL=None, segment_ids_BxL=None):
            h_BxLxD = self.hidden(tokens_BxL, positions_BxL, segment_ids_BxL)
            with jax.named_scope("logits"):  # as Decoder's: the profile's loss category
                logits_BxLxV = unembed(h_BxLxD, self.unembed_VxD(), self.cfg.logit_scale, "bfloat16")
                return constrain(logits_BxLxV, ("act_batch", "act_length", "act_vocab"))

    return Bf16LogitsDecoder


def matmul_ceiling_tflops(n: int = 8192, iters: int = 20) -> float:
    a = jnp.ones((n, n), jnp.bfloat16)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    t = time.perf_counter()
    for _ in range(iters):
        out = f(a, a)
    out.block_until_ready()
    return 2 * n**3 * iters / (time.perf_counter() - t) / 1e12


def _setup(cfg, batch, seq_len, mean_doc, kind: Loss = LOSSES["f32"], abstract=False, autotune_dir=None):
    """(jitted step, params, optimizer state, batch) of a --loss row `kind`; ShapeDtypeStructs
    where `abstract`. An unpacked batch keeps only its tokens (no positions, no segment ids).
    `autotune_dir`: where a deterministic step keeps its autotuning results."""
    import optax
    from flax import nnx

    from code_in_pretraining.model.decoder import Decoder
    from code_in_pretraining.train import determinism
    from code_in_pretraining.train import step as step_lib

    model = bf16_logits_decoder() if kind.logits == "bfloat16" else Decoder
    make = lambda: model(cfg, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(nnx.eval_shape(make) if abstract else make())
    params = nnx.to_pure_dict(state)
    sched = optax.constant_schedule(1e-4)
    tx = step_lib.make_optimizer(sched, b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.1, clip_norm=1.0)
    opt_state = jax.eval_shape(tx.init, params) if abstract else jax.jit(tx.init)(params)
    data = packed_batch(batch, seq_len, cfg.vocab_size, mean_doc)
    data = {"tokens": data["tokens"]} if kind.unpacked else data
    data = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), data) if abstract else jax.device_put(data)
    step = step_lib.make_train_step(graphdef, tx, sched,
                                    compiler_options=determinism.compiler_options(kind.deterministic, autotune_dir))
    return step, params, opt_state, data


def compile_step(cfg, batch, seq_len, mean_doc, kind: Loss = LOSSES["f32"], target=None):
    """Compile only (no parameters allocated): the step's scratch memory and compile time.
    `target` (a gpu_target.CARDS key): compile for that card without one, and model where
    its time goes from the compiled HLO (profile_breakdown.roofline)."""
    train_step, params, opt_state, data = _setup(cfg, batch, seq_len, mean_doc, kind, True)
    t0 = time.perf_counter()
    if target is None:
        return {"temp_gib": compiled_temp_gib(train_step, params, opt_state, data),
                "compile_s": time.perf_counter() - t0}
    on_card = gpu_target.replicated(target)
    args = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=on_card), (params, opt_state, data))
    compiled = train_step.trace(*args, 0).lower(lowering_platforms=("cuda",)).compile()
    card, hlo = gpu_target.CARDS[target], compiled.as_text()
    model = profile_breakdown.roofline(hlo, bf16_flops=card.bf16_flops, f32_flops=card.f32_flops,
                                       bandwidth=card.bandwidth)
    return {"temp_gib": compiled.memory_analysis().temp_size_in_bytes / 2**30,
            "compile_s": time.perf_counter() - t0, "roofline": model,
            "atomic_scatters": profile_breakdown.atomic_scatters(hlo)}


def time_step(cfg, batch, seq_len, steps, mean_doc, kind: Loss = LOSSES["f32"], profile_dir=None,
              profile_steps=3):
    """Timings of the train step; with `profile_dir`, also a traced breakdown ("profile")."""
    train_step, params, opt_state, data = _setup(cfg, batch, seq_len, mean_doc, kind)
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
    r = {"step_ms": dt * 1e3, "tokens_per_s": batch * seq_len / dt, "compile_s": compile_s, "loss": loss,
         "temp_gib": compiled_temp_gib(train_step, params, opt_state, data)}
    if profile_dir:
        try:
            r["profile"] = profile_steps_breakdown(train_step, params, opt_state, data, profile_dir, profile_steps)
        except Exception as e:  # noqa: BLE001 - keep the timings; main() reports it and exits 1
            r["profile_error"] = f"{type(e).__name__}: {e}"
    return r


def compiled_temp_gib(train_step, params, opt_state, data):
    """Scratch memory of the compiled step (activations, logits, ...), GiB; None if not reported.
    After the step has run, lower().compile() hits jit's cache."""
    analysis = train_step.lower(params, opt_state, data, 0).compile().memory_analysis()
    return None if analysis is None else analysis.temp_size_in_bytes / 2**30


def profile_steps_breakdown(train_step, params, opt_state, data, log_dir, steps):
    """Trace `steps` more steps into `log_dir` and attribute their device time to categories."""
    # The step is already compiled: lower/compile hit jit's cache and give the HLO that ran.
    hlo = train_step.lower(params, opt_state, data, 0).compile().as_text()
    log_dir = pathlib.Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "train_step.hlo.txt").write_text(hlo)
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0  # host Python frames are not what is measured here
    jax.profiler.start_trace(str(log_dir), profiler_options=options)
    try:
        for s in range(steps):
            params, opt_state, m = train_step(params, opt_state, data, s)
        jax.block_until_ready(m["loss"])
    finally:
        jax.profiler.stop_trace()
    return profile_breakdown.breakdown(profile_breakdown.find_trace(log_dir), hlo, steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="470m")
    parser.add_argument("--configs", default="2048x4,8192x1", help="seq_len x batch, comma-separated")
    parser.add_argument("--attention", default="auto")
    parser.add_argument("--mean-doc", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--loss", default="f32", help="losses to time, comma-separated: f32 (default; whole "
                        "float32 logits), bf16 (whole bfloat16 logits), blockwise, peer (bf16 logits and cuDNN "
                        "attention on batches without document boundaries, as a peer that cannot mask them), "
                        "det (f32 with deterministic GPU kernels)")
    parser.add_argument("--vocab-block", type=int, default=16000,
                        help="vocabulary rows per block of --loss blockwise (a divisor of V avoids padding)")
    parser.add_argument("--profile", metavar="DIR", help="after timing, trace steps into DIR/<config> and "
                        "print device time per category")
    parser.add_argument("--profile-steps", type=int, default=3)
    parser.add_argument("--compile-only", action="store_true", help="no timing: compile each row (allocating "
                        "nothing) and report its scratch memory, e.g. to see what fits a card")
    parser.add_argument("--target", choices=["h100", "h200"], help="compile for this card on a machine "
                        "without one (needs `make gpu-aot`; run with .venv-aot/bin/python): its memory, and a "
                        "roofline of where the step's time goes (implies --compile-only)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.target:
        gpu_target.prepare_environment()
        args.compile_only = True
        if args.attention == "auto":  # what "auto" picks on the card; tracing here would pick xla
            args.attention = "pallas_gpu"
    losses = args.loss.split(",")
    if unknown := set(losses) - set(LOSSES):
        parser.error(f"--loss: unknown {sorted(unknown)}; choose from {sorted(LOSSES)}")
    if args.profile and "xla_gpu_enable_command_buffer" not in os.environ.get("XLA_FLAGS", ""):
        # Kernels replayed from a CUDA graph lose their per-op annotation; the flag is
        # read when the backend starts, so it applies to the timed steps as well.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_enable_command_buffer=").strip()

    from code_in_pretraining.model import info
    from code_in_pretraining.model.config import get_preset
    from code_in_pretraining.train.throughput import device_peak_flops

    overrides = {"dtype": "bfloat16", "attention_impl": args.attention}
    if args.smoke:
        args.preset, args.configs, args.steps, args.mean_doc = "tiny", "128x2", 2, 32
        args.vocab_block = min(args.vocab_block, 3000)  # three blocks of the 8k vocabulary, the last ragged
        args.profile_steps = min(args.profile_steps, 2)
        overrides = {"attention_impl": "xla"}
    cfg = get_preset(args.preset, **overrides)
    device = jax.devices()[0]
    device_name = gpu_target.CARDS[args.target].name + " (described, not present)" if args.target else \
        getattr(device, "device_kind", str(device))
    peak = device_peak_flops(device)  # FLOP/s, None where the card is not in the table
    ceiling = None if args.smoke or args.compile_only else matmul_ceiling_tflops()
    print(f"{args.preset}: {info.param_counts(cfg)['params']:,} params on {device_name}, jax {jax.__version__}"
          + (f", bf16 matmul ceiling {ceiling:.0f} TFLOP/s" if ceiling else "")
          + (", XLA command buffers off (--profile)" if args.profile else ""))
    print("\n| L x B | tokens/s | step ms | TFLOP/s | MFU (peak) | MFU (measured ceiling) | temp GiB | compile s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows, profiles = [], []

    def save():  # after every row, so a run cut short (a device call's time limit) keeps what it measured
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"device": device_name, "jax": jax.__version__, "preset": args.preset,
                           "ceiling_tflops": ceiling, "attention": args.attention, "mean_doc": args.mean_doc,
                           "rows": rows}, f, indent=2)

    for spec in args.configs.split(","):
        seq_len, batch = (int(x) for x in spec.split("x"))
        for loss in losses:
            kind = LOSSES[loss]
            prof_dir = args.profile and os.path.join(args.profile, spec + ("" if loss == "f32" else f"-{loss}"))
            run_cfg = cfg.replace(loss_vocab_block=args.vocab_block if kind.blockwise else 0)
            if kind.unpacked and not args.smoke:
                run_cfg = run_cfg.replace(attention_impl="cudnn")
            label = f"{seq_len} x {batch}" + kind.label.format(block=args.vocab_block, attention=run_cfg.attention_impl)
            try:
                if args.compile_only:
                    r = compile_step(run_cfg, batch, seq_len, args.mean_doc, kind, args.target)
                    r.update(seq_len=seq_len, batch=batch, loss=loss, attention=run_cfg.attention_impl)
                    if "roofline" in r:
                        label += f" (atomic scatter-adds: {r['atomic_scatters']})"
                        profiles.append((label, None, None, r["roofline"], None))
                        r["roofline"] = dataclasses.asdict(r["roofline"])
                    rows.append(r)
                    save()
                    print(f"| {label} | | | | | | {_gib(r['temp_gib'])} | {r['compile_s']:.0f} |", flush=True)
                    continue
                r = time_step(run_cfg, batch, seq_len, args.steps, args.mean_doc, kind, prof_dir, args.profile_steps)
            except Exception as e:  # noqa: BLE001 - e.g. out of memory: report it, go on with the next
                print(f"| {label} | failed: {type(e).__name__}: {str(e)[:120]} ||||||")
                continue
            f = info.flops_per_token(cfg, seq_len)
            flops = f["flops_per_token_dense"] + f["flops_per_token_attention"] / 2  # causal: half the square
            r.update(seq_len=seq_len, batch=batch, loss=loss, logits=kind.logits, attention=run_cfg.attention_impl,
                     loss_vocab_block=run_cfg.loss_vocab_block, tflops=r["tokens_per_s"] * flops / 1e12)
            r["mfu_peak"] = r["tflops"] * 1e12 / peak if peak else None
            r["mfu_ceiling"] = r["tflops"] / ceiling if ceiling else None
            if prof_dir:  # printed after the timing table; the JSON keeps the numbers
                breakdown = r.pop("profile", None)
                profiles.append((label, prof_dir, r["step_ms"], breakdown, r.get("profile_error")))
                if breakdown is not None:
                    r["profile"] = dataclasses.asdict(breakdown)  # top_ops: lists of [op, category, ms]
            rows.append(r)
            save()
            print(f"| {label} | {r['tokens_per_s']:,.0f} | {r['step_ms']:.1f} | {r['tflops']:.1f} | "
                  f"{_pct(r['mfu_peak'])} | {_pct(r['mfu_ceiling'])} | "
                  f"{_gib(r['temp_gib'])} | {r['compile_s']:.0f} |", flush=True)
    for label, prof_dir, step_ms, breakdown, error in profiles:
        print(f"\nModelled device time per step, {label}:\n" if prof_dir is None else
              f"\nDevice time per step, {label} (trace in {prof_dir}):\n")
        print(breakdown.markdown(step_ms, top=8) if breakdown else f"profile failed: {error}")
    failed = any(p[3] is None for p in profiles)
    save()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
