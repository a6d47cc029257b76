"""Attention inside the model: Pallas kernels run per shard, through `jax.shard_map`.

A Pallas kernel is a custom call that XLA's partitioner cannot split ("Mosaic kernels
cannot be automatically partitioned"), so on a mesh of more than one device each
shard runs the kernel on its own rows and heads: batch over the mesh axes of
`act_batch` (data, fsdp), query and kv heads over those of `act_heads` /
`act_kv_heads` (tensor), the sequence whole. The specs come from the rule table
(parallel/rules.py), as every other activation's sharding does. The xla reference
needs none of this: GSPMD partitions it like any other op.
"""

from __future__ import annotations

import functools
import math

import jax

from code_in_pretraining.kernels import dispatch
from code_in_pretraining.parallel.rules import logical_to_spec

Q_AXES = ("act_batch", "act_length", "act_heads", "act_head_dim")
KV_AXES = ("act_batch", "act_length", "act_kv_heads", "act_head_dim")
SEG_AXES = ("act_batch", "act_length")


def check_heads(implementation: str, n_heads: int, n_kv_heads: int, tensor: int) -> None:
    """Raises where a per-shard kernel cannot split the heads over the tensor axis: each
    shard must hold whole query groups (its kv heads and the query heads that read them)."""
    if implementation in dispatch.PALLAS and tensor > 1 and (n_heads % tensor or n_kv_heads % tensor):
        raise ValueError(
            f"attention_impl={implementation!r} runs per shard with heads split over the tensor axis, "
            f"but the tensor axis ({tensor} devices) does not divide n_heads={n_heads} and "
            f"n_kv_heads={n_kv_heads}: choose a mesh whose tensor size divides both, or "
            f"attention_impl='xla'")


def attention(q_BxLxHxD, k_BxLxKxD, v_BxLxKxD, segment_ids_BxL, *, implementation: str):
    """Causal attention (kernels.attention) with the Pallas kernels run per shard."""
    impl = dispatch.choose(implementation, q_BxLxHxD, k_BxLxKxD, q_BxLxHxD.shape[-1] ** -0.5)
    run = functools.partial(dispatch.attention, causal=True, implementation=impl)
    mesh = jax.sharding.get_abstract_mesh()
    if impl not in dispatch.PALLAS or mesh.empty or math.prod(mesh.shape.values()) == 1:
        return run(q_BxLxHxD, k_BxLxKxD, v_BxLxKxD, segment_ids_BxL)
    sizes = dict(mesh.shape)
    check_heads(impl, q_BxLxHxD.shape[2], k_BxLxKxD.shape[2], sizes.get("tensor", 1))
    q_spec = logical_to_spec(Q_AXES, q_BxLxHxD.shape, sizes)
    kv_spec = logical_to_spec(KV_AXES, k_BxLxKxD.shape, sizes)
    args, specs = [q_BxLxHxD, k_BxLxKxD, v_BxLxKxD], [q_spec, kv_spec, kv_spec]
    if segment_ids_BxL is not None:
        args.append(segment_ids_BxL)
        specs.append(logical_to_spec(SEG_AXES, segment_ids_BxL.shape, sizes))
    sharded = jax.shard_map(run, in_specs=tuple(specs), out_specs=q_spec, check_vma=False)
    return sharded(*args)


def check_mesh(cfg, mesh) -> None:
    """`check_heads` for a model config on a mesh, with "auto" resolved by the mesh's devices."""
    platform = {"cuda": "gpu", "rocm": "gpu"}.get(mesh.devices.flat[0].platform, mesh.devices.flat[0].platform)
    check_heads(dispatch.by_platform(cfg.attention_impl, platform), cfg.n_heads, cfg.n_kv_heads,
                dict(mesh.shape).get("tensor", 1))
