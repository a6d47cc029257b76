"""Logical axis names and the ONE table that maps them to mesh axes.

The model only ever names axes logically ("embed", "mlp", "act_batch", ...);
this file decides where they live on the (data, fsdp, tensor) mesh. Parameters
get their names through `partitioned(init, *names)`; activations through
`constrain(x, names)`, which is a no-op unless a mesh is set (`jax.set_mesh`).

Parameter and activation names are distinct ("embed" vs "act_embed") because a
mesh axis may appear only once per array: parameters shard `embed` over fsdp
(ZeRO-3 style) while activations shard their batch over (data, fsdp).

Resolution drops a mesh axis that does not divide the dimension (e.g. 2 kv heads
on tensor=4 stay replicated) or that an earlier dimension already uses, so every
rule-derived sharding is valid for every mesh.
"""

from __future__ import annotations

from typing import Sequence

import jax
from flax import nnx
from jax.sharding import PartitionSpec as P

MeshAxes = str | tuple[str, ...] | None

# logical name -> mesh axis / axes / None (replicated).
RULES: tuple[tuple[str, MeshAxes], ...] = (
    # parameters
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("head_dim", None),
    ("mlp", "tensor"),
    ("norm", None),
    # activations
    ("act_batch", ("data", "fsdp")),
    ("act_length", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_kv_heads", "tensor"),
    ("act_head_dim", None),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
)

# Residual stream, the most common activation annotation.
ACT_BxLxD = ("act_batch", "act_length", "act_embed")


def partitioned(init, *logical_axes: str | None):
    """Wraps an initializer so its nnx.Variable carries logical axis names.

    eager_sharding=False: the model can be built without a mesh (tests, eval_shape);
    shardings are applied by jit from `parallel.mesh.state_shardings`.
    """
    return nnx.with_partitioning(init, tuple(logical_axes), eager_sharding=False)


def axes_of(entry: MeshAxes) -> tuple[str, ...]:
    """The mesh axes of a rule value or a PartitionSpec entry (None, a name, or names)."""
    return () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)


def logical_to_spec(
    logical_axes: Sequence[str | None],
    shape: Sequence[int] | None,
    mesh_axis_sizes: dict[str, int],
    rules: Sequence[tuple[str, MeshAxes]] = RULES,
) -> P:
    """PartitionSpec for an array with these logical axes on a mesh of these sizes.

    Mesh axes missing from the mesh, already used, or not dividing the dimension are
    dropped (a size-1 axis always divides).
    """
    table = dict(rules)
    used: set[str] = set()
    out = []
    for i, name in enumerate(logical_axes):
        if name is None:
            out.append(None)
            continue
        if name not in table:
            raise KeyError(f"logical axis {name!r} has no rule; known: {sorted(table)}")
        wanted = axes_of(table[name])
        dim = None if shape is None else shape[i]
        kept, prod = [], 1
        for ax in wanted:
            if ax not in mesh_axis_sizes or ax in used:
                continue
            size = mesh_axis_sizes[ax]
            if dim is not None and dim % (prod * size):
                continue
            kept.append(ax)
            prod *= size
        used.update(kept)
        out.append(None if not kept else kept[0] if len(kept) == 1 else tuple(kept))
    return P(*out)


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
    """with_sharding_constraint by logical names; a no-op when no mesh is set."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return x
    spec = logical_to_spec(logical_axes, x.shape, dict(mesh.shape))
    return jax.lax.with_sharding_constraint(x, spec)
