"""A cached forward pass over the Decoder's own parameters, for generation.

The Decoder computes every position from scratch. Here the same blocks (their
LayerNorm, SwiGLU MLP, Q/K/V/O projections and interleaved RoPE) run on the new
tokens only, and attention reads keys and values from a cache. Nothing is
copied: `nnx.merge(graphdef, params)` gives the modules, and the attention
projections are those of `layers.Attention`.

The cache holds S slots per row. All rows write the same slots (`index`); rows
whose prompts are shorter are LEFT-padded, with `valid_BxS` False on padding
slots and their own positions starting at 0 at the first real token, so a padded
row computes exactly what it would alone.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from code_in_pretraining.model.rope import apply_rope


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Cache:
    k_NxBxSxKxDh: jax.Array  # N layers
    v_NxBxSxKxDh: jax.Array
    valid_BxS: jax.Array  # bool: slot holds a real token


def init_cache(cfg, batch: int, slots: int) -> Cache:
    shape = (cfg.n_layers, batch, slots, cfg.n_kv_heads, cfg.head_dim)
    dt = jnp.dtype(cfg.dtype)
    return Cache(jnp.zeros(shape, dt), jnp.zeros(shape, dt), jnp.zeros((batch, slots), bool))


def _cached_attention(q_BxTxHxDh, k_BxSxKxDh, v_BxSxKxDh, mask_BxTxS):
    """Grouped-query attention of T new queries over S cached slots, softmax in float32."""
    B, T, H, Dh = q_BxTxHxDh.shape
    K = k_BxSxKxDh.shape[2]
    G = H // K
    q_BxTxKxGxDh = q_BxTxHxDh.reshape(B, T, K, G, Dh).astype(jnp.float32)
    s_BxKxGxTxS = jnp.einsum("btkgd,bskd->bkgts", q_BxTxKxGxDh, k_BxSxKxDh.astype(jnp.float32),
                             precision=jax.lax.Precision.HIGHEST) * jnp.float32(Dh ** -0.5)
    mask_Bx1x1xTxS = mask_BxTxS[:, None, None]
    s_BxKxGxTxS = jnp.where(mask_Bx1x1xTxS, s_BxKxGxTxS, -jnp.inf)
    row_max = jnp.max(s_BxKxGxTxS, axis=-1, keepdims=True)
    row_max = jnp.where(jnp.isfinite(row_max), row_max, 0.0)
    p_BxKxGxTxS = jnp.where(mask_Bx1x1xTxS, jnp.exp(s_BxKxGxTxS - row_max), 0.0)
    denom = jnp.sum(p_BxKxGxTxS, axis=-1, keepdims=True)
    p_BxKxGxTxS = p_BxKxGxTxS / jnp.where(denom == 0.0, 1.0, denom)
    o_BxKxGxTxDh = jnp.einsum("bkgts,bskd->bkgtd", p_BxKxGxTxS, v_BxSxKxDh.astype(jnp.float32),
                              precision=jax.lax.Precision.HIGHEST)
    return o_BxKxGxTxDh.transpose(0, 3, 1, 2, 4).reshape(B, T, H, Dh).astype(q_BxTxHxDh.dtype)


def forward(graphdef, params, tokens_BxT, positions_BxT, valid_BxT, cache: Cache, index):
    """Logits [B, T, V] (float32) of T new tokens written at cache slots [index, index + T).

    A query at slot index + t sees the valid slots up to and including its own.
    """
    model = nnx.merge(graphdef, params)
    cfg = model.cfg
    dt = jnp.dtype(cfg.dtype)
    B, T = tokens_BxT.shape
    S = cache.valid_BxS.shape[1]
    valid_BxS = jax.lax.dynamic_update_slice(cache.valid_BxS, valid_BxT, (0, index))
    slot_S = jnp.arange(S)
    query_slot_T = index + jnp.arange(T)
    mask_BxTxS = (slot_S[None, :] <= query_slot_T[:, None])[None] & valid_BxS[:, None, :]

    x_BxTxD = jnp.take(model.embedding_VxD[...].astype(dt), tokens_BxT, axis=0)
    ks, vs = [], []
    for n, block in enumerate(model.blocks):
        attn = block.attn
        h_BxTxD = block.norm(x_BxTxD)
        q_BxTxHxDh = jnp.einsum("bld,dhk->blhk", h_BxTxD, attn.q_DxHxDh[...].astype(dt))
        k_BxTxKxDh = jnp.einsum("bld,dhk->blhk", h_BxTxD, attn.k_DxKxDh[...].astype(dt))
        v_BxTxKxDh = jnp.einsum("bld,dhk->blhk", h_BxTxD, attn.v_DxKxDh[...].astype(dt))
        q_BxTxHxDh = apply_rope(q_BxTxHxDh, positions_BxT, cfg.rope_theta)
        k_BxTxKxDh = apply_rope(k_BxTxKxDh, positions_BxT, cfg.rope_theta)
        k_BxSxKxDh = jax.lax.dynamic_update_slice(cache.k_NxBxSxKxDh[n], k_BxTxKxDh.astype(dt),
                                                  (0, index, 0, 0))
        v_BxSxKxDh = jax.lax.dynamic_update_slice(cache.v_NxBxSxKxDh[n], v_BxTxKxDh.astype(dt),
                                                  (0, index, 0, 0))
        ks.append(k_BxSxKxDh)
        vs.append(v_BxSxKxDh)
        o_BxTxHxDh = _cached_attention(q_BxTxHxDh, k_BxSxKxDh, v_BxSxKxDh, mask_BxTxS)
        attn_BxTxD = jnp.einsum("blhk,hkd->bld", o_BxTxHxDh, attn.o_HxDhxD[...].astype(dt))
        x_BxTxD = x_BxTxD + attn_BxTxD + block.mlp(h_BxTxD)

    h_BxTxD = model.final_norm(x_BxTxD)
    unembed = "bld,vd->blv" if cfg.tie_embeddings else "bld,dv->blv"
    table = model.embedding_VxD if cfg.tie_embeddings else model.unembed_DxV
    logits_BxTxV = jnp.einsum(unembed, h_BxTxD, table[...].astype(dt), preferred_element_type=jnp.float32)
    logits_BxTxV = logits_BxTxV.astype(jnp.float32) * jnp.float32(cfg.logit_scale)
    return logits_BxTxV, Cache(jnp.stack(ks), jnp.stack(vs), valid_BxS)
