"""The output projection's custom backward: autodiff's gradients, compute-dtype matmuls."""

import re

import jax
import jax.numpy as jnp
import numpy as np

from code_in_pretraining.model.unembed import unembed

B, L, D, V, SCALE = 2, 8, 16, 40, 0.0625


def _inputs(dtype):
    kh, kw, kg = jax.random.split(jax.random.key(0), 3)
    h = jax.random.normal(kh, (B, L, D), jnp.float32).astype(dtype)
    w = jax.random.normal(kw, (V, D), jnp.float32).astype(dtype)
    g = jax.random.normal(kg, (B, L, V), jnp.float32)  # a float32 cotangent, as the loss gives
    return h, w, g


def _autodiff(h, w, out_dtype):
    ldt = jnp.dtype(out_dtype)
    return jnp.einsum("bld,vd->blv", h, w, preferred_element_type=ldt) * ldt.type(SCALE)


def test_float32_matches_autodiff():
    h, w, g = _inputs(jnp.float32)
    out, vjp = jax.vjp(lambda h, w: unembed(h, w, SCALE, "float32"), h, w)
    ref, ref_vjp = jax.vjp(lambda h, w: _autodiff(h, w, "float32"), h, w)
    np.testing.assert_array_equal(out, ref)
    for got, want in zip(vjp(g), ref_vjp(g)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_bfloat16_backward_runs_bfloat16_matmuls():
    h, w, g = _inputs(jnp.bfloat16)
    grads = lambda f: jax.vjp(f, h, w)[1](g.astype(f(h, w).dtype))
    got = grads(lambda h, w: unembed(h, w, SCALE, "float32"))
    want = grads(lambda h, w: _autodiff(h.astype(jnp.float32), w.astype(jnp.float32), "float32"))
    for a, b in zip(got, want):
        assert a.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=2e-2, atol=2e-2)

    def loss(h, w, project=lambda h, w: unembed(h, w, SCALE, "float32")):
        return jnp.sum(jax.nn.logsumexp(project(h, w), axis=-1))

    hlo = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(h, w).as_text()
    dots = [line for line in hlo.splitlines() if "stablehlo.dot_general" in line]
    assert len(dots) == 3  # forward, dH, dTable
    for line in dots:
        operands = re.search(r":\s*\((tensor<[^>]*>),\s*(tensor<[^>]*>)\)", line).groups()
        assert all(t.endswith("xbf16>") for t in operands), line
    # Autodiff of the same forward multiplies float32 operands in the backward.
    plain = jax.jit(jax.grad(lambda h, w: loss(h, w, lambda h, w: _autodiff(h, w, "float32")), argnums=(0, 1)))
    plain_dots = [line for line in plain.lower(h, w).as_text().splitlines() if "stablehlo.dot_general" in line]
    assert any("xf32>, tensor" in line for line in plain_dots)


def test_bfloat16_logits():
    h, w, g = _inputs(jnp.bfloat16)
    out, vjp = jax.vjp(lambda h, w: unembed(h, w, SCALE, "bfloat16"), h, w)
    ref, ref_vjp = jax.vjp(lambda h, w: _autodiff(h, w, "bfloat16"), h, w)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(out, ref)
    for got, want in zip(vjp(g.astype(jnp.bfloat16)), ref_vjp(g.astype(jnp.bfloat16))):
        np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), rtol=1e-2, atol=1e-2)
