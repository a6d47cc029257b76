"""Parameter count, FLOPs per token and memory per device of a model config.

Nothing here allocates parameters: shapes come from `nnx.eval_shape`, shardings
from the rule table and a mesh *shape* (no devices needed), so the 2.8B numbers
can be computed on a laptop (`cip model-info`).
"""

from __future__ import annotations

import math

import jax
from flax import nnx

from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.parallel import mesh as mesh_lib
from code_in_pretraining.parallel import rules as rules_lib

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def abstract_state(cfg: ModelConfig):
    """The model's nnx State of Params with ShapeDtypeStruct values (no allocation)."""
    from code_in_pretraining.model.decoder import Decoder

    model = nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0)))
    return nnx.state(model, nnx.Param)


def _variables(state):
    return jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    """Exact counts: total (tied embedding once), input embedding, the rest."""
    state = abstract_state(cfg)
    total = sum(math.prod(v.shape) for v in _variables(state))
    embedding = cfg.vocab_size * cfg.d_model
    return {"params": total, "params_embedding": embedding, "params_non_embedding": total - embedding}


def flops_per_token(cfg: ModelConfig, seq_len: int) -> dict[str, int]:
    """Training FLOPs per token, PaLM's convention (Chowdhery et al. 2022, App. B).

      flops = 6 * N_matmul + 12 * n_layers * n_heads * head_dim * seq_len

    N_matmul counts every parameter used in a matrix multiply: all dense kernels
    plus the output projection (the tied embedding, or the untied unembedding).
    The input lookup and the norm weights cost no matmul FLOPs. The attention
    term counts QK^T and AV over the full [L, L] square (causal masking is not
    discounted), forward (2x) + backward (4x). Remat recompute is NOT included,
    so this is the model-FLOPs numerator of MFU.
    """
    L, D, H, Dh, V = cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.head_dim, cfg.vocab_size
    matmul_params = L * _layer_params(cfg) + V * D
    dense = 6 * matmul_params
    attention = 12 * L * H * Dh * seq_len
    return {
        "flops_per_token": dense + attention,
        "flops_per_token_dense": dense,
        "flops_per_token_attention": attention,
        "params_matmul": matmul_params,
    }


def _activation_bytes_per_token_per_layer(cfg: ModelConfig, tensor: int, remat: str) -> float:
    """Saved-for-backward activations of one block per token (compute dtype).

    Estimate, assuming a flash-style kernel (no [L, L] scores kept); heads and mlp
    activations are split over `tensor`.
    """
    b = DTYPE_BYTES[cfg.dtype]
    D, H, K, Dh, F = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.mlp_dim
    qkv = (H + 2 * K) * Dh / tensor
    if remat == "full":  # only the block input
        return b * D
    if remat == "save_dots":  # input + projection outputs (q, k, v, o, gate, up, down)
        return b * (D + qkv + 2 * D + 2 * F / tensor)
    # none: input, norm out, q/k/v before and after rope, attention out, gate, up, act
    return b * (2 * D + 2 * qkv + H * Dh / tensor + 3 * F / tensor) + 4 * H / tensor


def _layer_params(cfg: ModelConfig) -> int:
    D, H, K, Dh, F = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.mlp_dim
    return D * (H + 2 * K) * Dh + H * Dh * D + 3 * D * F


def memory_per_device(
    cfg: ModelConfig, mesh_shape=(1, 1, 1), batch: int = 512, seq_len: int = 8192, remat: str | None = None,
    microbatches: int = 1,
) -> dict[str, float]:
    """Bytes per device: params, grads, AdamW moments (sharded per the rules), activations, and
    the working copies of the weights.

    Params, grads and both Adam moments are held in `param_dtype`. Activations are an estimate
    for one microbatch: per-layer saved tensors for the remat policy, plus one block's working
    set when rematerialising, plus float32 logits and their gradient (one vocabulary block of
    them with `loss_vocab_block`). Weights: the embedding table gathered whole in the compute
    dtype (the lookup and the loss share it), its float32 gradient before it is reduced (and
    the loss's rows of it, in the compute dtype, with the blockwise loss), and one layer's
    gathered weights (forward and recompute) with their float32 gradient. Against the compiled
    step (`cip train --compile-only`) the total is within about 10% for the presets on TPU slices
    (benchmarks/RESULTS.md, "TPU slices").
    """
    remat = cfg.remat if remat is None else remat
    sizes = dict(zip(mesh_lib.AXES, mesh_shape))
    state = abstract_state(cfg)
    param_bytes = 0.0
    pb = DTYPE_BYTES[cfg.param_dtype]
    for v in _variables(state):
        spec = mesh_lib.variable_spec(v, sizes)
        split = 1
        for entry in spec:
            for ax in rules_lib.axes_of(entry):
                split *= sizes[ax]
        param_bytes += pb * math.prod(v.shape) / split
    tensor = sizes["tensor"]
    tokens = batch * seq_len / (sizes["data"] * sizes["fsdp"] * microbatches)
    per_layer = _activation_bytes_per_token_per_layer(cfg, tensor, remat)
    act = tokens * per_layer * cfg.n_layers
    if remat != "none":  # one block recomputed at a time during backward
        act += tokens * _activation_bytes_per_token_per_layer(cfg, tensor, "none")
    vocab = min(cfg.loss_vocab_block or cfg.vocab_size, cfg.vocab_size)
    act += tokens * 2 * 4 * vocab / tensor  # float32 logits + their gradient
    b = DTYPE_BYTES[cfg.dtype]
    table = cfg.vocab_size * cfg.d_model
    weights = table * (b + 4 + (b if cfg.loss_vocab_block else 0)) + _layer_params(cfg) / tensor * (2 * b + 4)
    out = {"params": param_bytes, "grads": param_bytes, "optimizer": 2 * param_bytes, "activations": act,
           "weights_working": weights}
    out["total"] = sum(out.values())
    return out


def model_info(cfg: ModelConfig, *, seq_len=8192, mesh_shape=(1, 1, 1), batch=512, remat=None,
               microbatches: int = 1) -> dict:
    info = {**param_counts(cfg), **flops_per_token(cfg, seq_len)}
    info.update(
        seq_len=seq_len,
        mesh=dict(zip(mesh_lib.AXES, mesh_shape)),
        batch=batch,
        remat=cfg.remat if remat is None else remat,
        microbatches=microbatches,
        memory_per_device_bytes=memory_per_device(cfg, mesh_shape, batch, seq_len, remat, microbatches),
        config=cfg.to_dict(),
    )
    return info
