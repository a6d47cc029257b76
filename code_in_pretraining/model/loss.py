"""Next-token cross entropy over weighted tokens, with optional z-loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from code_in_pretraining.model.blockwise_ce import blockwise_token_nll
from code_in_pretraining.model.cross_entropy import token_nll


def next_token_targets(tokens_BxL, segment_ids_BxL):
    """Targets and weights: each token predicts the next one of its own segment."""
    targets_BxL = jnp.roll(tokens_BxL, -1, axis=1)
    next_seg_BxL = jnp.roll(segment_ids_BxL, -1, axis=1).at[:, -1].set(0)
    weights_BxL = (segment_ids_BxL > 0) & (next_seg_BxL == segment_ids_BxL)
    return targets_BxL, weights_BxL


def next_token_loss(logits_BxLxV, targets_BxL, weights_BxL, z_loss=0.0):
    """Mean cross entropy over tokens with weight > 0, all in float32.

    targets are already the next token (`next_token_targets` shifts them within a segment);
    weights are 0 for padding / document ends. z_loss adds z_loss * mean(logZ^2),
    which keeps the softmax normaliser near 0 (PaLM) and is cheap insurance for
    bfloat16 logits. Returns (loss, {"ce", "z_loss", "tokens"}).
    """
    return weighted_loss(*token_nll(logits_BxLxV, targets_BxL), weights_BxL, z_loss)


def weighted_loss(nll_BxL, log_z_BxL, weights_BxL, z_loss=0.0, denominator=None):
    """`next_token_loss` from per-token NLL and log Z (see `token_nll`). `denominator`: the
    token count to average over, where this batch is one microbatch of a larger one (its
    shares then add up to the whole batch's loss); default this batch's own."""
    w_BxL = weights_BxL.astype(jnp.float32)
    tokens = jnp.sum(w_BxL)
    denom = tokens if denominator is None else denominator
    denom = jnp.where(denom > 0, denom, 1.0)
    ce = jnp.sum(nll_BxL * w_BxL) / denom
    z_term = z_loss * jnp.sum(jnp.square(log_z_BxL) * w_BxL) / denom
    loss = ce + z_term
    return loss, {"ce": ce, "z_loss": z_term, "tokens": tokens}


def model_token_nll(model, tokens_BxL, positions_BxL, segment_ids_BxL, targets_BxL):
    """`token_nll` of a Decoder's logits; blockwise when `cfg.loss_vocab_block` is set,
    so that [B, L, V] is never held (model/blockwise_ce.py)."""
    if block := model.cfg.loss_vocab_block:
        h_BxLxD = model.hidden(tokens_BxL, positions_BxL, segment_ids_BxL)
        with jax.named_scope("loss"):  # a label for profiles only
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
