"""The blockwise unembedding + cross entropy equals the whole-logits loss, in value,
gradients and the training step, and holds far less memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from code_in_pretraining.model.blockwise_ce import blockwise_token_nll
from code_in_pretraining.model.config import get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.model.loss import token_nll
from code_in_pretraining.train import step as step_lib


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _problem(dtype, B=2, L=9, D=32, V=301, seed=0):
    k = jax.random.split(jax.random.key(seed), 4)
    h = jax.random.normal(k[0], (B, L, D), dtype)
    table = (jax.random.normal(k[1], (V, D)) * 0.5).astype(dtype)
    targets = jax.random.randint(k[2], (B, L), 0, V)
    g_nll, g_lz = jax.random.normal(k[3], (2, B, L))  # arbitrary cotangents for both outputs
    return h, table, targets, g_nll, g_lz


def _objective(nll_fn):
    """A scalar that weighs nll and log Z per token, so both cotangents are exercised."""
    def f(h, table, targets, g_nll, g_lz):
        nll, log_z = nll_fn(h, table, targets)
        return jnp.sum(nll * g_nll) + jnp.sum(jnp.square(log_z) * g_lz)
    return f


def _whole(h, table, targets, scale=0.25):
    logits = jnp.einsum("bld,vd->blv", h, table, preferred_element_type=jnp.float32) * scale
    return token_nll(logits, targets)


@pytest.mark.parametrize("dtype, block, tol", [(jnp.float32, 64, 1e-5), (jnp.float32, 301, 1e-5),
                                               (jnp.float32, 512, 1e-5), (jnp.bfloat16, 64, 1e-2)],
                         ids=["f32_ragged_blocks", "f32_one_block", "f32_block_over_V", "bf16"])
def test_matches_whole_logits(dtype, block, tol):
    h, table, targets, g_nll, g_lz = _problem(dtype)
    ours = lambda h, table, t: blockwise_token_nll(h, table, t, 0.25, block)
    for a, b in zip(jax.jit(ours)(h, table, targets), _whole(h, table, targets)):
        assert a.dtype == jnp.float32 and a.shape == b.shape
        assert rel(a, b) < tol
    grad = lambda f: jax.jit(jax.grad(_objective(f), argnums=(0, 1)))(h, table, targets, g_nll, g_lz)
    for label, a, b in zip(("dh", "dtable"), grad(ours), grad(_whole)):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape, label
        assert rel(a, b) < tol, f"{label}: {rel(a, b):.2e}"


def _step_setup(block, vocab=2048, L=64, B=2):
    cfg = get_preset("tiny", vocab_size=vocab, loss_vocab_block=block)
    graphdef, state = nnx.split(Decoder(cfg, rngs=nnx.Rngs(0)))
    params = nnx.to_pure_dict(state)
    rng = np.random.default_rng(0)
    seg = np.repeat(np.arange(1, 5, dtype=np.int32), L // 4)[None].repeat(B, 0)
    seg[:, -5:] = 0  # trailing padding
    batch = {"tokens": jnp.asarray(rng.integers(0, vocab, (B, L)), jnp.int32),
             "positions": jnp.asarray(np.tile(np.arange(L // 4), 4)[None].repeat(B, 0), jnp.int32),
             "segment_ids": jnp.asarray(seg), "source_ids": jnp.asarray(seg % 2)}
    return graphdef, params, batch


def test_train_loss_and_gradients_match():
    """batch_loss with loss_vocab_block equals the whole-logits loss, per source too."""
    results = []
    for block in (0, 500):  # 500 does not divide the 2048 vocabulary
        graphdef, params, batch = _step_setup(block)
        f = lambda p: step_lib.batch_loss(graphdef, p, batch, z_loss=1e-3, num_sources=2)
        results.append(jax.jit(jax.value_and_grad(f, has_aux=True))(params))
    ((loss0, aux0), g0), ((loss1, aux1), g1) = results
    assert abs(float(loss1) - float(loss0)) < 1e-5 * abs(float(loss0))
    for key in ("ce", "z_loss", "source_nll", "source_tokens"):
        np.testing.assert_allclose(aux1[key], aux0[key], rtol=1e-5)
    assert float(optax.tree.norm(jax.tree.map(jnp.subtract, g1, g0))) < 1e-5 * float(optax.tree.norm(g0))


def _temp_bytes(block, vocab, L, B=1):
    graphdef, params, batch = _step_setup(block, vocab=vocab, L=L, B=B)
    f = jax.jit(jax.grad(lambda p: step_lib.batch_loss(graphdef, p, batch)[0]))
    return f.lower(params).compile().memory_analysis().temp_size_in_bytes


def test_holds_far_less_memory_than_whole_logits():
    """Compiled scratch memory of the loss gradient, vocabulary 65,536 x 512 tokens: whole
    float32 logits and their gradient are 2 x 134 MB; the blockwise loss holds a block."""
    vocab, L = 65536, 512
    whole, blockwise = _temp_bytes(0, vocab, L), _temp_bytes(4096, vocab, L)
    logits_bytes = L * vocab * 4
    assert whole >= logits_bytes
    assert blockwise < whole / 4, (blockwise, whole)
