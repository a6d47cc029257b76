"""Batched log-likelihood of continuations given contexts (multiple-choice scoring).

A request is (context_ids, continuation_ids). The model reads context +
continuation, left-truncated to `max_len + 1` tokens, and we sum the
log-probabilities of the continuation's tokens and note whether each was the
argmax (greedy). A continuation longer than `max_len` (a canonical solution
whose bits per byte are measured) is scored in pieces of `max_len // 2` tokens,
each after as much of what precedes it as fits, so that every one of its tokens
counts. Rows are
right-padded to a bucketed length and batches to a fixed size, so jit compiles
once per length bucket. Params are a pure dict under `jax.jit`: whatever
sharding they carry is kept, one device or many.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from code_in_pretraining.eval.buckets import bucket


@functools.partial(jax.jit, static_argnums=0)
def _score(graphdef, params, tokens_BxL, targets_BxL, segment_ids_BxL, cont_mask_BxL):
    model = nnx.merge(graphdef, params)
    logits_BxLxV = model(tokens_BxL, None, segment_ids_BxL)
    logp_BxLxV = jax.nn.log_softmax(logits_BxLxV.astype(jnp.float32), axis=-1)
    logp_BxL = jnp.take_along_axis(logp_BxLxV, targets_BxL[..., None], axis=-1)[..., 0]
    greedy_BxL = jnp.argmax(logp_BxLxV, axis=-1) == targets_BxL
    mask = cont_mask_BxL.astype(bool)
    logprob_B = jnp.sum(jnp.where(mask, logp_BxL, 0.0), axis=-1)
    greedy_B = jnp.all(jnp.where(mask, greedy_BxL, True), axis=-1)
    return logprob_B, greedy_B


def _row(context: list[int], continuation: list[int], max_len: int) -> tuple[list[int], int]:
    """Input+target token string (length <= max_len + 1) and the continuation length in it."""
    if not continuation:
        raise ValueError("empty continuation")
    full = (list(context) + list(continuation))[-(max_len + 1):]
    return full, min(len(continuation), len(full) - 1)


def _pieces(context: list[int], continuation: list[int], max_len: int) -> list[tuple[list[int], list[int]]]:
    """The whole continuation as requests of at most max_len tokens, each after what precedes it."""
    if len(continuation) <= max_len:
        return [(context, continuation)]
    size = max(1, max_len // 2)
    return [(list(context) + list(continuation[:i]), continuation[i:i + size])
            for i in range(0, len(continuation), size)]


def loglikelihood(graphdef, params, requests: list[tuple[list[int], list[int]]], *, max_len: int,
                  batch_size: int = 8) -> list[tuple[float, bool]]:
    """(sum log p(continuation | context), continuation is greedy) per request, in order."""
    pieces = [_pieces(c, x, max_len) for c, x in requests]
    if any(len(p) > 1 for p in pieces):
        scored = iter(loglikelihood(graphdef, params, [q for p in pieces for q in p], max_len=max_len,
                                    batch_size=batch_size))
        parts = [[next(scored) for _ in p] for p in pieces]
        return [(sum(lp for lp, _ in ps), all(g for _, g in ps)) for ps in parts]
    rows = [_row(c, x, max_len) for c, x in requests]
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        L = bucket(max(len(rows[i][0]) - 1 for i in idx), maximum=max_len)
        tokens = np.zeros((batch_size, L), np.int32)
        targets = np.zeros((batch_size, L), np.int32)
        segments = np.zeros((batch_size, L), np.int32)
        cont = np.zeros((batch_size, L), np.int32)
        for b, i in enumerate(idx):
            full, n_cont = rows[i]
            n = len(full) - 1
            tokens[b, :n], targets[b, :n], segments[b, :n] = full[:-1], full[1:], 1
            cont[b, n - n_cont:n] = 1
        logprob_B, greedy_B = _score(graphdef, params, tokens, targets, segments, cont)
        logprob_B, greedy_B = np.asarray(logprob_B), np.asarray(greedy_B)
        for b, i in enumerate(idx):
            out[i] = (float(logprob_B[b]), bool(greedy_B[b]))
    return out
