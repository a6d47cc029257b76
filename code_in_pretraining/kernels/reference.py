"""Reference attention in plain jnp (implementation="xla").

This is the ground truth every kernel is tested against, so it favours clarity
over speed: it materialises the full [L, L] score matrix and does the softmax
in float32 regardless of the input dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from code_in_pretraining.kernels import shapes


def attention_mask(
    L: int,
    segment_ids_BxL: jax.Array | None,
    *,
    causal: bool,
    batch: int,
) -> jax.Array:
    """Boolean [B, 1, L, L] mask: True where query t may attend to key s.

    Segment id 0 marks padding: padding queries see nothing (their output is
    zero) and no query sees padding keys.
    """
    mask_LxL = jnp.ones((L, L), dtype=bool)
    if causal:
        mask_LxL = jnp.tril(mask_LxL)
    mask_BxLxL = jnp.broadcast_to(mask_LxL, (batch, L, L))
    if segment_ids_BxL is not None:
        seg_q_BxLx1 = segment_ids_BxL[:, :, None]
        seg_k_Bx1xL = segment_ids_BxL[:, None, :]
        same_BxLxL = (seg_q_BxLx1 == seg_k_Bx1xL) & (seg_q_BxLx1 != 0)
        mask_BxLxL = mask_BxLxL & same_BxLxL
    return mask_BxLxL[:, None, :, :]


def attention(
    q_BxLxHxD: jax.Array,
    k_BxLxKxD: jax.Array,
    v_BxLxKxD: jax.Array,
    segment_ids_BxL: jax.Array | None = None,
    *,
    causal: bool = True,
    sm_scale: float | None = None,
) -> jax.Array:
    """Multi-head / grouped-query attention, softmax in float32.

    Fully masked rows (padding queries) output exact zeros and, because the
    probabilities are zeroed with `where` rather than via -inf arithmetic, they
    also get exact zero gradients (no NaNs).
    """
    sm_scale = shapes.check(q_BxLxHxD, k_BxLxKxD, v_BxLxKxD, segment_ids_BxL, sm_scale)
    B, L, H, D = q_BxLxHxD.shape
    K = k_BxLxKxD.shape[2]
    G = H // K
    # Group query heads by the kv head they share: head h uses kv head h // G.
    q_BxKxGxLxD = q_BxLxHxD.reshape(B, L, K, G, D).transpose(0, 2, 3, 1, 4)
    k_BxKxLxD = k_BxLxKxD.transpose(0, 2, 1, 3)
    v_BxKxLxD = v_BxLxKxD.transpose(0, 2, 1, 3)
    s_BxKxGxLxL = jnp.einsum(
        "bkgld,bksd->bkgls",
        q_BxKxGxLxD.astype(jnp.float32),
        k_BxKxLxD.astype(jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    ) * jnp.float32(sm_scale)
    mask_Bx1xLxL = attention_mask(L, segment_ids_BxL, causal=causal, batch=B)
    mask_Bx1x1xLxL = mask_Bx1xLxL[:, :, None]
    s_BxKxGxLxL = jnp.where(mask_Bx1x1xLxL, s_BxKxGxLxL, -jnp.inf)
    row_max = jnp.max(s_BxKxGxLxL, axis=-1, keepdims=True)
    row_max = jnp.where(jnp.isfinite(row_max), row_max, 0.0)
    p_BxKxGxLxL = jnp.where(mask_Bx1x1xLxL, jnp.exp(s_BxKxGxLxL - jax.lax.stop_gradient(row_max)), 0.0)
    denom = jnp.sum(p_BxKxGxLxL, axis=-1, keepdims=True)
    p_BxKxGxLxL = p_BxKxGxLxL / jnp.where(denom == 0.0, 1.0, denom)
    o_BxKxGxLxD = jnp.einsum(
        "bkgls,bksd->bkgld",
        p_BxKxGxLxL,
        v_BxKxLxD.astype(jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    )
    o_BxLxHxD = o_BxKxGxLxD.transpose(0, 3, 1, 2, 4).reshape(B, L, H, D)
    return o_BxLxHxD.astype(q_BxLxHxD.dtype)
