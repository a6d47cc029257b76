"""The token-embedding lookup, with a float32, deterministic gradient.

The lookup reads a compute-dtype copy of the table. Left to autodiff, its gradient
is a scatter-add of the cotangent rows into a compute-dtype table. That has two
faults:
- In bfloat16, every repeat of a token rounds the running sum to 8 bits. A token
  that fills a tenth of a batch (spaces and indentation in code do) gets a gradient
  several percent off.
- On a GPU the duplicates are added with atomics, in whatever order threads arrive,
  so no two runs give the same bits. XLA's deterministic mode sorts every element of
  the update instead, tokens x d_model elements (its cost: benchmarks/RESULTS.md).

Here each device sums its own tokens' rows in float32. It sorts its token ids, adds
up each run of equal ids in log2(tokens) doubling steps (a fixed order), and writes
one row per distinct id: a scatter without duplicates, so no atomics. The devices'
tables are then summed over the batch axes, reduce-scattered into the table's own
layout along the axes that also shard it (FSDP). In float32 the result equals
autodiff's up to the order of the additions.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from code_in_pretraining.parallel.rules import ACT_BxLxD, axes_of, constrain, logical_to_spec

TABLE_AXES = ("vocab", "embed")  # the embedding parameter's logical axes (decoder.py)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def embed(table_VxD, tokens_BxL, dtype: str):
    """Rows of `table_VxD` cast to `dtype`, [B, L, D].

    The lookup reads a replicated copy of the table: gathering from a vocab/embed-
    sharded table makes GSPMD replicate and re-partition the result, and an
    all-gather of the table is what FSDP does for every weight anyway. The cast comes first,
    on each device's shard, so that the gather moves compute-dtype bytes (half, in bf16)."""
    return jnp.take(replicated(table_VxD, dtype), tokens_BxL, axis=0)


def replicated(table_VxD, dtype):
    """The table cast to `dtype` on each device's shard, then gathered whole. The lookup and the
    blockwise loss both read this one expression, so XLA gathers the table once per step for
    both, not again for every vocabulary block of the loss."""
    return constrain(constrain(table_VxD.astype(dtype), TABLE_AXES), (None, None))


def _fwd(table_VxD, tokens_BxL, dtype):
    return embed(table_VxD, tokens_BxL, dtype), (table_VxD, tokens_BxL)


def _bwd(dtype, res, g_BxLxD):
    table_VxD, tokens_BxL = res
    V = table_VxD.shape[0]
    mesh = jax.sharding.get_abstract_mesh()
    batch = () if mesh.empty else axes_of(logical_to_spec(ACT_BxLxD, g_BxLxD.shape, dict(mesh.shape))[0])
    if not batch:
        return table_grad(tokens_BxL, g_BxLxD, V).astype(table_VxD.dtype), None
    # Batch axes that also shard the table (FSDP's "embed" over fsdp) reduce-scatter into
    # the table's layout; the others all-reduce.
    table_spec = logical_to_spec(TABLE_AXES, table_VxD.shape, dict(mesh.shape))
    scatter = [tuple(ax for ax in axes_of(entry) if ax in batch) for entry in table_spec]
    summed = tuple(ax for ax in batch if not any(ax in axes for axes in scatter))

    def local(tokens_bxl, g_bxlxD):
        grad_VxD = table_grad(tokens_bxl, g_bxlxD, V)
        if summed:
            grad_VxD = jax.lax.psum(grad_VxD, summed)
        for dim, axes in enumerate(scatter):
            if axes:
                grad_VxD = jax.lax.psum_scatter(grad_VxD, axes, scatter_dimension=dim, tiled=True)
        return grad_VxD

    out_spec = P(*(axes or None for axes in scatter))
    grad_VxD = jax.shard_map(local, in_specs=(P(batch, None), P(batch, None, None)), out_specs=out_spec)(
        tokens_BxL, g_BxLxD)
    return grad_VxD.astype(table_VxD.dtype), None


def table_grad(tokens_BxL, g_BxLxD, V: int):
    """Sum of g's rows per token id, [V, D] float32, in an order fixed by the ids alone."""
    D = g_BxLxD.shape[-1]
    ids_N, order_N = jax.lax.sort_key_val(tokens_BxL.reshape(-1), jnp.arange(tokens_BxL.size, dtype=jnp.int32))
    g_NxD = jnp.take(g_BxLxD.reshape(-1, D), order_N, axis=0).astype(jnp.float32)
    i_N = jnp.arange(ids_N.size, dtype=jnp.int32)
    run_start_N = jnp.searchsorted(ids_N, ids_N, side="left").astype(jnp.int32)

    def double(k, sums_NxD):
        # Hillis-Steele: row i holds the sum of its run's rows in (i - 2^k, i]; add the 2^k before.
        earlier_N = i_N - jnp.left_shift(1, k)
        earlier_NxD = jnp.take(sums_NxD, jnp.maximum(earlier_N, 0), axis=0)
        return sums_NxD + jnp.where((earlier_N >= run_start_N)[:, None], earlier_NxD, 0.0)

    run_sums_NxD = jax.lax.fori_loop(0, max(1, (ids_N.size - 1).bit_length()), double, g_NxD, unroll=True)
    # Each run's last row holds its sum; every other row (and an id outside the table, which
    # the lookup did not read either) goes to its own index past V, and is dropped.
    ends_N = jnp.concatenate([ids_N[1:] != ids_N[:-1], jnp.ones((1,), bool)]) & (ids_N >= 0) & (ids_N < V)
    rows_N = jnp.where(ends_N, ids_N, V + i_N)
    # An add, not a set: XLA then scatters straight into the tied unembedding's gradient.
    zeros_VxD = jnp.zeros((V, D), jnp.float32)
    return zeros_VxD.at[rows_N].add(run_sums_NxD, mode="drop", unique_indices=True)


embed.defvjp(_fwd, _bwd)
