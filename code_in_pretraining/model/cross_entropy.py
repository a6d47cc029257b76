"""Cross entropy over whole [B, L, V] logits: per-token (-log p(target), log Z) and its gradient.

`logits_grad` is shared with the blockwise loss (blockwise_ce.py), which applies it to
one vocabulary block at a time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_vjp
def token_nll(logits_BxLxV, targets_BxL):
    """(-log p(target), log Z) per token, in float32.

    One pass over the [B, L, V] logits (an online logsumexp and the target logit in a
    single variadic reduction) where autodiff's logsumexp reads them twice; at a 256k
    vocabulary each pass is 8.4 GB of float32 per 8192 tokens. The target logit is
    selected by comparing vocabulary indices, not gathered, so that vocab-sharded logits
    need no all-gather.
    """
    max_BxL, sum_BxL, target_BxL = _row_stats(logits_BxLxV.astype(jnp.float32), targets_BxL)
    log_z_BxL = max_BxL + jnp.log(sum_BxL)
    return log_z_BxL - target_BxL, log_z_BxL


def _is_target(logits_BxLxV, targets_BxL):
    vocab_BxLxV = jax.lax.broadcasted_iota(jnp.int32, logits_BxLxV.shape, 2)
    return vocab_BxLxV == targets_BxL[..., None]


def _row_stats(logits_BxLxV, targets_BxL):
    """(max, sum of exp(x - max), target logit) over V, in one reduction."""

    def combine(a, b):
        (m_a, s_a, t_a), (m_b, s_b, t_b) = a, b
        e = jnp.exp(-jnp.abs(m_a - m_b))  # one exp: the smaller max rescaled to the larger
        return jnp.maximum(m_a, m_b), jnp.where(m_a >= m_b, s_a + s_b * e, s_a * e + s_b), t_a + t_b

    operands = (logits_BxLxV, jnp.ones_like(logits_BxLxV),
                jnp.where(_is_target(logits_BxLxV, targets_BxL), logits_BxLxV, 0.0))
    # A finite start (not -inf), so that two empty partial maxima rescale by exp(0), not NaN.
    return jax.lax.reduce(operands, (jnp.float32(-1e30), jnp.float32(0), jnp.float32(0)), combine, (2,))


def _token_nll_fwd(logits_BxLxV, targets_BxL):
    nll_BxL, log_z_BxL = token_nll(logits_BxLxV, targets_BxL)
    return (nll_BxL, log_z_BxL), (logits_BxLxV, targets_BxL, log_z_BxL)


def _token_nll_bwd(res, cotangents):
    logits_BxLxV, targets_BxL, log_z_BxL = res
    d_BxLxV = logits_grad(logits_BxLxV.astype(jnp.float32), log_z_BxL, _is_target(logits_BxLxV, targets_BxL),
                          *cotangents)
    return d_BxLxV.astype(logits_BxLxV.dtype), None


def logits_grad(logits_BxLxV, log_z_BxL, is_target_BxLxV, g_nll_BxL, g_lz_BxL):
    """d logits of (nll, log Z) = g_nll * (p - onehot) + g_logz * p, in float32; also one
    block of a vocabulary at a time (blockwise_ce.py), given that block's target mask."""
    p_BxLxV = jnp.exp(logits_BxLxV - log_z_BxL[..., None])
    return p_BxLxV * (g_nll_BxL + g_lz_BxL)[..., None] - jnp.where(is_target_BxLxV, g_nll_BxL[..., None], 0.0)


token_nll.defvjp(_token_nll_fwd, _token_nll_bwd)
