"""The embedding lookup's gradient: autodiff's in float32, summed in float32 under bfloat16."""

import re

import jax
import jax.numpy as jnp
import numpy as np

from code_in_pretraining.model.embed import embed

V, D, N = 64, 32, 8192


def _inputs():
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.zipf(1.3, (4, N // 4)) % V, jnp.int32)  # token 1 fills a quarter of the batch
    table = jnp.asarray(rng.normal(size=(V, D)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(4, N // 4, D)), jnp.float32)
    return table, tokens, g


def _exact(tokens, g):
    out = np.zeros((V, D))
    np.add.at(out, np.asarray(tokens).ravel(), np.asarray(g, np.float64).reshape(-1, D))
    return out


def _row_errors(got, want):
    rows = np.linalg.norm(want, axis=1) > 0
    return np.linalg.norm(np.asarray(got, np.float64) - want, axis=1)[rows] / np.linalg.norm(want, axis=1)[rows]


def test_float32_matches_autodiff():
    table, tokens, g = _inputs()
    out, vjp = jax.vjp(lambda t: embed(t, tokens, "float32"), table)
    ref, ref_vjp = jax.vjp(lambda t: jnp.take(t, tokens, axis=0), table)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_allclose(vjp(g)[0], ref_vjp(g)[0], rtol=1e-5, atol=1e-4)  # another order of additions


def test_bfloat16_gradient_sums_in_float32():
    table, tokens, g = _inputs()
    g = g.astype(jnp.bfloat16)
    out, vjp = jax.vjp(lambda t: embed(t, tokens, "bfloat16"), table)
    assert out.dtype == jnp.bfloat16
    (got,) = vjp(g)
    assert got.dtype == jnp.float32
    exact = _exact(tokens, g)
    assert _row_errors(got, exact).max() < 1e-5
    # What autodiff of the same lookup gives: a bfloat16 sum, percent-level off on frequent tokens.
    (plain,) = jax.vjp(lambda t: jnp.take(t.astype(jnp.bfloat16), tokens, axis=0), table)[1](g)
    assert _row_errors(plain, exact).max() > 1e-2

    compiled = jax.jit(lambda t, g: jax.vjp(lambda t: embed(t, tokens, "bfloat16"), t)[1](g)).lower(table, g).compile()
    scatter_dtypes = re.findall(r"= (\w+)\[[\d,]*\][^ ]* scatter\(", compiled.as_text())
    assert scatter_dtypes == ["f32"]
