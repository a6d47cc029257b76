"""Next-token cross entropy over weighted tokens, with optional z-loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from code_in_pretraining.model.blockwise_ce import blockwise_token_nll


def next_token_loss(logits_BxLxV, targets_BxL, weights_BxL, z_loss=0.0):
    """Mean cross entropy over tokens with weight > 0, all in float32.

    targets are already the next token (the trainer shifts them within a segment);
    weights are 0 for padding / document ends. z_loss adds z_loss * mean(logZ^2),
    which keeps the softmax normaliser near 0 (PaLM) and is cheap insurance for
    bfloat16 logits. Returns (loss, {"ce", "z_loss", "tokens"}).
    """
    return weighted_loss(*token_nll(logits_BxLxV, targets_BxL), weights_BxL, z_loss)


def weighted_loss(nll_BxL, log_z_BxL, weights_BxL, z_loss=0.0):
    """`next_token_loss` from per-token NLL and log Z (see `token_nll`)."""
    w_BxL = weights_BxL.astype(jnp.float32)
    tokens = jnp.sum(w_BxL)
    denom = jnp.where(tokens > 0, tokens, 1.0)
    ce = jnp.sum(nll_BxL * w_BxL) / denom
    z_term = z_loss * jnp.sum(jnp.square(log_z_BxL) * w_BxL) / denom
    loss = ce + z_term
    return loss, {"ce": ce, "z_loss": z_term, "tokens": tokens}


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
    """d logits = g_nll * (p - onehot) + g_logz * p, one pass again."""
    logits_BxLxV, targets_BxL, log_z_BxL = res
    g_nll_BxL, g_lz_BxL = cotangents
    p_BxLxV = jnp.exp(logits_BxLxV.astype(jnp.float32) - log_z_BxL[..., None])
    d_BxLxV = p_BxLxV * (g_nll_BxL + g_lz_BxL)[..., None] - jnp.where(
        _is_target(logits_BxLxV, targets_BxL), g_nll_BxL[..., None], 0.0)
    return d_BxLxV.astype(logits_BxLxV.dtype), None


token_nll.defvjp(_token_nll_fwd, _token_nll_bwd)


def model_token_nll(model, tokens_BxL, positions_BxL, segment_ids_BxL, targets_BxL):
    """`token_nll` of a Decoder's logits; blockwise when `cfg.loss_vocab_block` is set,
    so that [B, L, V] is never held (model/blockwise_ce.py)."""
    if block := model.cfg.loss_vocab_block:
        h_BxLxD = model.hidden(tokens_BxL, positions_BxL, segment_ids_BxL)
        with jax.named_scope("loss"):  # a label for profiles only (benchmarks/profile_breakdown.py)
            return blockwise_token_nll(h_BxLxD, model.unembed_VxD(), targets_BxL, model.cfg.logit_scale, block)
    logits_BxLxV = model(tokens_BxL, positions_BxL, segment_ids_BxL)
    with jax.named_scope("loss"):
        return token_nll(logits_BxLxV, targets_BxL)


def grouped_nll(nll_BxL, weights_BxL, groups_BxL, num_groups: int):
    """(sum of nll, weighted token count) per group id in [0, num_groups): per-source losses."""
    member_BxLxG = (groups_BxL[..., None] == jnp.arange(num_groups)).astype(jnp.float32)
    w_BxL = weights_BxL.astype(jnp.float32)
    return (jnp.einsum("bl,blg->g", nll_BxL * w_BxL, member_BxLxG),
            jnp.einsum("bl,blg->g", w_BxL, member_BxLxG))
