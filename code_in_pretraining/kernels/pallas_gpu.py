"""Flash attention for NVIDIA GPUs, written in Pallas (Triton backend).

Why our own kernel rather than `jax.experimental.pallas.ops.gpu.attention`:
packed pre-training batches hold many short documents per row, and a kernel
that merely *masks* across documents still pays for the whole causal
triangle. Here the wrapper derives, from `segment_ids`, the range of key
blocks each query block can possibly see (and the range of query blocks each
key block is seen by) and the kernels loop only over that dynamic range. It
also supports grouped-query attention (query head h reads kv head h // G via
the BlockSpec index maps) and sequence lengths that are not a multiple of the
block size (padded internally with segment id 0, i.e. masked).

Within a range, tiles in which every query sees every key (one segment id
shared by both sides, below the causal diagonal) run in a loop without any
mask arithmetic; only boundary and diagonal tiles are masked, and each with
the masks it needs: segment ids alone on the far side of the mask-free run
from the diagonal, causality alone on the diagonal inside one document.
Query-tile grids run the last (for causal, heaviest) tile first. The
backward is two kernels, dQ (which also computes delta = rowsum(dO * O)) and
dK/dV (on transposed [key, query] tiles), so the QK^T and dO V^T products
are computed twice: 7 matmuls per tile pair against 5 for a fused backward.
`BlockSizes(fused_bwd=True)` selects that fused backward instead (its
defaults: `for_head_dim(D, fused_bwd=True)`): one kernel per key tile that
also adds its share of dQ into a float32 buffer with relaxed atomics
(`relaxed_add`). It does 5 matmuls per tile pair, but atomics sum in no
fixed order, so on a GPU its dQ is not bitwise reproducible from run to run;
the default two-kernel backward is.

Numerics: scores, the online softmax and all accumulators are float32; the
softmax runs in base 2 (`_exp2`: masked raw scores, times sm_scale * log2(e),
inside the exponential; on a GPU one FFMA and one ex2.approx.ftz) and the
forward saves the base-2 logsumexp so the backward recomputes probabilities
instead of storing them. Padding queries (segment id 0) output exact zeros
and, because their saved logsumexp is +1e30, contribute exact zero gradients.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl

from code_in_pretraining.kernels import relaxed_add, shapes

# Finite stand-ins for -inf/+inf: masked scores must never produce inf - inf.
_NEG = -1e30
_POS = 1e30
_LOG2E = math.log2(math.e)
_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)


def _compiler_params(num_warps: int, num_stages: int):
    """Triton compiler params; the class was renamed across JAX versions."""
    from jax.experimental.pallas import triton as plgpu  # pylint: disable=g-import-not-at-top

    cls = getattr(plgpu, "CompilerParams", None) or plgpu.TritonCompilerParams
    return cls(num_warps=num_warps, num_stages=num_stages)


class KernelLaunch(NamedTuple):
    """One kernel's query and key tiles, warps and pipeline stages."""

    block_q: int
    block_k: int
    num_warps: int
    num_stages: int


@dataclasses.dataclass(frozen=True)
class BlockSizes:
    """Tile sizes and Triton launch parameters (tiles: powers of two >= 16).

    `for_head_dim` gives the defaults, the winners of per-kernel tuning
    (`benchmarks/attention.py --tune`; figures in benchmarks/RESULTS.md): 64x64 dQ
    and dK/dV tiles with 4 warps, 2 stages (the Triton tutorial's 32x128 dK/dV
    keeps up only at head_dim 64 on long sequences); the forward 64x128 at
    head_dim 64 and 128x64 with 8 warps at head_dim 128.
    `None` warps means 4 for head_dim <= 64, else 8; dq warps/stages default
    to the dK/dV ones (`num_warps_bwd`, `num_stages_bwd`).
    """

    block_q: int = 64
    block_k: int = 128
    block_q_dkv: int = 64
    block_k_dkv: int = 64
    block_q_dq: int = 64
    block_k_dq: int = 64
    num_warps: int | None = 4
    num_stages: int = 2
    num_warps_bwd: int | None = 4
    num_stages_bwd: int = 2
    num_warps_dq: int | None = None
    num_stages_dq: int | None = None
    # With segments, run the forward's mask-free tiles in their own loop (the
    # backward kernels always do). False: one masked loop over all tiles.
    # Tuning like the tiles: with short documents one loop may beat several short ones.
    split_fwd: bool = True
    # One backward kernel with float32 atomic dQ (5 matmuls per tile pair, not
    # bitwise deterministic on a GPU) instead of the dQ and dK/dV kernels.
    fused_bwd: bool = False

    @classmethod
    def for_head_dim(cls, head_dim: int, fused_bwd: bool = False) -> BlockSizes:
        """The fused backward's defaults take 128-key tiles: its atomic dQ traffic is
        head_dim x 4 bytes per visited (query row, key tile) pair, so it halves against
        64-key tiles. 8 warps hold those tiles without spilling registers, with or
        without segments (ptxas for sm_90a: 64x128 at head_dim 64, 32x128 at head_dim 128)."""
        blocks = cls() if head_dim <= 64 else cls(block_q=128, block_k=64, num_warps=8, num_stages=3)
        if not fused_bwd:
            return blocks
        return dataclasses.replace(blocks, block_q_dkv=64 if head_dim <= 64 else 32, block_k_dkv=128,
                                   num_warps_bwd=8, fused_bwd=True)

    def clamp(self, seq_len: int) -> BlockSizes:
        """Shrinks tiles for short sequences so padding stays below one tile."""
        cap = max(16, pl.next_power_of_2(seq_len))
        blocks = {
            f.name: min(getattr(self, f.name), cap)
            for f in dataclasses.fields(self)
            if f.name.startswith("block_")
        }
        for name, b in blocks.items():
            if b < 16 or b & (b - 1):
                raise ValueError(f"{name}={b} must be a power of two >= 16")
        return dataclasses.replace(self, **blocks)

    def kernel(self, kind: str, head_dim: int) -> KernelLaunch:
        """The tiles, warps and stages of one kernel: "fwd", "dq", or "dkv" (the fused
        backward's too). `None` warps become 4 up to head_dim 64, else 8."""
        if kind == "fwd":
            tiles = self.block_q, self.block_k, self.num_warps, self.num_stages
        elif kind == "dq":
            tiles = (self.block_q_dq, self.block_k_dq, self.num_warps_dq or self.num_warps_bwd,
                     self.num_stages_dq or self.num_stages_bwd)
        elif kind == "dkv":
            tiles = self.block_q_dkv, self.block_k_dkv, self.num_warps_bwd, self.num_stages_bwd
        else:
            raise ValueError(f"unknown kernel {kind!r}; known: fwd, dq, dkv")
        bq, bk, warps, stages = tiles
        return KernelLaunch(bq, bk, warps if warps is not None else 4 if head_dim <= 64 else 8, stages)

    @property
    def max_block(self) -> int:
        return max(
            self.block_q,
            self.block_k,
            self.block_q_dkv,
            self.block_k_dkv,
            self.block_q_dq,
            self.block_k_dq,
        )


@dataclasses.dataclass(frozen=True)
class _Config:
    """Static (hashable) parameters of one padded attention problem."""

    causal: bool
    sm_scale: float
    has_segments: bool
    blocks: BlockSizes
    interpret: bool


# --------------------------------------------------------------------------
# Block ranges: which tiles can contain an unmasked entry.
# --------------------------------------------------------------------------


class _TileStats(NamedTuple):
    """Per tile of `size` tokens, each [B, L // size]."""

    lo_id: jax.Array  # smallest nonzero segment id (_INT_MAX for an all-padding tile)
    hi_id: jax.Array  # largest nonzero segment id (_INT_MIN for an all-padding tile)
    first: jax.Array  # first non-padding position
    last: jax.Array  # last non-padding position
    uniform: jax.Array  # every token holds one nonzero id


def _tile_stats(seg_BxL, size: int) -> _TileStats:
    B, L = seg_BxL.shape
    seg_BxNxS = seg_BxL.reshape(B, L // size, size)
    pos_NxS = np.arange(L, dtype=np.int32).reshape(L // size, size)
    valid_BxNxS = seg_BxNxS != 0
    lo_id = jnp.where(valid_BxNxS, seg_BxNxS, _INT_MAX).min(axis=-1)
    hi_id = jnp.where(valid_BxNxS, seg_BxNxS, _INT_MIN).max(axis=-1)
    return _TileStats(
        lo_id,
        hi_id,
        jnp.where(valid_BxNxS, pos_NxS, _INT_MAX).min(axis=-1),
        jnp.where(valid_BxNxS, pos_NxS, -1).max(axis=-1),
        valid_BxNxS.all(axis=-1) & (lo_id == hi_id),
    )


def _first_end(tiles_BxRxC):
    """Per row: the first marked column tile, one past the last, and how many are marked."""
    C = tiles_BxRxC.shape[-1]
    first = jnp.argmax(tiles_BxRxC, axis=-1).astype(jnp.int32)
    end = C - jnp.argmax(tiles_BxRxC[..., ::-1], axis=-1).astype(jnp.int32)
    return first, end, tiles_BxRxC.sum(axis=-1, dtype=jnp.int32)


def _positions(R: int, C: int, rows: int, cols: int, *, causal: bool, key_side: bool):
    """From positions alone, per row tile ([R] each, numpy: constants of the program, built
    without a device, so that a deviceless compile can fold them): [lo, hi), the column
    tiles that can hold a visible pair, and `edge`, from which on (key side) or before which
    (query side) every pair of a tile is causally visible."""
    r_R = np.arange(R, dtype=np.int32)
    if not causal:
        zero, full = np.zeros_like(r_R), np.full_like(r_R, C)
        return zero, full, zero if key_side else full
    if key_side:  # queries from the tile's first key on; whole from past its last
        return r_R * rows // cols, np.full_like(r_R, C), (r_R * rows + rows - 1 + cols - 1) // cols
    # keys up to the tile's last query; whole up to before its first
    return np.zeros_like(r_R), (r_R * rows + rows - 1) // cols + 1, (r_R * rows + 1) // cols


def _split(lo, hi, same_first, same_end, edge, *, key_side: bool, xp=jnp):
    """The five bounds of `_bounds` from the candidates [lo, hi), the one contiguous run
    [same_first, same_end) of tiles that share the row tile's only id (empty: same_end
    <= same_first), and the causal `edge`. Where there is no such run meeting the edge,
    the tiles on the far side of the edge take the segment mask alone, the rest both."""
    if key_side:  # (lo, diag, first, end, hi)
        ok = (same_first < same_end) & (same_end >= edge)
        end = xp.clip(xp.where(ok, same_end, edge), lo, hi)
        first = xp.where(ok, xp.clip(xp.maximum(same_first, edge), lo, end), end)
        diag = xp.where(ok, xp.clip(same_first, lo, first), first)
        return lo, diag, first, end, hi
    # (lo, first, end, diag, hi)
    ok = (same_first < same_end) & (same_first <= edge)
    first = xp.clip(xp.where(ok, same_first, edge), lo, hi)
    end = xp.where(ok, xp.clip(xp.minimum(same_end, edge), first, hi), first)
    diag = xp.where(ok, xp.clip(same_end, end, hi), end)
    return lo, first, end, diag, hi


def _bounds(seg_BxL, cfg: _Config, rows: int, cols: int, *, key_side: bool):
    """Five ascending column-tile bounds per row tile (query side: rows are query tiles,
    columns key tiles; key side, the transpose), each [B, R]: (lo, first, end, diag, hi)
    on the query side, (lo, diag, first, end, hi) on the key side. `_loops` runs the
    tiles between them with the masks of `_QUERY_RUNS` / `_KEY_RUNS`.

    [lo, hi) spans the candidate tiles: those whose range of nonzero segment ids meets
    the row tile's and (causal) whose positions allow a visible pair. For the usual
    packing (nonzero ids never decrease along a row) that is exactly the tiles with a
    visible pair; for any other ids a superset, which the masks keep exact.

    The other bounds come from the run of tiles that hold the row tile's one id and
    nothing else (padding included), which needs no segment mask: [first, end) are
    those every query of which sees every key (mask-free), diag bounds those on the
    causal diagonal (the causal mask alone). The tiles on the far side of the run
    from the diagonal take the segment mask alone, the rest both. Exact for any ids:
    where that run is not contiguous, or stops short of the diagonal, every tile
    takes both masks.
    """
    B, L = seg_BxL.shape
    R, C = L // rows, L // cols
    lo, hi, edge = _positions(R, C, rows, cols, causal=cfg.causal, key_side=key_side)
    if not cfg.has_segments:  # every tile is in the run: numpy constants
        bounds = _split(lo, hi, 0, C, edge, key_side=key_side, xp=np)
        return tuple(np.broadcast_to(b, (B, R)) for b in bounds)
    row, col = _tile_stats(seg_BxL, rows), _tile_stats(seg_BxL, cols)
    c_1xC = np.arange(C, dtype=np.int32)[None, :]
    cand_BxRxC = (col.lo_id[:, None, :] <= row.hi_id[:, :, None]) & (col.hi_id[:, None, :] >= row.lo_id[:, :, None])
    if cfg.causal and key_side:  # against the row's first real key
        cand_BxRxC &= (c_1xC * cols + cols - 1)[None] >= row.first[:, :, None]
    elif cfg.causal:  # against the row's last real query
        cand_BxRxC &= (c_1xC * cols)[None] <= row.last[:, :, None]
    same_BxRxC = row.uniform[:, :, None] & col.uniform[:, None, :] & (row.lo_id[:, :, None] == col.lo_id[:, None, :])
    lo, hi, n_cand = _first_end(cand_BxRxC)
    lo, hi = jnp.where(n_cand > 0, lo, 0), jnp.where(n_cand > 0, hi, 0)
    same_first, same_end, n_same = _first_end(same_BxRxC)
    same_end = jnp.where(n_same == same_end - same_first, same_end, same_first)  # not contiguous: none
    return _split(lo, hi, same_first, same_end, edge[None], key_side=key_side)


# --------------------------------------------------------------------------
# Kernels.
# --------------------------------------------------------------------------


def _dot(a, b, contract_a: int, contract_b: int):
    """2-D matmul with float32 accumulation (exact f32 for f32 inputs)."""
    precision = lax.Precision.HIGHEST if a.dtype == jnp.float32 else None
    return lax.dot_general(
        a,
        b,
        (((contract_a,), (contract_b,)), ((), ())),
        precision=precision,
        preferred_element_type=jnp.float32,
    )


@functools.cache
def _on_rocm() -> bool:
    """AMD GPUs run these kernels through Triton too, but take no PTX."""
    if jax.default_backend() not in ("gpu", "rocm"):
        return False
    device = jax.devices()[0]
    return device.platform == "rocm" or "rocm" in device.client.platform_version.lower()


def _exp2(s, scale: float, shift, interpret: bool):
    """exp2(s * scale - shift), float32, shift broadcast against s: the softmax's exponentials.

    On a GPU it is one FFMA and one MUFU.EX2 per element (inline PTX, flushing
    subnormals to zero as CUDA's fast math does). What jnp would give there is
    a rounded multiply, a rounded subtract, and exp2 with denormal handling
    around the MUFU: six instructions, in the loops that bound the forward.
    """
    if interpret or _on_rocm():
        return jnp.exp2(s * scale - shift)
    from jax.experimental.pallas import triton as plgpu  # pylint: disable=g-import-not-at-top

    scale_hex = struct.pack(">f", scale).hex().upper()
    asm = f"{{ .reg .f32 t; fma.rn.ftz.f32 t, $1, 0f{scale_hex}, $2; ex2.approx.ftz.f32 $0, t; }}"
    [out] = plgpu.elementwise_inline_asm(
        asm, args=[s, jnp.broadcast_to(-shift, s.shape)], constraints="=f,f,f", pack=1,
        result_shape_dtypes=[jax.ShapeDtypeStruct(s.shape, jnp.float32)],
    )
    return out


def _mask(q_pos, k_pos, q_seg, k_seg, causal: bool, *, keys_first=False):
    """Visibility of keys from queries: [q, k], or [k, q] if keys_first."""
    if keys_first:
        rows_pos, cols_pos, rows_seg, cols_seg = k_pos, q_pos, k_seg, q_seg
    else:
        rows_pos, cols_pos, rows_seg, cols_seg = q_pos, k_pos, q_seg, k_seg
    mask = None
    if causal:
        if keys_first:
            mask = rows_pos[:, None] <= cols_pos[None, :]
        else:
            mask = rows_pos[:, None] >= cols_pos[None, :]
    if q_seg is not None:
        same = rows_seg[:, None] == cols_seg[None, :]
        mask = same if mask is None else mask & same
    return mask


def _scores(q_bqxD, k_bkxD, q_pos, q_seg, kseg_ref, k_slice, causal: bool, segments: bool):
    """Unscaled scores of a query tile against the key tile k_bkxD (rows `k_slice`), [bq, bk]
    float32 (`_exp2` scales them); keys it cannot see by the masks asked for (`causal`,
    `segments`: other documents) set to _NEG, which stays hugely negative under any
    positive scale."""
    s_bqxbk = _dot(q_bqxD, k_bkxD, 1, 1)
    if not (causal or segments):
        return s_bqxbk
    k_pos = k_slice.start + jnp.arange(k_bkxD.shape[0], dtype=jnp.int32)
    k_seg = kseg_ref[k_slice] if segments else None
    return jnp.where(_mask(q_pos, k_pos, q_seg if segments else None, k_seg, causal), s_bqxbk, _NEG)


# The masks of the four runs between `_bounds`' five bounds, in order: (causal, segments).
# Query side: keys of earlier documents (before the mask-free run, so causality holds),
# mask-free, the diagonal inside one document, the rest of the diagonal. The key side
# mirrors it: the diagonal with other documents, inside one, mask-free, later queries.
_QUERY_RUNS = ((False, True), (False, False), (True, False), (True, True))
_KEY_RUNS = ((True, True), (True, False), (False, False), (False, True))
_N_BOUNDS = len(_QUERY_RUNS) + 1  # the kernels' leading refs


def _loops(bound_refs, body, carry, cfg: _Config, *, key_side: bool, split: bool = True):
    """Runs body(i, carry, causal=, segments=) over the tiles between the five bounds,
    each run with the masks it needs (`_QUERY_RUNS`, `_KEY_RUNS`); with split=False,
    one loop over [lo, hi) with every mask the problem has.

    A run is emitted only where its masks exist (a segment-masked run only with
    segments, the causal-only run only when causal); `_bounds` makes the others empty.
    """
    bounds = [r[()] for r in bound_refs]
    if not split:
        loop_body = functools.partial(body, causal=cfg.causal, segments=cfg.has_segments)
        return lax.fori_loop(bounds[0], bounds[-1], loop_body, carry)
    for (causal, segments), start, stop in zip(_KEY_RUNS if key_side else _QUERY_RUNS, bounds, bounds[1:]):
        exists = cfg.has_segments if segments else (cfg.causal or not causal)
        if exists:
            loop_body = functools.partial(body, causal=causal and cfg.causal, segments=segments)
            carry = lax.fori_loop(start, stop, loop_body, carry)
    return carry


def _query_tile():
    """Query-side grids run the last (for causal: heaviest) tile first."""
    return pl.num_programs(0) - 1 - pl.program_id(0)


def _split_refs(refs, has_segments: bool):
    """(q segment ref, k segment ref, output refs): the segment refs lead where there are segments."""
    return (refs[0], refs[1], refs[2:]) if has_segments else (None, None, refs)


def _fwd_kernel(*refs, cfg: _Config):
    """One query tile against its key-tile range, online softmax in float32."""
    bound_refs, refs = refs[:_N_BOUNDS], refs[_N_BOUNDS:]
    (q_ref, k_ref, v_ref), refs = refs[:3], refs[3:]
    qseg_ref, kseg_ref, (o_ref, lse_ref) = _split_refs(refs, cfg.has_segments)
    bq, bk = cfg.blocks.block_q, cfg.blocks.block_k
    i = _query_tile()
    q_bqxD = q_ref[...]
    q_pos = i * bq + jnp.arange(bq, dtype=jnp.int32)
    q_seg = None if qseg_ref is None else qseg_ref[...]
    scale = cfg.sm_scale * _LOG2E
    # The running max starts (and stays) above every masked score, halfway to it: a row
    # whose tiles so far were all masked then gets exp2(_NEG * scale / 2) = 0 for each
    # of them. Were the max the masked score itself, the exponent would be the rounding
    # error of _NEG * scale (the fused multiply-add keeps the exact product), up to
    # 2^73 either way: an inf that the next tile turns into NaN.
    m_floor = _NEG * scale / 2

    def body(j, carry, *, causal: bool, segments: bool):
        acc_bqxD, m_bq, l_bq = carry
        k_slice = pl.ds(j * bk, bk)
        k_bkxD = k_ref[k_slice, :]
        s_bqxbk = _scores(q_bqxD, k_bkxD, q_pos, q_seg, kseg_ref, k_slice, causal, segments)
        m_new = jnp.maximum(m_bq, jnp.max(s_bqxbk, axis=1) * scale)  # scale > 0: max commutes
        alpha = _exp2(m_bq, 1.0, m_new, cfg.interpret)
        p_bqxbk = _exp2(s_bqxbk, scale, m_new[:, None], cfg.interpret)
        l_new = alpha * l_bq + jnp.sum(p_bqxbk, axis=1)
        v_bkxD = v_ref[k_slice, :]
        acc_bqxD = acc_bqxD * alpha[:, None] + _dot(p_bqxbk.astype(v_bkxD.dtype), v_bkxD, 1, 0)
        return acc_bqxD, m_new, l_new

    carry = (
        jnp.zeros(q_bqxD.shape, jnp.float32),
        jnp.full((bq,), m_floor, jnp.float32),
        jnp.zeros((bq,), jnp.float32),
    )
    split = cfg.blocks.split_fwd or not cfg.has_segments
    acc, m, l = _loops(bound_refs, body, carry, cfg, key_side=False, split=split)
    l_safe = jnp.where(l == 0.0, 1.0, l)
    o_bqxD = acc / l_safe[:, None]
    lse_bq = m + jnp.log2(l_safe)
    if q_seg is not None:
        valid = q_seg != 0
        o_bqxD = jnp.where(valid[:, None], o_bqxD, 0.0)
        lse_bq = jnp.where(valid, lse_bq, _POS)
    o_ref[...] = o_bqxD.astype(o_ref.dtype)
    lse_ref[...] = lse_bq


def _dq_kernel(*refs, cfg: _Config):
    """dQ for one query tile (P recomputed from the saved logsumexp).

    Also writes delta = rowsum(dO * O), which the dK/dV kernel reads.
    """
    bound_refs, refs = refs[:_N_BOUNDS], refs[_N_BOUNDS:]
    in_refs, refs = refs[:6], refs[6:]
    q_ref, k_ref, v_ref, o_ref, do_ref, lse_ref = in_refs
    qseg_ref, kseg_ref, (dq_ref, delta_ref) = _split_refs(refs, cfg.has_segments)
    bq, bk = cfg.blocks.block_q_dq, cfg.blocks.block_k_dq
    i = _query_tile()
    q_bqxD = q_ref[...]
    do_bqxD = do_ref[...]
    lse_bq = lse_ref[...]
    delta_bq = jnp.sum(do_bqxD.astype(jnp.float32) * o_ref[...].astype(jnp.float32), axis=1)
    q_pos = i * bq + jnp.arange(bq, dtype=jnp.int32)
    q_seg = None if qseg_ref is None else qseg_ref[...]
    scale = cfg.sm_scale * _LOG2E

    def body(j, dq_bqxD, *, causal: bool, segments: bool):
        k_slice = pl.ds(j * bk, bk)
        k_bkxD = k_ref[k_slice, :]
        v_bkxD = v_ref[k_slice, :]
        s_bqxbk = _scores(q_bqxD, k_bkxD, q_pos, q_seg, kseg_ref, k_slice, causal, segments)
        p_bqxbk = _exp2(s_bqxbk, scale, lse_bq[:, None], cfg.interpret)
        dp_bqxbk = _dot(do_bqxD, v_bkxD, 1, 1)
        ds_bqxbk = p_bqxbk * (dp_bqxbk - delta_bq[:, None])
        return dq_bqxD + _dot(ds_bqxbk.astype(k_bkxD.dtype), k_bkxD, 1, 0)

    dq = jnp.zeros(q_bqxD.shape, jnp.float32)
    dq = _loops(bound_refs, body, dq, cfg, key_side=False)
    dq_ref[...] = (dq * cfg.sm_scale).astype(dq_ref.dtype)
    delta_ref[...] = delta_bq


def _dkv_kernel(*refs, cfg: _Config):
    """dK, dV for one key tile (one query head) over its query-tile range.

    Works on transposed [key, query] tiles so that P^T and dS^T feed the
    dV += P^T dO and dK += dS^T Q dots directly, without register transposes.
    With `fused_bwd` it also adds dQ[i] += dS[i, j] K[j] for each query tile i
    into a float32 buffer (zeros aliased in, scaled by sm_scale after the
    kernel) with atomics, since other key tiles add to the same rows at once.
    The buffer is dQ transposed, [D, L] per head, so the share is K^T dS^T: it
    takes dS^T as computed (for dS K, Triton recomputed the probabilities in the
    other layout, every exponential twice) and has D rows, where Hopper's wgmma
    needs 64 and the query tiles may have 32.
    """
    fused = cfg.blocks.fused_bwd
    n_in = 7 if fused else 6  # fused: dQ's zeros, aliased to the dQ output
    bound_refs, refs = refs[:_N_BOUNDS], refs[_N_BOUNDS:]
    in_refs, refs = refs[:n_in], refs[n_in:]
    q_ref, k_ref, v_ref, do_ref, lse_ref, delta_ref = in_refs[:6]
    qseg_ref, kseg_ref, (dk_ref, dv_ref, *dq_ref) = _split_refs(refs, cfg.has_segments)
    bq, bk = cfg.blocks.block_q_dkv, cfg.blocks.block_k_dkv
    j = pl.program_id(0)
    k_bkxD = k_ref[...]
    v_bkxD = v_ref[...]
    k_pos = j * bk + jnp.arange(bk, dtype=jnp.int32)
    k_seg = None if kseg_ref is None else kseg_ref[...]
    scale = cfg.sm_scale * _LOG2E

    def body(i, carry, *, causal: bool, segments: bool):
        dk_bkxD, dv_bkxD = carry
        q_slice = pl.ds(i * bq, bq)
        q_bqxD = q_ref[q_slice, :]
        do_bqxD = do_ref[q_slice, :]
        lse_bq = lse_ref[q_slice]
        delta_bq = delta_ref[q_slice]
        st_bkxbq = _dot(k_bkxD, q_bqxD, 1, 1)
        if causal or segments:
            q_pos = i * bq + jnp.arange(bq, dtype=jnp.int32)
            q_seg = qseg_ref[q_slice] if segments else None
            mask = _mask(q_pos, k_pos, q_seg, k_seg if segments else None, causal, keys_first=True)
            st_bkxbq = jnp.where(mask, st_bkxbq, _NEG)
        pt_bkxbq = _exp2(st_bkxbq, scale, lse_bq[None, :], cfg.interpret)
        dv_bkxD = dv_bkxD + _dot(pt_bkxbq.astype(do_bqxD.dtype), do_bqxD, 1, 0)
        dpt_bkxbq = _dot(v_bkxD, do_bqxD, 1, 1)
        dst_bkxbq = (pt_bkxbq * (dpt_bkxbq - delta_bq[None, :])).astype(q_bqxD.dtype)
        dk_bkxD = dk_bkxD + _dot(dst_bkxbq, q_bqxD, 1, 0)
        if fused:
            relaxed_add.add(dq_ref[0], (slice(None), q_slice), _dot(k_bkxD, dst_bkxbq, 0, 0))
        return dk_bkxD, dv_bkxD

    zeros = jnp.zeros(k_bkxD.shape, jnp.float32)
    dk, dv = _loops(bound_refs, body, (zeros, zeros), cfg, key_side=True)
    dk_ref[...] = (dk * cfg.sm_scale).astype(dk_ref.dtype)
    dv_ref[...] = dv.astype(dv_ref.dtype)


# --------------------------------------------------------------------------
# pallas_call wrappers on padded [B, Lp, H, Dp] arrays.
# --------------------------------------------------------------------------


class _Specs(NamedTuple):
    """The BlockSpecs of one kernel's grid (`_specs`)."""

    grid: tuple[int, int, int]
    bounds: pl.BlockSpec  # [B, R] int32, one of `_bounds`' five
    tile: pl.BlockSpec  # [B, L, H, D]: the row tile, this query head
    kv_tile: pl.BlockSpec  # [B, L, K, D]: the row tile, this query head's kv head
    whole: pl.BlockSpec  # [B, L, H, D]: every position, this query head
    kv_whole: pl.BlockSpec  # [B, L, K, D]: every position, this query head's kv head
    row_tile: pl.BlockSpec  # [B, H, L] float32 per-query rows (logsumexp, delta): the row tile
    row_whole: pl.BlockSpec  # [B, H, L]: every position
    dqt_whole: pl.BlockSpec  # [B, H, D, L]: the fused backward's dQ^T, this query head
    segments: tuple[pl.BlockSpec, pl.BlockSpec]  # [B, L] int32: (the query side's, the key side's)


def _specs(shape, G: int, rows: int, *, key_side: bool) -> _Specs:
    """BlockSpecs for the grid (row tile i, batch b, query head h) over padded arrays of q's
    `shape` [B, L, H, D]: row tiles of `rows` positions, query tiles from the last (for causal,
    heaviest) on, or key tiles in order (`key_side`); query head h reads kv head h // G."""
    B, L, H, D = shape
    n = L // rows
    r = (lambda i: i) if key_side else (lambda i: n - 1 - i)
    seg_tile = pl.BlockSpec((None, rows), lambda i, b, h: (b, r(i)))
    seg_whole = pl.BlockSpec((None, L), lambda i, b, h: (b, 0))
    return _Specs(
        grid=(n, B, H),
        bounds=pl.BlockSpec((None, None), lambda i, b, h: (b, r(i))),
        tile=pl.BlockSpec((None, rows, None, D), lambda i, b, h: (b, r(i), h, 0)),
        kv_tile=pl.BlockSpec((None, rows, None, D), lambda i, b, h: (b, r(i), h // G, 0)),
        whole=pl.BlockSpec((None, L, None, D), lambda i, b, h: (b, 0, h, 0)),
        kv_whole=pl.BlockSpec((None, L, None, D), lambda i, b, h: (b, 0, h // G, 0)),
        row_tile=pl.BlockSpec((None, None, rows), lambda i, b, h: (b, h, r(i))),
        row_whole=pl.BlockSpec((None, None, L), lambda i, b, h: (b, h, 0)),
        dqt_whole=pl.BlockSpec((None, None, D, L), lambda i, b, h: (b, h, 0, 0)),
        segments=(seg_whole, seg_tile) if key_side else (seg_tile, seg_whole),
    )


def _pallas_call(kernel, cfg: _Config, specs: _Specs, launch: KernelLaunch, name: str, bounds, seg, ins, outs,
                 aliases=None):
    """`kernel` over `specs.grid`. Its refs: the five bounds, `ins` ([(array, spec)]), the segment
    ids where the problem has them (query side's, key side's), then `outs` ([(shape, spec)]).
    `aliases`: {index in ins: index in outs}."""
    in_specs = [specs.bounds] * _N_BOUNDS + [spec for _, spec in ins]
    args = [*bounds, *(x for x, _ in ins)]
    if cfg.has_segments:
        in_specs += specs.segments
        args += [seg, seg]
    return pl.pallas_call(
        functools.partial(kernel, cfg=cfg),
        grid=specs.grid,
        in_specs=in_specs,
        out_specs=[spec for _, spec in outs],
        out_shape=[shape for shape, _ in outs],
        input_output_aliases={_N_BOUNDS + i: o for i, o in (aliases or {}).items()},
        compiler_params=_compiler_params(launch.num_warps, launch.num_stages),
        interpret=cfg.interpret,
        name=name,
    )(*args)


def _fwd_call(q, k, v, seg, cfg: _Config):
    B, L, H, D = q.shape
    launch = cfg.blocks.kernel("fwd", D)
    specs = _specs(q.shape, H // k.shape[2], launch.block_q, key_side=False)
    bounds = _bounds(seg, cfg, launch.block_q, launch.block_k, key_side=False)
    o, lse = _pallas_call(
        _fwd_kernel, cfg, specs, launch, "cip_flash_fwd", bounds, seg,
        ins=[(q, specs.tile), (k, specs.kv_whole), (v, specs.kv_whole)],
        outs=[(jax.ShapeDtypeStruct(q.shape, q.dtype), specs.tile),
              (jax.ShapeDtypeStruct((B, H, L), jnp.float32), specs.row_tile)],
    )
    return o, lse


def _dq_call(q, k, v, seg, o, lse, do, cfg: _Config):
    """dQ and delta = rowsum(dO * O); grid over query tiles like the forward."""
    B, L, H, D = q.shape
    launch = cfg.blocks.kernel("dq", D)
    specs = _specs(q.shape, H // k.shape[2], launch.block_q, key_side=False)
    bounds = _bounds(seg, cfg, launch.block_q, launch.block_k, key_side=False)
    return _pallas_call(
        _dq_kernel, cfg, specs, launch, "cip_flash_bwd_dq", bounds, seg,
        ins=[(q, specs.tile), (k, specs.kv_whole), (v, specs.kv_whole), (o, specs.tile), (do, specs.tile),
             (lse, specs.row_tile)],
        outs=[(jax.ShapeDtypeStruct(q.shape, q.dtype), specs.tile),
              (jax.ShapeDtypeStruct((B, H, L), jnp.float32), specs.row_tile)],
    )


def _dkv_call(q, k, v, seg, do, lse, delta, cfg: _Config):
    """dK, dV (and, with `fused_bwd`, dQ): grid over key tiles and *query* heads; groups summed after."""
    B, L, H, D = q.shape
    K = k.shape[2]
    G = H // K
    fused = cfg.blocks.fused_bwd
    launch = cfg.blocks.kernel("dkv", D)
    specs = _specs(q.shape, G, launch.block_k, key_side=True)
    bounds = _bounds(seg, cfg, launch.block_k, launch.block_q, key_side=True)
    ins = [(q, specs.whole), (k, specs.kv_tile), (v, specs.kv_tile), (do, specs.whole), (lse, specs.row_whole),
           (delta, specs.row_whole)]
    # Per-query-head partial dK/dV: float32 when heads share a kv head so the
    # group sum is not rounded G times.
    part = jax.ShapeDtypeStruct((B, L, H, D), k.dtype if G == 1 else jnp.float32)
    outs = [(part, specs.tile)] * 2
    if fused:  # dQ^T: a float32 buffer of zeros, aliased in and added to
        ins.append((jnp.zeros((B, H, D, L), jnp.float32), specs.dqt_whole))
        outs.append((jax.ShapeDtypeStruct((B, H, D, L), jnp.float32), specs.dqt_whole))
    dk_h, dv_h, *dq = _pallas_call(
        _dkv_kernel, cfg, specs, launch, "cip_flash_bwd_fused" if fused else "cip_flash_bwd_dkv", bounds, seg,
        ins, outs, aliases={len(ins) - 1: 2} if fused else None,
    )
    if G > 1:
        dk_h = dk_h.reshape(B, L, K, G, D).sum(axis=3)
        dv_h = dv_h.reshape(B, L, K, G, D).sum(axis=3)
    dq = (dq[0].transpose(0, 3, 1, 2) * cfg.sm_scale).astype(q.dtype) if dq else None
    return dk_h.astype(k.dtype), dv_h.astype(v.dtype), dq


def delta_rows(o_BxLxHxD, do_BxLxHxD):
    """delta = rowsum(dO * O) in float32, [B, H, L]: the backward's softmax correction."""
    return jnp.sum(do_BxLxHxD.astype(jnp.float32) * o_BxLxHxD.astype(jnp.float32), axis=-1).transpose(0, 2, 1)


def _bwd_call(q, k, v, seg, o, lse, do, cfg: _Config):
    if cfg.blocks.fused_bwd:
        dk, dv, dq = _dkv_call(q, k, v, seg, do, lse, delta_rows(o, do), cfg)
        return dq, dk, dv
    dq, delta = _dq_call(q, k, v, seg, o, lse, do, cfg)
    dk, dv, _ = _dkv_call(q, k, v, seg, do, lse, delta, cfg)
    return dq, dk, dv


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _flash(q, k, v, seg, cfg: _Config):
    return _fwd_call(q, k, v, seg, cfg)[0]


def _flash_fwd(q, k, v, seg, cfg: _Config):
    o, lse = _fwd_call(q, k, v, seg, cfg)
    return o, (q, k, v, seg, o, lse)


def _flash_bwd(cfg: _Config, res, do):
    q, k, v, seg, o, lse = res
    dq, dk, dv = _bwd_call(q, k, v, seg, o, lse, do, cfg)
    return dq, dk, dv, None


_flash.defvjp(_flash_fwd, _flash_bwd)


def _pad_to(x, axis: int, size: int):
    if x.shape[axis] == size:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, size - x.shape[axis])
    return jnp.pad(x, widths)


def attention(
    q_BxLxHxD: jax.Array,
    k_BxLxKxD: jax.Array,
    v_BxLxKxD: jax.Array,
    segment_ids_BxL: jax.Array | None = None,
    *,
    causal: bool = True,
    sm_scale: float | None = None,
    block_sizes: BlockSizes | None = None,
    interpret: bool = False,
) -> jax.Array:
    """Flash attention with segment-aware block skipping; see module doc.

    Pads L to a multiple of the largest tile (padding gets segment id 0) and
    the head dim to a power of two >= 16 (zeros change no dot product).
    """
    sm_scale = shapes.check(q_BxLxHxD, k_BxLxKxD, v_BxLxKxD, segment_ids_BxL, sm_scale)
    if not sm_scale > 0:
        raise ValueError(f"pallas_gpu needs a positive sm_scale (it masks scores before scaling); got {sm_scale}")
    B, L, _, D = q_BxLxHxD.shape
    blocks = (block_sizes or BlockSizes.for_head_dim(D)).clamp(L)
    Lp = -(-L // blocks.max_block) * blocks.max_block
    Dp = max(16, pl.next_power_of_2(D))
    has_segments = segment_ids_BxL is not None or Lp != L
    if segment_ids_BxL is None:
        seg_BxL = jnp.ones((B, L), jnp.int32)
    else:
        seg_BxL = segment_ids_BxL.astype(jnp.int32)
    seg_BxLp = _pad_to(seg_BxL, 1, Lp)
    q, k, v = (_pad_to(_pad_to(x, 1, Lp), 3, Dp) for x in (q_BxLxHxD, k_BxLxKxD, v_BxLxKxD))
    cfg = _Config(
        causal=bool(causal),
        sm_scale=float(sm_scale),
        has_segments=has_segments,
        blocks=blocks,
        interpret=bool(interpret),
    )
    o_BxLpxHxDp = _flash(q, k, v, seg_BxLp, cfg)
    return o_BxLpxHxDp[:, :L, :, :D]
