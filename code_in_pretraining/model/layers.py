"""The pieces of one Cohere-style block: LayerNorm, attention, SwiGLU MLP.

Parameters are float32 (`cfg.param_dtype`) and are cast to the compute dtype
(`cfg.dtype`) where used. Every parameter carries logical axis names
(`parallel.rules`), and kernels keep heads as their own axis ([D, H, Dh]) so the
rule table can shard heads over `tensor` without reshapes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.model import sharded_attention
from code_in_pretraining.model.rope import apply_rope
from code_in_pretraining.parallel.rules import ACT_BxLxD, constrain, partitioned


def _dense_init(in_axis, out_axis, scale=1.0):
    """Truncated-normal fan-in init for kernels whose in/out span several axes."""
    return nnx.initializers.variance_scaling(
        scale, "fan_in", "truncated_normal", in_axis=in_axis, out_axis=out_axis
    )


class LayerNorm(nnx.Module):
    """Cohere's LayerNorm: mean-centred, learned weight, no bias, float32 math."""

    def __init__(self, cfg: ModelConfig):
        self.eps = cfg.norm_eps
        self.weight = nnx.Param(
            partitioned(nnx.initializers.ones, "norm")(None, (cfg.d_model,), jnp.dtype(cfg.param_dtype))
        )

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        x = x_BxLxD.astype(jnp.float32)
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.eps)
        y = y * self.weight[...].astype(jnp.float32)
        return y.astype(x_BxLxD.dtype)


class Attention(nnx.Module):
    """Grouped-query self-attention with interleaved RoPE; masking lives in kernels."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        D, H, K, Dh = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        pd = jnp.dtype(cfg.param_dtype)
        # Residual-branch outputs are scaled by 1/sqrt(2 * n_layers) (GPT-2 style)
        # so the residual stream does not grow with depth at init.
        out_scale = 1.0 / (2 * cfg.n_layers)
        qkv_init = _dense_init(0, (1, 2))
        self.q_DxHxDh = nnx.Param(
            partitioned(qkv_init, "embed", "heads", "head_dim")(rngs.params(), (D, H, Dh), pd)
        )
        self.k_DxKxDh = nnx.Param(
            partitioned(qkv_init, "embed", "kv_heads", "head_dim")(rngs.params(), (D, K, Dh), pd)
        )
        self.v_DxKxDh = nnx.Param(
            partitioned(qkv_init, "embed", "kv_heads", "head_dim")(rngs.params(), (D, K, Dh), pd)
        )
        self.o_HxDhxD = nnx.Param(
            partitioned(_dense_init((0, 1), 2, out_scale), "heads", "head_dim", "embed")(
                rngs.params(), (H, Dh, D), pd
            )
        )

    def __call__(self, h_BxLxD, positions_BxL, segment_ids_BxL):
        # Named scopes are labels for profiles (XLA's op metadata, nothing else): the
        # projections apart from the attention core.
        with jax.named_scope("attn"):
            return self._attend(h_BxLxD, positions_BxL, segment_ids_BxL)

    def _attend(self, h_BxLxD, positions_BxL, segment_ids_BxL):
        cfg, dt = self.cfg, h_BxLxD.dtype
        q_BxLxHxDh = jnp.einsum("bld,dhk->blhk", h_BxLxD, self.q_DxHxDh[...].astype(dt))
        k_BxLxKxDh = jnp.einsum("bld,dhk->blhk", h_BxLxD, self.k_DxKxDh[...].astype(dt))
        v_BxLxKxDh = jnp.einsum("bld,dhk->blhk", h_BxLxD, self.v_DxKxDh[...].astype(dt))
        q_BxLxHxDh = constrain(q_BxLxHxDh, ("act_batch", "act_length", "act_heads", "act_head_dim"))
        kv_axes = ("act_batch", "act_length", "act_kv_heads", "act_head_dim")
        k_BxLxKxDh = constrain(k_BxLxKxDh, kv_axes)
        v_BxLxKxDh = constrain(v_BxLxKxDh, kv_axes)
        with jax.named_scope("attn_core"):
            q_BxLxHxDh = apply_rope(q_BxLxHxDh, positions_BxL, cfg.rope_theta)
            k_BxLxKxDh = apply_rope(k_BxLxKxDh, positions_BxL, cfg.rope_theta)
            o_BxLxHxDh = sharded_attention.attention(
                q_BxLxHxDh, k_BxLxKxDh, v_BxLxKxDh, segment_ids_BxL, implementation=cfg.attention_impl)
        o_BxLxHxDh = constrain(o_BxLxHxDh, ("act_batch", "act_length", "act_heads", "act_head_dim"))
        return jnp.einsum("blhk,hkd->bld", o_BxLxHxDh, self.o_HxDhxD[...].astype(dt))


class Mlp(nnx.Module):
    """SwiGLU: down(silu(gate(h)) * up(h)), no biases."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        D, F = cfg.d_model, cfg.mlp_dim
        pd = jnp.dtype(cfg.param_dtype)
        self.gate_DxF = nnx.Param(partitioned(_dense_init(0, 1), "embed", "mlp")(rngs.params(), (D, F), pd))
        self.up_DxF = nnx.Param(partitioned(_dense_init(0, 1), "embed", "mlp")(rngs.params(), (D, F), pd))
        self.down_FxD = nnx.Param(
            partitioned(_dense_init(0, 1, 1.0 / (2 * cfg.n_layers)), "mlp", "embed")(
                rngs.params(), (F, D), pd
            )
        )

    def __call__(self, h_BxLxD):
        with jax.named_scope("mlp"):
            return self._swiglu(h_BxLxD)

    def _swiglu(self, h_BxLxD):
        dt = h_BxLxD.dtype
        gate_BxLxF = jnp.einsum("bld,df->blf", h_BxLxD, self.gate_DxF[...].astype(dt))
        up_BxLxF = jnp.einsum("bld,df->blf", h_BxLxD, self.up_DxF[...].astype(dt))
        a_BxLxF = constrain(jax.nn.silu(gate_BxLxF) * up_BxLxF, ("act_batch", "act_length", "act_mlp"))
        return jnp.einsum("blf,fd->bld", a_BxLxF, self.down_FxD[...].astype(dt))


class Block(nnx.Module):
    """Parallel block from one pre-norm: x + attn(ln(x)) + mlp(ln(x))."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.norm = LayerNorm(cfg)
        self.attn = Attention(cfg, rngs=rngs)
        self.mlp = Mlp(cfg, rngs=rngs)

    def __call__(self, x_BxLxD, positions_BxL, segment_ids_BxL):
        h_BxLxD = self.norm(x_BxLxD)
        out_BxLxD = x_BxLxD + self.attn(h_BxLxD, positions_BxL, segment_ids_BxL) + self.mlp(h_BxLxD)
        return constrain(out_BxLxD, ACT_BxLxD)
