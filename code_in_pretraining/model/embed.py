"""The token-embedding lookup, with its gradient summed in float32.

The lookup reads a compute-dtype copy of the table. Left to autodiff, its
gradient is a scatter-add of the compute-dtype cotangent rows into a
compute-dtype table: in bfloat16 every repeat of a token rounds the running sum
to 8 bits, so a token that fills a tenth of a batch (spaces and indentation in
code do) gets a gradient several percent off, and on a GPU the sum is made with
bfloat16 atomics. Here the rows are cast to float32 first and summed into a
float32 table, the parameter's own dtype. In float32 compute the result is
autodiff's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from code_in_pretraining.parallel.rules import constrain


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def embed(table_VxD, tokens_BxL, dtype: str):
    """Rows of `table_VxD` cast to `dtype`, [B, L, D].

    The lookup reads a replicated copy of the table: gathering from a vocab/embed-
    sharded table makes GSPMD replicate and re-partition the result, and an
    all-gather of the table is what FSDP does for every weight anyway."""
    table_VxD = constrain(table_VxD.astype(dtype), (None, None))
    return jnp.take(table_VxD, tokens_BxL, axis=0)


def _fwd(table_VxD, tokens_BxL, dtype):
    return embed(table_VxD, tokens_BxL, dtype), (table_VxD, tokens_BxL)


def _bwd(dtype, res, g_BxLxD):
    table_VxD, tokens_BxL = res
    zeros_VxD = constrain(jnp.zeros(table_VxD.shape, jnp.float32), (None, None))
    d_table_VxD = zeros_VxD.at[tokens_BxL].add(g_BxLxD.astype(jnp.float32), mode="drop")
    return d_table_VxD.astype(table_VxD.dtype), None


embed.defvjp(_fwd, _bwd)
