"""Batched generation with a KV cache: greedy or temperature / top-p sampling.

Prompts are left-truncated to leave room for `max_new_tokens`, left-padded to a
bucketed length and prefilled in one pass; then tokens are decoded `chunk` at a
time inside one jit-compiled scan. Between chunks the host stops early once every
row has produced EOS or one of its stop strings. Compiles once per (batch,
prompt bucket, cache size).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from code_in_pretraining.eval import kv_cache
from code_in_pretraining.eval.buckets import bucket


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


def sample(logits_BxV, key, temperature: float, top_p: float):
    """Next token per row: argmax at temperature 0, else nucleus sampling."""
    if temperature == 0.0:
        return jnp.argmax(logits_BxV, axis=-1).astype(jnp.int32)
    logits_BxV = logits_BxV.astype(jnp.float32) / temperature
    if top_p < 1.0:
        sorted_BxV = jnp.sort(logits_BxV, axis=-1)[:, ::-1]
        probs_BxV = jax.nn.softmax(sorted_BxV, axis=-1)
        # Keep the smallest prefix whose mass reaches top_p (always the top token).
        keep_BxV = (jnp.cumsum(probs_BxV, axis=-1) - probs_BxV) < top_p
        cutoff_Bx1 = jnp.min(jnp.where(keep_BxV, sorted_BxV, jnp.inf), axis=-1, keepdims=True)
        logits_BxV = jnp.where(logits_BxV >= cutoff_Bx1, logits_BxV, -jnp.inf)
    return jax.random.categorical(key, logits_BxV, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(0, 6, 7))
def _prefill(graphdef, params, tokens_BxP, positions_BxP, valid_BxP, cache, temperature, top_p, key):
    logits_BxPxV, cache = kv_cache.forward(graphdef, params, tokens_BxP, positions_BxP, valid_BxP, cache, 0)
    return sample(logits_BxPxV[:, -1], key, temperature, top_p), cache


@functools.partial(jax.jit, static_argnums=(0, 6, 7, 8))
def _decode_chunk(graphdef, params, token_B, position_B, index, cache, temperature, top_p, steps, key):
    """`steps` decode steps from token_B at slot `index`; returns the new tokens [B, steps]."""

    def step(carry, key_t):
        token_B, position_B, index, cache = carry
        valid_Bx1 = jnp.ones((token_B.shape[0], 1), bool)
        logits_Bx1xV, cache = kv_cache.forward(graphdef, params, token_B[:, None], position_B[:, None],
                                               valid_Bx1, cache, index)
        nxt_B = sample(logits_Bx1xV[:, 0], key_t, temperature, top_p)
        return (nxt_B, position_B + 1, index + 1, cache), nxt_B

    carry, toks_LxB = jax.lax.scan(step, (token_B, position_B, index, cache), jax.random.split(key, steps))
    return toks_LxB.T, carry


def generate_ids(graphdef, params, cfg, prompts: list[list[int]], sampling: SamplingConfig, *,
                 eos_id: int, max_len: int, key=None, chunk: int = 16,
                 finished: Callable[[list[int]], bool] | None = None) -> list[list[int]]:
    """New token ids per prompt (EOS excluded), one batch of len(prompts) rows.

    `finished(ids)` lets the caller stop a row early (a stop string appeared).
    """
    key = jax.random.PRNGKey(0) if key is None else key
    n_new = sampling.max_new_tokens
    budget = max(1, max_len - n_new)
    prompts = [list(p)[-budget:] or [eos_id] for p in prompts]
    B = len(prompts)
    P = bucket(max(len(p) for p in prompts), maximum=budget)
    steps_total = -(-n_new // chunk) * chunk
    cache = kv_cache.init_cache(cfg, B, P + steps_total)
    tokens = np.zeros((B, P), np.int32)
    valid = np.zeros((B, P), bool)
    positions = np.zeros((B, P), np.int32)
    for b, p in enumerate(prompts):
        pad = P - len(p)
        tokens[b, pad:], valid[b, pad:] = p, True
        positions[b, pad:] = np.arange(len(p))
    key, k0 = jax.random.split(key)
    first_B, cache = _prefill(graphdef, params, tokens, positions, valid, cache,
                              float(sampling.temperature), float(sampling.top_p), k0)
    out = np.asarray(first_B)[:, None]
    token_B, position_B, index = first_B, jnp.asarray([len(p) for p in prompts], jnp.int32), P
    while out.shape[1] < n_new and not all(_done(row, eos_id, finished) for row in out):
        key, k = jax.random.split(key)
        new_BxL, (token_B, position_B, index, cache) = _decode_chunk(
            graphdef, params, token_B, position_B, index, cache,
            float(sampling.temperature), float(sampling.top_p), chunk, k)
        out = np.concatenate([out, np.asarray(new_BxL)], axis=1)
    results = []
    for row in out[:, :n_new].tolist():
        results.append(row[:row.index(eos_id)] if eos_id in row else row)
    return results


def _done(row, eos_id, finished) -> bool:
    ids = row.tolist()
    return eos_id in ids or (finished is not None and finished(ids))


def truncate_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """The text before the earliest stop string."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]
