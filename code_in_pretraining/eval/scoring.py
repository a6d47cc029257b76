"""Batched log-likelihood of continuations given contexts (multiple-choice scoring).

A request is (context_ids, continuation_ids). The model reads context +
continuation, left-truncated to `max_len + 1` tokens (the continuation is
kept whole when it fits), and we sum the log-probabilities of the
continuation's tokens and note whether each was the argmax (greedy). A
continuation longer than `max_len` (a canonical solution whose bits per byte
are measured) is scored in pieces of `max_len // 2` tokens, each after as much
of what precedes it as fits, so that every one of its tokens counts. Requests
are sorted by length, longest first; rows are right-padded to a bucketed
length and batches to a fixed size, so jit compiles once per (length,
continuation length) bucket. Only the continuation's positions are projected
to the vocabulary: the [B, L, V] logits of the context, most of a
multiple-choice request, are never computed. Params are a pure dict under
`jax.jit`: whatever sharding they carry is kept, one device or many.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from code_in_pretraining.eval.buckets import bucket
from code_in_pretraining.model.unembed import unembed


@functools.partial(jax.jit, static_argnums=0)
def _score(graphdef, params, tokens_BxL, segment_ids_BxL, positions_BxC, targets_BxC, mask_BxC):
    """Sum of log p(target) over the masked continuation slots, and whether each target was the argmax.

    positions_BxC: where in the row each continuation token is predicted (the input
    position before it); padded slots are masked out.
    """
    model = nnx.merge(graphdef, params)
    h_BxLxD = model.hidden(tokens_BxL, None, segment_ids_BxL)
    h_BxCxD = jnp.take_along_axis(h_BxLxD, positions_BxC[..., None], axis=1)
    logits_BxCxV = unembed(h_BxCxD, model.unembed_VxD(), model.cfg.logit_scale, "float32")
    logp_BxCxV = jax.nn.log_softmax(logits_BxCxV, axis=-1)
    logp_BxC = jnp.take_along_axis(logp_BxCxV, targets_BxC[..., None], axis=-1)[..., 0]
    greedy_BxC = jnp.argmax(logp_BxCxV, axis=-1) == targets_BxC
    mask = mask_BxC.astype(bool)
    logprob_B = jnp.sum(jnp.where(mask, logp_BxC, 0.0), axis=-1)
    greedy_B = jnp.all(jnp.where(mask, greedy_BxC, True), axis=-1)
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
                  batch_size: int = 8, progress: Callable[[int], object] | None = None) -> list[tuple[float, bool]]:
    """(sum log p(continuation | context), continuation is greedy) per request, in order.

    `progress(n)` is called after each batch with the number of requests (or pieces of one) it scored.
    """
    pieces = [_pieces(c, x, max_len) for c, x in requests]
    if any(len(p) > 1 for p in pieces):
        scored = iter(loglikelihood(graphdef, params, [q for p in pieces for q in p], max_len=max_len,
                                    batch_size=batch_size, progress=progress))
        parts = [[next(scored) for _ in p] for p in pieces]
        return [(sum(lp for lp, _ in ps), all(g for _, g in ps)) for ps in parts]
    rows = [_row(c, x, max_len) for c, x in requests]
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        L = bucket(max(len(rows[i][0]) - 1 for i in idx), maximum=max_len)
        C = bucket(max(rows[i][1] for i in idx), minimum=8, maximum=L)
        tokens = np.zeros((batch_size, L), np.int32)
        segments = np.zeros((batch_size, L), np.int32)
        positions = np.zeros((batch_size, C), np.int32)
        targets = np.zeros((batch_size, C), np.int32)
        mask = np.zeros((batch_size, C), np.int32)
        for b, i in enumerate(idx):
            full, n_cont = rows[i]
            n = len(full) - 1
            tokens[b, :n], segments[b, :n] = full[:-1], 1
            positions[b, :n_cont] = np.arange(n - n_cont, n)
            targets[b, :n_cont], mask[b, :n_cont] = full[n + 1 - n_cont:], 1
        logprob_B, greedy_B = _score(graphdef, params, tokens, segments, positions, targets, mask)
        logprob_B, greedy_B = np.asarray(logprob_B), np.asarray(greedy_B)
        for b, i in enumerate(idx):
            out[i] = (float(logprob_B[b]), bool(greedy_B[b]))
        if progress is not None:
            progress(len(idx))
    return out
