"""Gradient accumulation (TrainConfig.microbatches): the batch split inside one jitted step
gives the plain step's loss, metrics and update, to float32 rounding."""

import jax
import numpy as np
import optax
from flax import nnx

from code_in_pretraining.model.config import get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.train import step as step_lib


def _batch(B=8, L=32, vocab=256):
    rng = np.random.default_rng(1)
    idx = np.arange(L)[None, :]
    cut = rng.integers(4, L - 4, (B,))[:, None]
    seg = np.where(idx < cut, 1, 2).astype(np.int32)
    seg[: B // 2, -5:] = 0  # rows with different token counts: the shares must weigh by tokens
    return {"tokens": rng.integers(1, vocab, (B, L)).astype(np.int32),
            "positions": np.where(idx < cut, idx, idx - cut).astype(np.int32), "segment_ids": seg,
            "source_ids": (np.arange(B)[:, None] % 2 + 0 * idx).astype(np.int8)}


def test_accumulated_step_equals_plain_step():
    cfg = get_preset("tiny", vocab_size=256, d_model=32, n_layers=1, n_heads=2, head_dim=16, mlp_dim=64)
    graphdef, state = nnx.split(Decoder(cfg, rngs=nnx.Rngs(0)))
    params = nnx.to_pure_dict(state)
    sched = optax.constant_schedule(1e-3)
    # Plain SGD with lr 1: the update is the gradient itself, compared to float32 rounding (Adam's
    # first step divides each gradient by its magnitude, magnifying the rounding of those near 0).
    tx = optax.sgd(1.0)
    batch = _batch()
    out = {}
    for k in (1, 4):
        fn = step_lib.make_train_step(graphdef, tx, sched, z_loss=1e-4, num_sources=2, microbatches=k)
        p = jax.tree.map(np.array, params)  # fresh buffers: the step donates its inputs
        new_params, _, metrics = fn(p, tx.init(p), batch, 0)
        out[k] = (new_params, metrics)
    (p1, m1), (p4, m4) = out[1], out[4]
    for key in ("loss", "ce", "z_loss", "tokens", "grad_norm", "source_nll", "source_tokens"):
        np.testing.assert_allclose(np.asarray(m4[key]), np.asarray(m1[key]), rtol=2e-6, atol=1e-7, err_msg=key)
    for a, b, p0 in zip(jax.tree.leaves(p4), jax.tree.leaves(p1), jax.tree.leaves(params)):
        np.testing.assert_allclose(np.asarray(a) - p0, np.asarray(b) - p0, rtol=1e-5, atol=1e-7)
