"""Attention kernels vs the xla reference (CPU, Pallas interpret mode).

Shapes are tiny because interpret mode is slow; they still cover lengths that
are not a multiple of the tile, head dims 64/128, grouped-query heads, packed
documents with trailing padding, non-causal and non-monotonic segment ids.
"""

import dataclasses
import logging
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import pallas as pl

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks.tools.packings import random_documents  # noqa: E402
from code_in_pretraining import kernels  # noqa: E402
from code_in_pretraining.kernels import dispatch, pallas_gpu, pallas_tpu, reference, relaxed_add  # noqa: E402

SMALL = pallas_gpu.BlockSizes(
    block_q=32, block_k=64, block_q_dkv=32, block_k_dkv=64, block_q_dq=64, block_k_dq=32
)  # the forward's query tiles shorter than its key tiles (as on a GPU), dQ's taller
FUSED = dataclasses.replace(SMALL, fused_bwd=True)  # one backward kernel, atomic dQ


def rel(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def inputs(B, L, H, K, D, dtype=jnp.float32, seed=0):
    ks = jax.random.split(jax.random.key(seed), 4)
    return (
        jax.random.normal(ks[0], (B, L, H, D), dtype),
        jax.random.normal(ks[1], (B, L, K, D), dtype),
        jax.random.normal(ks[2], (B, L, K, D), dtype),
        jax.random.normal(ks[3], (B, L, H, D), dtype),
    )


def packed(B, L, seed=0, pad=0, mean=40):
    """Random document lengths, ids 1, 2, ...; the last `pad` tokens are 0."""
    seg = random_documents(B, L, mean, seed).segment_ids
    if pad:
        for b in range(B):
            seg[b, L - pad - 7 * b :] = 0
    return jnp.asarray(seg)


def run_impl(name, q, k, v, seg, do, causal):
    if name in ("pallas_gpu", "pallas_gpu_fused"):
        blocks = FUSED if name == "pallas_gpu_fused" else SMALL
        f = lambda q, k, v: pallas_gpu.attention(
            q, k, v, seg, causal=causal, block_sizes=blocks, interpret=True
        )
    elif name == "pallas_tpu":
        f = lambda q, k, v: pallas_tpu.attention(q, k, v, seg, causal=causal, interpret=True)
    else:
        f = lambda q, k, v: reference.attention(q, k, v, seg, causal=causal)

    @jax.jit  # one compile beats op-by-op dispatch of interpret mode by ~3x
    def fwd_bwd(q, k, v, do):
        o, vjp = jax.vjp(f, q, k, v)
        return (o, *vjp(do))

    return fwd_bwd(q, k, v, do)


CASES = {
    # name: (B, L, H, K, D, dtype, segments, causal)
    "f32_L200_gqa_packed_pad": (2, 200, 4, 2, 64, jnp.float32, "packed", True),
    "f32_L128_d128_mha": (1, 128, 2, 2, 128, jnp.float32, None, True),
    "bf16_L200_mqa_packed": (2, 200, 4, 1, 64, jnp.bfloat16, "packed", True),
    "f32_noncausal_packed": (2, 96, 2, 1, 64, jnp.float32, "packed", False),
    "f32_noncausal_L200": (1, 200, 2, 2, 64, jnp.float32, None, False),
    "f32_nonmonotonic": (1, 160, 2, 1, 64, jnp.float32, "nonmono", True),
    # Documents of ~100 tokens: many tiles inside one document run unmasked.
    "f32_L384_longdocs": (1, 384, 2, 1, 32, jnp.float32, "long", True),
    # Documents that start inside a diagonal tile and go on past it.
    "f32_L384_spans": (2, 384, 2, 1, 32, jnp.float32, "spans", True),
}


def _segments(kind, B, L):
    if kind == "packed":
        return packed(B, L, pad=20)
    if kind == "long":
        return packed(B, L, seed=3, pad=40, mean=100)
    if kind == "spans":  # L=384, B<=2: documents over several tiles, starting inside tiles and at their edges
        seg = np.zeros((B, L), np.int32)
        for b, starts in enumerate([(0, 80, 200, 256, 330, 370), (0, 40, 64, 190, 300, 384)][:B]):
            for d, (s0, s1) in enumerate(zip(starts, starts[1:])):
                seg[b, s0:s1] = d + 1
        return jnp.asarray(seg)
    if kind == "nonmono":  # ids revisit earlier values: 1 2 1 3 2 0
        ids = np.repeat(np.array([1, 2, 1, 3, 2, 0], np.int32), -(-L // 6))[:L]
        return jnp.asarray(np.broadcast_to(ids, (B, L)).copy())
    return None


@pytest.mark.parametrize("impl", ["pallas_gpu", "pallas_gpu_fused", "pallas_tpu"])
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_matches_reference(impl, case):
    B, L, H, K, D, dtype, seg_kind, causal = CASES[case]
    if impl != "pallas_gpu" and case in ("f32_L128_d128_mha", "f32_noncausal_L200"):
        pytest.skip("covered by other cases; keeps the suite fast")
    q, k, v, do = inputs(B, L, H, K, D, dtype)
    seg = _segments(seg_kind, B, L)
    got = run_impl(impl, q, k, v, seg, do, causal)
    want = run_impl("xla", q, k, v, seg, do, causal)
    tol = 1e-5 if dtype == jnp.float32 else 1e-2
    for label, a, b in zip(("o", "dq", "dk", "dv"), got, want):
        assert a.dtype == b.dtype == dtype, label
        assert a.shape == b.shape, label
        err = rel(a, b)
        assert err <= tol, f"{impl} {case} {label}: rel err {err:.2e} > {tol}"


def _numpy_attention(q, k, v, seg, causal):
    """The definition, one query at a time."""
    B, L, H, D = q.shape
    G = H // k.shape[2]
    out = np.zeros_like(q)
    for b in range(B):
        for h in range(H):
            for t in range(L):
                if seg is not None and seg[b, t] == 0:
                    continue
                keys = [
                    s for s in range(L) if (not causal or s <= t) and (seg is None or seg[b, s] == seg[b, t])
                ]
                logits = np.array([q[b, t, h] @ k[b, s, h // G] for s in keys])
                logits = logits / np.sqrt(D)
                w = np.exp(logits - logits.max())
                w /= w.sum()
                out[b, t, h] = sum(wi * v[b, s, h // G] for wi, s in zip(w, keys))
    return out


@pytest.mark.parametrize("causal", [True, False])
def test_reference_matches_numpy_loop(causal):
    q, k, v, _ = inputs(2, 7, 4, 2, 8)
    seg = np.array([[1, 1, 2, 2, 2, 0, 0], [3, 3, 3, 3, 4, 4, 4]], np.int32)
    got = reference.attention(q, k, v, jnp.asarray(seg), causal=causal)
    want = _numpy_attention(*(np.asarray(x, np.float64) for x in (q, k, v)), seg, causal)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    got = reference.attention(q, k, v, None, causal=causal)
    want = _numpy_attention(*(np.asarray(x, np.float64) for x in (q, k, v)), None, causal)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", ["xla", "pallas_gpu"])
def test_no_attention_across_segments(impl):
    """Changing one document's k/v leaves every other document's output alone."""
    B, L, H, K, D = 1, 96, 2, 1, 64
    q, k, v, _ = inputs(B, L, H, K, D)
    seg = np.ones((B, L), np.int32)
    seg[:, 30:70] = 2
    seg[:, 70:90] = 3
    seg[:, 90:] = 0
    doc2 = (seg == 2)[:, :, None, None]
    k2 = jnp.where(doc2, k + 5.0, k)
    v2 = jnp.where(doc2, v * -3.0, v)
    f = lambda k, v: kernels.attention(
        q,
        k,
        v,
        jnp.asarray(seg),
        implementation=impl,
        interpret=True,
        **({"block_sizes": SMALL} if impl == "pallas_gpu" else {}),
    )
    a, b = np.asarray(f(k, v)), np.asarray(f(k2, v2))
    others = (seg != 2)[0]
    np.testing.assert_array_equal(a[:, others], b[:, others])
    assert not np.allclose(a[:, ~others], b[:, ~others])
    # Padding rows are exact zeros.
    assert np.all(a[:, 90:] == 0)


def test_forward_single_masked_loop_matches():
    """split_fwd=False (one masked loop) computes the same forward."""
    q, k, v, _ = inputs(1, 384, 2, 1, 32)
    seg = _segments("long", 1, 384)
    one = dataclasses.replace(SMALL, split_fwd=False)
    f = lambda blocks: pallas_gpu.attention(q, k, v, seg, block_sizes=blocks, interpret=True)
    assert rel(f(one), f(SMALL)) < 1e-6


@pytest.mark.parametrize("impl", ["pallas_gpu", "pallas_gpu_fused"])
def test_padding_gets_zero_gradients(impl):
    B, L, H, K, D = 1, 80, 2, 2, 64
    q, k, v, do = inputs(B, L, H, K, D)
    seg = np.ones((B, L), np.int32)
    seg[:, 50:] = 0
    _, dq, dk, dv = run_impl(impl, q, k, v, jnp.asarray(seg), do, True)
    for g in (dq, dk, dv):
        assert np.all(np.asarray(g)[:, 50:] == 0)
        assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("fused_bwd", [False, True])
def test_gpu_kernels_lower_to_triton(fused_bwd):
    """Forward and backward lower through Pallas' Triton path (no GPU needed), so
    an op Triton cannot take fails here rather than on the card."""
    blocks = pallas_gpu.BlockSizes.for_head_dim(128, fused_bwd=fused_bwd)
    x = jax.ShapeDtypeStruct((1, 256, 4, 128), jnp.bfloat16)
    kv = jax.ShapeDtypeStruct((1, 256, 2, 128), jnp.bfloat16)
    seg = jax.ShapeDtypeStruct((1, 256), jnp.int32)
    loss = lambda q, k, v, s: pallas_gpu.attention(q, k, v, s, block_sizes=blocks).astype(jnp.float32).sum()
    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    hlo = grad.trace(x, kv, kv, seg).lower(lowering_platforms=("cuda",)).as_text()
    names = ["cip_flash_fwd"] + (["cip_flash_bwd_fused"] if fused_bwd else ["cip_flash_bwd_dq", "cip_flash_bwd_dkv"])
    for name in names:
        assert name in hlo, name
    assert hlo.count("__gpu$xla.gpu.triton") == len(names)


@pytest.mark.parametrize("relaxed", [True, False])
def test_relaxed_add_sums_tiles(monkeypatch, relaxed):
    """Grid steps add their tiles into one shared buffer, as the fused backward adds dQ.
    Without JAX's internals, `add` falls back to Pallas' atomic_add, with the same sums."""
    if not relaxed:
        monkeypatch.setattr(relaxed_add, "_bind", None)
    x = jnp.arange(4 * 4 * 16, dtype=jnp.float32).reshape(4, 4, 16)

    def kernel(x_ref, acc_in_ref, acc_ref):
        del acc_in_ref  # the same buffer as acc_ref
        rows = pl.ds((pl.program_id(0) % 2) * 4, 4)
        relaxed_add.add(acc_ref, (rows, slice(None)), x_ref[...])

    acc = pl.pallas_call(
        kernel,
        grid=(4,),
        in_specs=[pl.BlockSpec((None, 4, 16), lambda i: (i, 0, 0)), pl.BlockSpec((8, 16), lambda i: (0, 0))],
        out_specs=pl.BlockSpec((8, 16), lambda i: (0, 0)),
        out_shape=jax.ShapeDtypeStruct((8, 16), jnp.float32),
        input_output_aliases={1: 0},
        interpret=True,
    )(x, jnp.ones((8, 16), jnp.float32))
    np.testing.assert_array_equal(acc, 1 + jnp.concatenate([x[0] + x[2], x[1] + x[3]]))


def _tiles(seg, causal, rows, cols, key_side):
    L = seg.shape[1]
    cfg = pallas_gpu._Config(causal=causal, sm_scale=1.0, has_segments=True, blocks=SMALL, interpret=True)
    lo, *_, hi = pallas_gpu._bounds(seg, cfg, rows, cols, key_side=key_side)
    assert lo.shape == (seg.shape[0], L // rows)
    return int(jnp.sum(hi - lo))


def test_packed_documents_skip_tiles():
    """Short packed documents visit far fewer tiles than one causal sequence."""
    L = 1024
    seg_packed = packed(1, L, mean=64)
    seg_one = jnp.ones((1, L), jnp.int32)
    for key_side in (False, True):
        n_packed = _tiles(seg_packed, True, 64, 64, key_side)
        n_causal = _tiles(seg_one, True, 64, 64, key_side)
        assert n_causal == 16 * 17 // 2
        assert n_packed < 0.4 * n_causal
    # Ids that revisit earlier values (runs 1 2 1 3 2 0 of 171 tokens): a query tile reaches
    # back to the first key tile holding one of its ids (tile 9, all 3s, to tile 8 where the 3s
    # start; tile 10, 3s and 2s, to tile 2 where the first 2 is); all-padding tiles are empty.
    nonmono = _segments("nonmono", 1, L)
    cfg = pallas_gpu._Config(causal=True, sm_scale=1.0, has_segments=True, blocks=SMALL, interpret=True)
    lo, *_, hi = pallas_gpu._bounds(nonmono, cfg, 64, 64, key_side=False)
    assert np.asarray(lo)[0].tolist() == [0, 0, 0, 2, 2, 0, 0, 0, 0, 8, 2, 2, 2, 2, 0, 0]
    assert np.asarray(hi)[0].tolist() == list(range(1, 15)) + [0, 0]
    # All-padding tiles are empty.
    seg_pad = jnp.asarray(np.r_[np.ones(512), np.zeros(512)].astype(np.int32))[None]
    assert _tiles(seg_pad, True, 64, 64, False) == 8 * 9 // 2


def _visible(seg, causal):
    """[B, Lq, Lk] exact visibility, from the definition."""
    seg = np.asarray(seg)
    L = seg.shape[1]
    vis = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] != 0)
    if causal:
        vis &= np.tril(np.ones((L, L), bool))[None]
    return vis


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("kind", ["long", "spans", "nonmono", "none", "dense"])
@pytest.mark.parametrize("rows,cols", [(32, 64), (64, 32)])
def test_tile_bounds_are_exact(kind, causal, rows, cols):
    """[first, end) tiles need no mask, the diagonal run (query side [end, diag), key
    side [diag, first)) no segment mask, and the far side of the mask-free run (query
    side [lo, first), key side [end, hi)) no causal mask; tiles outside [lo, hi) are
    invisible. For packings whose ids never decrease, [lo, hi) starts and ends at
    visible tiles, and no tile keeps a mask it could drop."""
    L = 384
    if kind == "dense":  # one document, then padding
        seg = jnp.asarray(np.r_[np.ones(300), np.zeros(84)].astype(np.int32))[None]
    elif kind == "none":
        seg = jnp.ones((2, L), jnp.int32)
    else:
        seg = _segments(kind, 2, L)
    vis, same_doc = _visible(seg, causal), _visible(seg, False)
    after = np.tril(np.ones((L, L), bool))[None] | (not causal)  # queries at or after keys
    monotone = kind != "nonmono"
    for key_side in (False, True):
        cfg = pallas_gpu._Config(
            causal=causal, sm_scale=1.0, has_segments=kind != "none", blocks=SMALL, interpret=True
        )
        r, c = (cols, rows) if key_side else (rows, cols)
        bounds = np.stack([np.asarray(x) for x in pallas_gpu._bounds(seg, cfg, r, c, key_side=key_side)])
        assert np.all(np.diff(bounds, axis=0) >= 0)
        if key_side:
            lo, diag, first, end, hi = bounds
        else:
            lo, first, end, diag, hi = bounds
        v = vis.transpose(0, 2, 1) if key_side else vis
        s = same_doc.transpose(0, 2, 1) if key_side else same_doc
        a = after.transpose(0, 2, 1) if key_side else after
        n_full = n_diag = 0
        for b in range(seg.shape[0]):
            for i in range(L // r):
                tiles = v[b, i * r : (i + 1) * r].reshape(r, L // c, c)
                any_c, all_c = tiles.any(axis=(0, 2)), tiles.all(axis=(0, 2))
                same_c = s[b, i * r : (i + 1) * r].reshape(r, L // c, c).all(axis=(0, 2))
                inside = np.zeros(L // c, bool)
                inside[lo[b, i] : hi[b, i]] = True
                assert not np.any(any_c & ~inside), (key_side, b, i)
                assert np.all(all_c[first[b, i] : end[b, i]]), (key_side, b, i)
                n_full += end[b, i] - first[b, i]
                # The masked tiles on the diagonal's side of the mask-free run, and those of them
                # that take the causal mask alone.
                side = slice(end[b, i], hi[b, i]) if not key_side else slice(lo[b, i], first[b, i])
                run = slice(end[b, i], diag[b, i]) if not key_side else slice(diag[b, i], first[b, i])
                assert np.all(same_c[run]), (key_side, b, i)
                after_c = a[0, i * r : (i + 1) * r].reshape(r, L // c, c).all(axis=(0, 2))
                far = slice(lo[b, i], first[b, i]) if not key_side else slice(end[b, i], hi[b, i])
                assert np.all(after_c[far]), (key_side, b, i)
                n_diag += run.stop - run.start
                if monotone:  # no fully visible tile missed, no tile wasted, no mask kept in vain
                    assert all_c.sum() == end[b, i] - first[b, i], (key_side, b, i)
                    if hi[b, i] > lo[b, i]:
                        assert any_c[lo[b, i]] and any_c[hi[b, i] - 1], (key_side, b, i)
                    if causal:
                        assert same_c[side].sum() == run.stop - run.start, (key_side, b, i)
                        assert not np.any(after_c[side]), (key_side, b, i)
        if monotone:
            assert n_full > 0
        if causal and kind in ("long", "spans", "dense"):
            assert n_diag > 0


def test_dispatch_unknown_implementation():
    q, k, v, _ = inputs(1, 8, 2, 2, 16)
    with pytest.raises(ValueError, match="valid: .*xla.*pallas_gpu"):
        kernels.attention(q, k, v, implementation="flash9000")


def test_dispatch_cudnn_rejects_segments():
    q, k, v, _ = inputs(1, 8, 2, 2, 16)
    with pytest.raises(ValueError, match="cudnn.*segment_ids"):
        kernels.attention(q, k, v, jnp.ones((1, 8), jnp.int32), implementation="cudnn")


def test_dispatch_shape_errors():
    q, k, v, _ = inputs(1, 8, 4, 3, 16)
    with pytest.raises(ValueError, match="divide"):
        kernels.attention(q, k, v, implementation="xla")


@pytest.mark.parametrize("impl", ["pallas_gpu", "pallas_gpu_fused"])
def test_pallas_gpu_rejects_a_non_positive_scale(impl):
    """The GPU kernels mask raw scores and scale them inside the exponential, which is
    only right for a positive scale; "auto" falls back to xla for such a call."""
    q, k, v, _ = inputs(1, 16, 2, 1, 16)
    with pytest.raises(ValueError, match="positive sm_scale"):
        kernels.attention(q, k, v, implementation=impl, sm_scale=-0.25, interpret=True)
    assert dispatch.unsupported_reason(impl, q, k, 0.0) is not None
    assert dispatch.unsupported_reason(impl, q, k, 0.25) is None


def test_dispatch_auto_on_cpu_is_reference():
    q, k, v, _ = inputs(1, 16, 2, 1, 16)
    np.testing.assert_array_equal(
        np.asarray(kernels.attention(q, k, v)), np.asarray(reference.attention(q, k, v))
    )


def test_dispatch_auto_falls_back_and_logs_once(monkeypatch, caplog):
    monkeypatch.setattr(dispatch.jax, "default_backend", lambda: "gpu")
    dispatch._logged_reasons.clear()
    q, k, v, _ = inputs(1, 8, 2, 2, 512)  # head_dim too large for the kernel
    with caplog.at_level(logging.WARNING, logger=dispatch.__name__):
        for _ in range(3):
            out = kernels.attention(q, k, v)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(reference.attention(q, k, v)))
    msgs = [r.getMessage() for r in caplog.records if "falling back" in r.message]
    assert len(msgs) == 1 and "head_dim" in msgs[0]
    with pytest.raises(ValueError, match="head_dim"):
        kernels.attention(q, k, v, implementation="pallas_gpu")
    # Integer inputs: another reason, logged separately.
    qi, ki, vi = (x.astype(jnp.int32) for x in inputs(1, 8, 2, 2, 16)[:3])
    with caplog.at_level(logging.WARNING, logger=dispatch.__name__):
        kernels.attention(qi, ki, vi)
    assert any("dtype" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("impl", ["pallas_gpu", "pallas_gpu_fused"])
def test_dispatch_pallas_gpu_under_jit(impl):
    q, k, v, do = inputs(1, 40, 2, 1, 64)
    f = lambda impl, blocks: lambda q, k, v: kernels.attention(
        q, k, v, implementation=impl, interpret=True, block_sizes=blocks
    )
    got = jax.jit(lambda *a: jax.vjp(f(impl, SMALL), *a)[1](do))(q, k, v)
    want = jax.jit(lambda *a: jax.vjp(f("xla", None), *a)[1](do))(q, k, v)
    for a, b in zip(got, want):
        assert rel(a, b) < 1e-5
