"""Reference attention in plain jnp (implementation="xla").

This is the ground truth every kernel is tested against, so it favours clarity
over speed: it materialises the full [T, T] score matrix and does the softmax
in float32 regardless of the input dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from code_in_pretraining.kernels import shapes


def attention_mask(
    T: int,
    segment_ids_BxT: jax.Array | None,
    *,
    causal: bool,
    batch: int,
) -> jax.Array:
    """Boolean [B, 1, T, T] mask: True where query t may attend to key s.

    Segment id 0 marks padding: padding queries see nothing (their output is
    zero) and no query sees padding keys.
    """
    mask_TxT = jnp.ones((T, T), dtype=bool)
    if causal:
        mask_TxT = jnp.tril(mask_TxT)
    mask_BxTxT = jnp.broadcast_to(mask_TxT, (batch, T, T))
    if segment_ids_BxT is not None:
        seg_q_BxTx1 = segment_ids_BxT[:, :, None]
        seg_k_Bx1xT = segment_ids_BxT[:, None, :]
        same_BxTxT = (seg_q_BxTx1 == seg_k_Bx1xT) & (seg_q_BxTx1 != 0)
        mask_BxTxT = mask_BxTxT & same_BxTxT
    return mask_BxTxT[:, None, :, :]


def attention(
    q_BxTxHxD: jax.Array,
    k_BxTxKxD: jax.Array,
    v_BxTxKxD: jax.Array,
    segment_ids_BxT: jax.Array | None = None,
    *,
    causal: bool = True,
    sm_scale: float | None = None,
) -> jax.Array:
    """Multi-head / grouped-query attention, softmax in float32.

    Fully masked rows (padding queries) output exact zeros and, because the
    probabilities are zeroed with `where` rather than via -inf arithmetic, they
    also get exact zero gradients (no NaNs).
    """
    sm_scale = shapes.check(q_BxTxHxD, k_BxTxKxD, v_BxTxKxD, segment_ids_BxT, sm_scale)
    B, T, H, D = q_BxTxHxD.shape
    K = k_BxTxKxD.shape[2]
    G = H // K
    # Group query heads by the kv head they share: head h uses kv head h // G.
    q_BxKxGxTxD = q_BxTxHxD.reshape(B, T, K, G, D).transpose(0, 2, 3, 1, 4)
    k_BxKxTxD = k_BxTxKxD.transpose(0, 2, 1, 3)
    v_BxKxTxD = v_BxTxKxD.transpose(0, 2, 1, 3)
    s_BxKxGxTxT = jnp.einsum(
        "bkgtd,bksd->bkgts",
        q_BxKxGxTxD.astype(jnp.float32),
        k_BxKxTxD.astype(jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    ) * jnp.float32(sm_scale)
    mask_Bx1xTxT = attention_mask(T, segment_ids_BxT, causal=causal, batch=B)
    mask_Bx1x1xTxT = mask_Bx1xTxT[:, :, None]
    s_BxKxGxTxT = jnp.where(mask_Bx1x1xTxT, s_BxKxGxTxT, -jnp.inf)
    row_max = jnp.max(s_BxKxGxTxT, axis=-1, keepdims=True)
    row_max = jnp.where(jnp.isfinite(row_max), row_max, 0.0)
    p_BxKxGxTxT = jnp.where(mask_Bx1x1xTxT, jnp.exp(s_BxKxGxTxT - jax.lax.stop_gradient(row_max)), 0.0)
    denom = jnp.sum(p_BxKxGxTxT, axis=-1, keepdims=True)
    p_BxKxGxTxT = p_BxKxGxTxT / jnp.where(denom == 0.0, 1.0, denom)
    o_BxKxGxTxD = jnp.einsum(
        "bkgts,bksd->bkgtd",
        p_BxKxGxTxT,
        v_BxKxTxD.astype(jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    )
    o_BxTxHxD = o_BxKxGxTxD.transpose(0, 3, 1, 2, 4).reshape(B, T, H, D)
    return o_BxTxHxD.astype(q_BxTxHxD.dtype)
