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


def _cached_attention(q_BxLxHxDh, k_BxSxKxDh, v_BxSxKxDh, mask_BxLxS):
    """Grouped-query attention of L new queries over S cached slots, softmax in float32."""
    B, L, H, Dh = q_BxLxHxDh.shape
    K = k_BxSxKxDh.shape[2]
    G = H // K
    q_BxLxKxGxDh = q_BxLxHxDh.reshape(B, L, K, G, Dh).astype(jnp.float32)
    s_BxKxGxLxS = jnp.einsum("blkgd,bskd->bkgls", q_BxLxKxGxDh, k_BxSxKxDh.astype(jnp.float32),
                             precision=jax.lax.Precision.HIGHEST) * jnp.float32(Dh ** -0.5)
    mask_Bx1x1xLxS = mask_BxLxS[:, None, None]
    s_BxKxGxLxS = jnp.where(mask_Bx1x1xLxS, s_BxKxGxLxS, -jnp.inf)
    row_max = jnp.max(s_BxKxGxLxS, axis=-1, keepdims=True)
    row_max = jnp.where(jnp.isfinite(row_max), row_max, 0.0)
    p_BxKxGxLxS = jnp.where(mask_Bx1x1xLxS, jnp.exp(s_BxKxGxLxS - row_max), 0.0)
    denom = jnp.sum(p_BxKxGxLxS, axis=-1, keepdims=True)
    p_BxKxGxLxS = p_BxKxGxLxS / jnp.where(denom == 0.0, 1.0, denom)
    o_BxKxGxLxDh = jnp.einsum("bkgls,bskd->bkgld", p_BxKxGxLxS, v_BxSxKxDh.astype(jnp.float32),
                              precision=jax.lax.Precision.HIGHEST)
    return o_BxKxGxLxDh.transpose(0, 3, 1, 2, 4).reshape(B, L, H, Dh).astype(q_BxLxHxDh.dtype)


def forward(graphdef, params, tokens_BxL, positions_BxL, valid_BxL, cache: Cache, index):
    """Logits [B, L, V] (float32) of L new tokens written at cache slots [index, index + L).

    A query at slot index + t sees the valid slots up to and including its own.
    """
    model = nnx.merge(graphdef, params)
    cfg = model.cfg
    dt = jnp.dtype(cfg.dtype)
    B, L = tokens_BxL.shape
    S = cache.valid_BxS.shape[1]
    valid_BxS = jax.lax.dynamic_update_slice(cache.valid_BxS, valid_BxL, (0, index))
    slot_S = jnp.arange(S)
    query_slot_L = index + jnp.arange(L)
    mask_BxLxS = (slot_S[None, :] <= query_slot_L[:, None])[None] & valid_BxS[:, None, :]

    x_BxLxD = jnp.take(model.embedding_VxD[...].astype(dt), tokens_BxL, axis=0)
    ks, vs = [], []
    for n, block in enumerate(model.blocks):
        attn = block.attn
        h_BxLxD = block.norm(x_BxLxD)
        q_BxLxHxDh = jnp.einsum("bld,dhk->blhk", h_BxLxD, attn.q_DxHxDh[...].astype(dt))
        k_BxLxKxDh = jnp.einsum("bld,dhk->blhk", h_BxLxD, attn.k_DxKxDh[...].astype(dt))
        v_BxLxKxDh = jnp.einsum("bld,dhk->blhk", h_BxLxD, attn.v_DxKxDh[...].astype(dt))
        q_BxLxHxDh = apply_rope(q_BxLxHxDh, positions_BxL, cfg.rope_theta)
        k_BxLxKxDh = apply_rope(k_BxLxKxDh, positions_BxL, cfg.rope_theta)
        k_BxSxKxDh = jax.lax.dynamic_update_slice(cache.k_NxBxSxKxDh[n], k_BxLxKxDh.astype(dt),
                                                  (0, index, 0, 0))
        v_BxSxKxDh = jax.lax.dynamic_update_slice(cache.v_NxBxSxKxDh[n], v_BxLxKxDh.astype(dt),
                                                  (0, index, 0, 0))
        ks.append(k_BxSxKxDh)
        vs.append(v_BxSxKxDh)
        o_BxLxHxDh = _cached_attention(q_BxLxHxDh, k_BxSxKxDh, v_BxSxKxDh, mask_BxLxS)
        attn_BxLxD = jnp.einsum("blhk,hkd->bld", o_BxLxHxDh, attn.o_HxDhxD[...].astype(dt))
        x_BxLxD = x_BxLxD + attn_BxLxD + block.mlp(h_BxLxD)

    h_BxLxD = model.final_norm(x_BxLxD)
    unembed = "bld,vd->blv" if cfg.tie_embeddings else "bld,dv->blv"
    table = model.embedding_VxD if cfg.tie_embeddings else model.unembed_DxV
    logits_BxLxV = jnp.einsum(unembed, h_BxLxD, table[...].astype(dt), preferred_element_type=jnp.float32)
    logits_BxLxV = logits_BxLxV.astype(jnp.float32) * jnp.float32(cfg.logit_scale)
    return logits_BxLxV, Cache(jnp.stack(ks), jnp.stack(vs), valid_BxS)
