"""What a compiled step (train/compile_only.py) needs per device, whether it fits, and how fast
it could run: the table `cip train --compile-only` prints.

Memory is the compiled program's (XLA's memory analysis: inputs, temporaries, outputs
not aliased to donated inputs, code) against the chip's HBM less a headroom: real data
makes a run's memory grow past the compiled figure. Collectives are compared with FSDP's
floor: every parameter gathered for the forward and again for the backward, every
gradient reduce-scattered, i.e. about 3 x the parameter bytes per device. The roofline is
an estimate, not a timing: the step's executed matmul FLOPs at the chip's bf16 peak, its
HBM traffic at the chip's bandwidth, and its collective bytes at the ICI rate, whichever
is slowest.
"""

from __future__ import annotations

import dataclasses

from code_in_pretraining.model.info import flops_per_token
from code_in_pretraining.parallel import collectives as coll_lib
from code_in_pretraining.train.compile_only import Compiled

GiB = 2**30
# The paper's throughput per v5e chip (PAPER.md): 200B tokens in about 4,736 chip-hours (470M) and
# 13,824 chip-hours (2.8B).
PAPER_TOKENS_PER_CHIP_S = {"470m": 200e9 / (4736 * 3600), "2p8b": 200e9 / (13824 * 3600)}


@dataclasses.dataclass(frozen=True)
class Fit:
    fits: bool
    budget_bytes: float
    problems: tuple[str, ...]  # what does not fit and what would reduce it


def executed_flops_per_token(c: Compiled) -> float:
    """Matmul FLOPs the step executes per token: the model's (PaLM's count, attention's causal
    half only, as the kernels skip masked blocks), plus the forward recomputed by remat and the
    blockwise loss's second logits matmul."""
    m = c.model_cfg
    f = flops_per_token(m, c.cfg.seq_len)
    layer_matmul = f["params_matmul"] - m.vocab_size * m.d_model
    flops = f["flops_per_token_dense"] + f["flops_per_token_attention"] / 2
    if m.remat == "full":
        flops += 2 * layer_matmul + f["flops_per_token_attention"] / 6
    if m.loss_vocab_block:
        flops += 2 * m.vocab_size * m.d_model
    return flops


def hbm_bytes_per_step(c: Compiled) -> float:
    """HBM traffic of one step per device, estimated: the gathered compute-dtype weights read by
    each pass over the layers (forward, recomputed forward, two backward matmuls) per microbatch,
    the optimizer's read and write of parameters, gradients and both moments, and each layer's
    activations written and read back a few times."""
    m = c.model_cfg
    tensor = c.mesh_shape.get("tensor", 1)
    f = flops_per_token(m, c.cfg.seq_len)
    weights = f["params_matmul"] * 2 / tensor
    passes = 4 if m.remat == "full" else 3
    optimizer = 2 * (2 * c.params_bytes + c.optimizer_bytes)
    tokens = c.cfg.global_batch * c.cfg.seq_len / (c.num_devices / tensor)
    activations = tokens * m.n_layers * 2 * (6 * m.d_model + 3 * m.mlp_dim / tensor) * 2
    return passes * weights * c.microbatches + optimizer + activations


def fsdp_floor_bytes(c: Compiled) -> float:
    """3 x the parameter bytes (their own dtype) of the device's model replica group."""
    data_shards = c.mesh_shape.get("data", 1)
    return 3 * c.params_bytes * c.num_devices / data_shards


def roofline(c: Compiled) -> dict[str, float]:
    chip = c.slice.chip
    tokens = c.cfg.global_batch * c.cfg.seq_len / c.num_devices
    seconds = {
        "compute": executed_flops_per_token(c) * tokens / chip.peak_flops,
        "hbm": hbm_bytes_per_step(c) / chip.hbm_bandwidth,
        "ici": coll_lib.total_bytes(c.collectives) / chip.ici_bandwidth,
    }
    step = max(seconds.values())
    return {**{f"{k}_s": v for k, v in seconds.items()}, "step_s": step, "tokens_per_s_per_chip":
            tokens * c.slice.chip.devices_per_chip / step, "bound": max(seconds, key=seconds.get)}


def check_fit(c: Compiled, headroom: float) -> Fit:
    budget = c.slice.chip.hbm_bytes * (1 - headroom)
    if c.total_bytes <= budget and not c.out_of_memory:
        return Fit(True, budget, ())
    m, cfg = c.model_cfg, c.cfg
    per_shard = cfg.global_batch // (c.mesh_shape["data"] * c.mesh_shape["fsdp"])
    problems = [f"{c.total_bytes / GiB:.2f} GiB per device do not fit in {budget / GiB:.2f} GiB "
                f"({c.slice.chip.hbm_bytes / GiB:.2f} GiB HBM less {headroom:.0%} headroom)"
                + (f"; the compiler stopped: {c.out_of_memory}" if c.out_of_memory else "")]
    state = c.params_bytes + c.optimizer_bytes
    if c.temp_bytes >= state:
        problems.append(f"temporaries ({c.temp_bytes / GiB:.2f} GiB) dominate; they shrink with")
        if m.remat != "full":
            problems.append(f"  TrainConfig.remat = 'full' (now {m.remat!r}): keep only each layer's input")
        if per_shard // c.microbatches > 1:
            problems.append(f"  TrainConfig.microbatches = {c.microbatches * 2} (now {c.microbatches}): "
                            f"{per_shard // c.microbatches // 2} sequences per device at a time instead of "
                            f"{per_shard // c.microbatches}")
        if not m.loss_vocab_block:
            problems.append("  TrainConfig.loss_vocab_block = 16000 (now 0): the loss a vocabulary block at "
                            "a time instead of whole float32 logits")
        if not m.scan_layers:
            problems.append("  TrainConfig.scan_layers = True: parameters gathered one layer at a time")
    else:
        problems.append(f"parameters and optimizer state ({state / GiB:.2f} GiB) dominate: shard them over more "
                        f"devices (a larger slice, or the fsdp axis of TrainConfig.mesh_shape, now "
                        f"{tuple(cfg.mesh_shape)})")
    return Fit(False, budget, tuple(problems))


def rows(c: Compiled, headroom: float) -> dict:
    """The figures of one compiled step, as the table and RESULTS.md report them."""
    r = roofline(c)
    preset = c.cfg.model_preset
    return {
        "topology": c.slice.name + (f" x{c.num_slices}" if c.num_slices > 1 else ""),
        "preset": preset, "seq_len": c.cfg.seq_len, "global_batch": c.cfg.global_batch,
        "mesh": c.mesh_shape, "remat": c.model_cfg.remat, "microbatches": c.microbatches,
        "params_gib": c.params_bytes / GiB, "optimizer_gib": c.optimizer_bytes / GiB,
        "batch_gib": c.batch_bytes / GiB, "arguments_gib": c.argument_bytes / GiB,
        "temporaries_gib": c.temp_bytes / GiB, "total_gib": c.total_bytes / GiB,
        "hbm_gib": c.slice.chip.hbm_bytes / GiB, "fits": check_fit(c, headroom).fits,
        "compile_s": c.compile_s,
        "collectives": {k: {"count": v.count, "gib": v.bytes_per_device / GiB} for k, v in c.collectives.items()
                        if v.count},
        "collective_gib": coll_lib.total_bytes(c.collectives) / GiB,
        "fsdp_floor_gib": fsdp_floor_bytes(c) / GiB,
        "estimate": r, "paper_tokens_per_s_per_chip": PAPER_TOKENS_PER_CHIP_S.get(preset),
    }


def table(c: Compiled, headroom: float) -> str:
    """The human-readable report of one compiled step."""
    if c.out_of_memory:
        return (f"{c.slice.name}: the TPU compiler ran out of HBM after {c.compile_s:.1f} s "
                f"(mesh {c.mesh_shape}); per device (GiB): parameters {c.params_bytes / GiB:.3f}, optimizer "
                f"state {c.optimizer_bytes / GiB:.3f}, batch {c.batch_bytes / GiB:.3f}, temporaries "
                f"{c.temp_bytes / GiB:.2f}, of {c.slice.chip.hbm_bytes / GiB:.2f} HBM")
    r = rows(c, headroom)
    est = r["estimate"]
    lines = [
        f"compiled for {r['topology']} ({c.num_devices} devices of {c.slice.chip.generation}, mesh "
        f"{', '.join(f'{k}={v}' for k, v in c.mesh_shape.items())}) in {c.compile_s:.1f} s",
        f"  model {r['preset']}, vocabulary {c.vocab_note}; {r['global_batch']} x {r['seq_len']} tokens per step, "
        f"microbatches {r['microbatches']}, remat {r['remat']!r}, attention {c.model_cfg.attention_impl!r}, "
        f"loss_vocab_block {c.model_cfg.loss_vocab_block}, scan_layers {c.model_cfg.scan_layers}",
        "per device (GiB):",
        f"  parameters       {r['params_gib']:8.3f}",
        f"  optimizer state  {r['optimizer_gib']:8.3f}",
        f"  batch            {r['batch_gib']:8.3f}",
        f"  temporaries      {r['temporaries_gib']:8.3f}",
        f"  total            {r['total_gib']:8.3f}   of {r['hbm_gib']:.2f} HBM "
        f"({r['total_gib'] / r['hbm_gib']:.0%}; budget with {headroom:.0%} headroom "
        f"{r['hbm_gib'] * (1 - headroom):.2f})",
        "collectives of one step, per device:",
    ]
    for kind, v in r["collectives"].items():
        lines.append(f"  {kind:<20} {v['count']:6d} x  {v['gib']:8.3f} GiB")
    lines.append(f"  total {r['collective_gib']:.3f} GiB = {r['collective_gib'] / r['fsdp_floor_gib']:.2f} x "
                 f"FSDP's floor ({r['fsdp_floor_gib']:.3f} GiB: 3 x the parameter bytes gathered)")
    paper = r["paper_tokens_per_s_per_chip"]
    lines.append(f"estimate, not a timing: {est['step_s']:.2f} s per step ({est['bound']}-bound: compute "
                 f"{est['compute_s']:.2f} s, HBM {est['hbm_s']:.2f} s, ICI {est['ici_s']:.2f} s), "
                 f"{est['tokens_per_s_per_chip']:,.0f} tokens/s per chip"
                 + (f" (the paper's runs: about {paper:,.0f})" if paper else ""))
    return "\n".join(lines)
