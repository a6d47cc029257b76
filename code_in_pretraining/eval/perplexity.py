"""Held-out per-source perplexity: every validation document read once, packed."""

from __future__ import annotations

import math

import grain
import jax
import jax.numpy as jnp
from flax import nnx
from tqdm import tqdm

from code_in_pretraining.data import materialize
from code_in_pretraining.data.packing import pack_sequentially
from code_in_pretraining.model.loss import model_token_nll, next_token_targets


def _nll_sum(graphdef, params, batch):
    """Summed next-token NLL and token count of a packed batch (exact over batches)."""
    model = nnx.merge(graphdef, params)
    targets_BxL, weights_BxL = next_token_targets(batch["tokens"], batch["segment_ids"])
    nll_BxL, _ = model_token_nll(  # the training loss's own per-token NLL
        model, batch["tokens"], batch["positions"], batch["segment_ids"], targets_BxL)
    w_BxL = weights_BxL.astype(jnp.float32)
    return jnp.sum(nll_BxL * w_BxL), jnp.sum(w_BxL)


_nll_sum_jit = jax.jit(_nll_sum, static_argnums=0)


def source_perplexity(graphdef, params, shard_paths, *, seq_len: int, batch: int,
                      max_tokens: int | None = None, progress: bool = False) -> dict[str, float]:
    """Mean NLL (nats/token) and perplexity over one source's held-out documents."""
    docs = grain.MapDataset.source(grain.sources.ArrayRecordDataSource([str(p) for p in shard_paths])).map(
        materialize.decode_record)
    total, count = 0.0, 0.0
    for rows in tqdm(pack_sequentially(iter(docs), batch, seq_len), desc=f"eval {shard_paths[0].parent.name}",
                     disable=not progress, leave=False):
        s, n = _nll_sum_jit(graphdef, params, rows.model_inputs())
        total, count = total + float(s), count + float(n)
        if max_tokens and count >= max_tokens:
            break
    nll = total / max(count, 1.0)
    return {"nll": nll, "perplexity": math.exp(nll), "tokens": int(count)}


def evaluate(graphdef, params, tasks, *, seq_len: int, batch: int = 8, max_tokens: int | None = None,
             split: str = "validation", progress: bool = False) -> dict[str, dict[str, float]]:
    """Perplexity per task on its held-out split."""
    return {t: source_perplexity(graphdef, params, materialize.materialize_shards(t, split, progress=progress),
                                 seq_len=seq_len, batch=batch, max_tokens=max_tokens, progress=progress)
            for t in tasks}
