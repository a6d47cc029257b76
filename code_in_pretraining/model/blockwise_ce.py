"""Unembedding and cross entropy a vocabulary block at a time, never holding [B, L, V].

With a 256k vocabulary the float32 logits of one 8192-token sequence are 8.4 GB,
and their gradient as much again. `blockwise_token_nll` computes the same
(-log p(target), log Z) as `cross_entropy.token_nll(h @ table.T * scale, targets)` from the
final hidden states and the [V, D] table, `block` vocabulary rows at a time: an
online logsumexp in the forward, and in the backward each block's logits are
recomputed to form its share of dH and its rows of dTable. The price is one more
[B, L, D] x [D, V] matmul; the memory is one [B, L, block] float32 tile.
Blocks run over the vocabulary, not the tokens, so a batch-sharded h needs no
communication inside the loop and each dTable block is reduced once.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from code_in_pretraining.model.cross_entropy import logits_grad
from code_in_pretraining.model.embed import replicated
from code_in_pretraining.model.unembed import unembed_grads

_NEG = -1e30  # padded vocabulary columns: finite, so exp() gives exact zeros


def _blocks(table_VxD, block: int):
    """The table as [n, block, D] (zero rows pad V up to a multiple of block)."""
    V, D = table_VxD.shape
    n = -(-V // block)
    padded = jnp.pad(table_VxD, ((0, n * block - V), (0, 0)))
    return padded.reshape(n, block, D), n


def _block_logits(h_BxLxD, w_VbxD, j, block: int, V: int, scale: float):
    """Scaled float32 logits of vocabulary block j, padding columns at _NEG."""
    logits = jnp.einsum("bld,vd->blv", h_BxLxD, w_VbxD, preferred_element_type=jnp.float32) * scale
    col_Vb = j * block + jnp.arange(block, dtype=jnp.int32)
    return jnp.where(col_Vb < V, logits, _NEG), col_Vb


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def blockwise_token_nll(h_BxLxD, table_VxD, targets_BxL, scale: float, block: int):
    """(-log p(target), log Z) per token, in float32; logits = scale * h @ table.T, the table
    (the parameter) cast to h's compute dtype, its gradient returned in its own dtype."""
    return _fwd(h_BxLxD, table_VxD, targets_BxL, scale, block)[0]


def _forward(h_BxLxD, w_VxD, targets_BxL, scale, block):
    V = w_VxD.shape[0]
    w_NxVbxD, _ = _blocks(w_VxD, block)
    B, L, _ = h_BxLxD.shape

    def body(carry, xs):
        m_BxL, s_BxL, tgt_BxL = carry
        j, w_VbxD = xs
        logits, col_Vb = _block_logits(h_BxLxD, w_VbxD, j, block, V, scale)
        m_new = jnp.maximum(m_BxL, logits.max(axis=-1))
        s_BxL = s_BxL * jnp.exp(m_BxL - m_new) + jnp.exp(logits - m_new[..., None]).sum(axis=-1)
        tgt_BxL = tgt_BxL + jnp.where(col_Vb == targets_BxL[..., None], logits, 0.0).sum(axis=-1)
        return (m_new, s_BxL, tgt_BxL), None

    init = (jnp.full((B, L), _NEG, jnp.float32), jnp.zeros((B, L), jnp.float32), jnp.zeros((B, L), jnp.float32))
    (m, s, tgt), _ = lax.scan(body, init, (jnp.arange(w_NxVbxD.shape[0]), w_NxVbxD))
    log_z_BxL = m + jnp.log(s)
    return log_z_BxL - tgt, log_z_BxL


def _fwd(h_BxLxD, table_VxD, targets_BxL, scale, block):
    w_VxD = replicated(table_VxD, h_BxLxD.dtype)  # kept for the backward: cast and gathered once
    nll, log_z = _forward(h_BxLxD, w_VxD, targets_BxL, scale, block)
    return (nll, log_z), (h_BxLxD, w_VxD, table_VxD, targets_BxL, log_z)


def _bwd(scale, block, res, cotangents):
    """Each block's logits recomputed, their gradient (cross_entropy.logits_grad) turned into
    its share of dH and its rows of dTable (unembed.unembed_grads)."""
    h_BxLxD, w_VxD, table_VxD, targets_BxL, log_z_BxL = res
    g_nll_BxL, g_lz_BxL = cotangents
    V, D = table_VxD.shape
    w_NxVbxD, n = _blocks(w_VxD, block)

    def body(dh_BxLxD, xs):
        j, w_VbxD = xs
        logits, col_Vb = _block_logits(h_BxLxD, w_VbxD, j, block, V, scale)
        dlogits = logits_grad(logits, log_z_BxL, col_Vb == targets_BxL[..., None], g_nll_BxL, g_lz_BxL)
        dh_block, dw_VbxD = unembed_grads(dlogits, h_BxLxD, w_VbxD, scale)
        # Stacked over blocks in the compute dtype: half the memory of float32 rows.
        return dh_BxLxD + dh_block, dw_VbxD.astype(h_BxLxD.dtype)

    dh, dw_NxVbxD = lax.scan(body, jnp.zeros(h_BxLxD.shape, jnp.float32), (jnp.arange(n), w_NxVbxD))
    return dh.astype(h_BxLxD.dtype), dw_NxVbxD.reshape(n * block, D)[:V].astype(table_VxD.dtype), None


blockwise_token_nll.defvjp(_fwd, _bwd)
