"""Rotary position embeddings, applied the way Cohere applies them.

Cohere (transformers' modeling_cohere.py) rotates INTERLEAVED pairs
(x[2i], x[2i+1]) by angle pos * theta^(-2i/D), unlike Llama's half-split
(x[i], x[i + D/2]). Using the other convention would silently break exported
checkpoints, so tests compare against transformers. Computed in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def apply_rope(x_BxLxHxD: jax.Array, positions_BxL: jax.Array, theta: float) -> jax.Array:
    """Rotates each interleaved pair of the last axis by its position's angle."""
    D = x_BxLxHxD.shape[-1]
    inv_freq_K = 1.0 / (theta ** (jnp.arange(0, D, 2, dtype=jnp.float32) / D))
    angle_BxLxK = positions_BxL.astype(jnp.float32)[..., None] * inv_freq_K
    sin_BxLx1xK = jnp.sin(angle_BxLxK)[:, :, None, :]
    cos_BxLx1xK = jnp.cos(angle_BxLxK)[:, :, None, :]
    x = x_BxLxHxD.astype(jnp.float32)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    out_even = x_even * cos_BxLx1xK - x_odd * sin_BxLx1xK
    out_odd = x_odd * cos_BxLx1xK + x_even * sin_BxLx1xK
    out = jnp.stack([out_even, out_odd], axis=-1).reshape(x.shape)
    return out.astype(x_BxLxHxD.dtype)
