"""Decoder: shapes, masking, packing, presets, remat, GQA, config errors, model-info."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from code_in_pretraining.model import info
from code_in_pretraining.model.config import ModelConfig, get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.model.loss import next_token_loss, token_nll
from code_in_pretraining.model.rope import apply_rope

V = 97


def tiny(**kw):
    kw = {
        "vocab_size": V,
        "d_model": 64,
        "n_heads": 4,
        "head_dim": 16,
        "mlp_dim": 96,
        "dtype": "float32",
        **kw,
    }
    return get_preset("tiny", **kw)


class Jitted:
    """Calls a Decoder through nnx.jit: eager op-by-op dispatch is slow on CPU."""

    def __init__(self, model):
        self.model = model
        self._fn = nnx.jit(lambda m, *args: m(*args))

    def __call__(self, *args):
        return self._fn(self.model, *args)


@pytest.fixture(scope="module")
def model():
    return Jitted(Decoder(tiny(), rngs=nnx.Rngs(0)))


def tokens(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(1, V, shape), jnp.int32)


def test_shapes_and_float32_logits(model):
    logits = model(tokens((2, 12)))
    assert logits.shape == (2, 12, V) and logits.dtype == jnp.float32
    bf16 = Jitted(Decoder(tiny(dtype="bfloat16"), rngs=nnx.Rngs(0)))
    out = bf16(tokens((2, 12)))
    assert out.dtype == jnp.float32
    assert bf16.model.blocks[0].attn.q_DxHxDh[...].dtype == jnp.float32  # params stay f32
    np.testing.assert_allclose(out, model(tokens((2, 12))), atol=0.05)


def test_causal_future_token_does_not_change_past(model):
    t = tokens((1, 16))
    t2 = t.at[0, 10].set((t[0, 10] + 1) % V)
    a, b = model(t), model(t2)
    np.testing.assert_array_equal(a[:, :10], b[:, :10])
    assert not np.allclose(a[:, 10:], b[:, 10:])


def test_other_packed_document_does_not_leak(model):
    t = tokens((1, 16))
    seg = jnp.asarray([[1] * 6 + [2] * 10], jnp.int32)
    pos = jnp.asarray([list(range(6)) + list(range(10))], jnp.int32)
    t2 = t.at[0, 2].set((t[0, 2] + 1) % V)  # change document 1 only
    a, b = model(t, pos, seg), model(t2, pos, seg)
    np.testing.assert_array_equal(a[:, 6:], b[:, 6:])
    assert not np.allclose(a[:, :6], b[:, :6])


def test_positions_restart_packed_equals_alone(model):
    doc_a, doc_b = tokens((1, 5), seed=1), tokens((1, 11), seed=2)
    packed = jnp.concatenate([doc_a, doc_b], axis=1)
    seg = jnp.asarray([[1] * 5 + [2] * 11], jnp.int32)
    pos = jnp.asarray([list(range(5)) + list(range(11))], jnp.int32)
    out = model(packed, pos, seg)
    np.testing.assert_allclose(out[:, 5:], model(doc_b), atol=1e-5)
    np.testing.assert_allclose(out[:, :5], model(doc_a), atol=1e-5)


def test_unpacked_batch_needs_no_segment_ids(model):
    """No segment ids (the kernels then skip the document mask) is one document per row, for
    the model and for the training loss."""
    from code_in_pretraining.train import step as step_lib

    t = tokens((2, 12), seed=3)
    pos = jnp.broadcast_to(jnp.arange(12, dtype=jnp.int32), (2, 12))
    ones = jnp.ones((2, 12), jnp.int32)
    np.testing.assert_allclose(model(t), model(t, pos, ones), rtol=1e-6, atol=1e-6)
    graphdef, params = nnx.split(model.model)
    loss = lambda b: step_lib.batch_loss(graphdef, params, b)[0]
    assert float(loss({"tokens": t})) == pytest.approx(
        float(loss({"tokens": t, "positions": pos, "segment_ids": ones})), rel=1e-6)


def test_padding_segment_is_finite(model):
    seg = jnp.asarray([[1] * 10 + [0] * 6], jnp.int32)
    out = model(tokens((1, 16)), None, seg)
    assert np.isfinite(np.asarray(out)).all()


def test_rope_is_interleaved_pairs():
    x = jnp.zeros((1, 1, 1, 4)).at[..., 0].set(1.0)  # first pair (x0, x1) = (1, 0)
    out = apply_rope(x, jnp.asarray([[1]]), theta=10_000.0)
    np.testing.assert_allclose(out[0, 0, 0], [np.cos(1.0), np.sin(1.0), 0, 0], atol=1e-6)


@pytest.mark.parametrize("name,target", [("470m", 470e6), ("2p8b", 2.8e9)])
def test_preset_param_counts(name, target):
    n = info.param_counts(get_preset(name))["params"]  # nnx.eval_shape: no allocation
    assert abs(n - target) / target < 0.02, n


def test_param_count_matches_real_model(model):
    n = sum(x.size for x in jax.tree.leaves(nnx.state(model.model, nnx.Param)))
    assert info.param_counts(tiny())["params"] == n


def _loss_and_grads(cfg, batch):
    model = Decoder(cfg, rngs=nnx.Rngs(0))

    def loss_fn(m):
        logits = m(batch["tokens"], batch["positions"], batch["segment_ids"])
        return next_token_loss(logits, batch["targets"], batch["weights"], z_loss=1e-4)

    return nnx.jit(nnx.value_and_grad(loss_fn, has_aux=True))(model)


def _batch():
    t = tokens((2, 16), seed=3)
    return {
        "tokens": t,
        "targets": jnp.roll(t, -1, axis=1),
        "positions": jnp.tile(jnp.arange(16), (2, 1)),
        "segment_ids": jnp.ones((2, 16), jnp.int32),
        "weights": jnp.ones((2, 16)).at[:, -1].set(0.0),
    }


def test_remat_policies_same_loss_and_grads():
    batch = _batch()
    (ref_loss, aux), ref_grads = _loss_and_grads(tiny(), batch)
    assert float(aux["tokens"]) == 30.0 and float(aux["z_loss"]) > 0
    for policy in ("full", "save_dots"):
        (loss, _), grads = _loss_and_grads(tiny(remat=policy), batch)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), grads, ref_grads)


def test_gqa_and_untied_run():
    cfg = tiny(n_kv_heads=2, tie_embeddings=False)
    m = Decoder(cfg, rngs=nnx.Rngs(0))
    assert m.blocks[0].attn.k_DxKxDh.shape == (64, 2, 16)
    out = Jitted(m)(tokens((2, 8)))
    assert out.shape == (2, 8, V) and np.isfinite(np.asarray(out)).all()
    n = sum(x.size for x in jax.tree.leaves(nnx.state(m, nnx.Param)))
    assert info.param_counts(cfg)["params"] == n


def test_loss_matches_manual_cross_entropy():
    logits = jax.random.normal(jax.random.key(0), (2, 3, 5))
    targets = jnp.asarray([[0, 1, 2], [3, 4, 0]])
    weights = jnp.asarray([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    loss, aux = next_token_loss(logits, targets, weights)
    logp = jax.nn.log_softmax(logits)
    manual = -(logp[0, 0, 0] + logp[0, 1, 1] + logp[1, 0, 3]) / 3
    np.testing.assert_allclose(loss, manual, rtol=1e-6)
    assert float(aux["tokens"]) == 3.0 and float(aux["z_loss"]) == 0.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_token_nll_matches_two_pass_logsumexp(dtype):
    """The one-pass loss (online logsumexp and target logit in one reduction, own backward)
    against log_softmax: values, and gradients through both outputs (as z-loss uses log Z),
    with logits far from 0 where a naive exp would overflow, and one row of equal logits."""
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    logits = (jax.random.normal(k1, (2, 5, 1000)) * 30 + 200).at[1, 2].set(-7.0).astype(dtype)
    targets = jax.random.randint(k2, (2, 5), 0, 1000)
    g_nll, g_lz = jax.random.normal(k3, (2, 2, 5))

    def two_pass(x, t):
        x = x.astype(jnp.float32)
        log_z = jax.nn.logsumexp(x, axis=-1)
        return log_z - jnp.take_along_axis(x, t[..., None], axis=-1)[..., 0], log_z

    for a, b in zip(token_nll(logits, targets), two_pass(logits, targets)):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=2e-5)
    np.testing.assert_allclose(token_nll(logits, targets)[1][1, 2], -7.0 + np.log(1000), atol=1e-5)
    objective = lambda f: lambda x: jnp.sum(f(x, targets)[0] * g_nll) + jnp.sum(jnp.square(f(x, targets)[1]) * g_lz)
    got, want = jax.grad(objective(token_nll))(logits), jax.grad(objective(two_pass))(logits)
    assert got.dtype == dtype
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), rtol=1e-2, atol=1e-2)
    # One reduction over the vocabulary in the forward, where logsumexp needs two (max, then sum).
    reductions = lambda f: sum("stablehlo.reduce(" in line and "dimensions = [2]" in line
                               for line in jax.jit(f).lower(logits, targets).as_text().splitlines())
    assert reductions(token_nll) == 1 and reductions(two_pass) == 2


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"n_kv_heads": 3}, "n_kv_heads"),
        ({"remat": "some"}, "remat"),
        ({"dtype": "int8"}, "dtype"),
        ({"head_dim": 15}, "head_dim"),
        ({"d_model": 0}, "d_model"),
        ({"attention_impl": "magic"}, "attention_impl"),
    ],
)
def test_config_errors_name_the_field(kw, field):
    with pytest.raises(ValueError, match=rf"ModelConfig\.{field}"):
        tiny(**kw)


def test_preset_lookup_errors():
    with pytest.raises(ValueError, match="known: .*470m"):
        get_preset("nope")
    with pytest.raises(ValueError, match="unknown ModelConfig field.*d_modle"):
        get_preset("tiny", d_modle=3)


def test_config_json_roundtrip():
    cfg = get_preset("470m", remat="full")
    assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_cli_model_info_json(capsys):
    from code_in_pretraining.cli import main

    assert main(["model-info", "--preset", "470m", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == info.param_counts(get_preset("470m"))["params"]
    assert out["flops_per_token"] > 6 * out["params"]
    assert out["memory_per_device_bytes"]["total"] > 0
