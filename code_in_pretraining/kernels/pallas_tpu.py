"""TPU attention via JAX's splash attention (implementation="pallas_tpu").

Splash attention already skips fully-masked blocks from a static mask and
handles segment ids, so on TPU we only adapt layouts: [B, T, H, D] in,
grouped-query heads mapped to splash's MQA kernel (one kernel call per kv
head, vmapped), T padded to the block size with segment id 0, and padding
queries zeroed (splash would let padding attend to padding).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from code_in_pretraining.kernels import shapes

DEFAULT_BLOCK = 128


@functools.lru_cache(maxsize=32)
def _kernel(seq_len: int, group: int, causal: bool, block: int, interpret: bool):
    """Builds (and caches: mask preprocessing runs in numpy) an MQA kernel."""
    from jax.experimental.pallas.ops.tpu import splash_attention as splash  # pylint: disable=g-import-not-at-top

    shape = (seq_len, seq_len)
    one = splash.CausalMask(shape) if causal else splash.FullMask(shape)
    mask = splash.MultiHeadMask([one] * group)
    blocks = splash.BlockSizes(
        block_q=block,
        block_kv=block,
        block_kv_compute=block,
        block_q_dkv=block,
        block_kv_dkv=block,
        block_kv_dkv_compute=block,
        block_q_dq=block,
        block_kv_dq=block,
    )
    # The kernel holds mask-info arrays; make them concrete even when first
    # built inside a jit trace, or the cached kernel would leak tracers.
    with jax.ensure_compile_time_eval():
        return splash.make_splash_mqa(
            mask,
            block_sizes=blocks,
            head_shards=1,
            q_seq_shards=1,
            interpret=interpret,
        )


def attention(
    q_BxTxHxD: jax.Array,
    k_BxTxKxD: jax.Array,
    v_BxTxKxD: jax.Array,
    segment_ids_BxT: jax.Array | None = None,
    *,
    causal: bool = True,
    sm_scale: float | None = None,
    block_size: int = DEFAULT_BLOCK,
    interpret: bool = False,
) -> jax.Array:
    """Splash attention with GQA, padding and the reference's semantics."""
    from jax.experimental.pallas.ops.tpu import splash_attention as splash  # pylint: disable=g-import-not-at-top

    sm_scale = shapes.check(q_BxTxHxD, k_BxTxKxD, v_BxTxKxD, segment_ids_BxT, sm_scale)
    B, T, H, D = q_BxTxHxD.shape
    K = k_BxTxKxD.shape[2]
    G = H // K
    Tp = -(-T // block_size) * block_size
    pad = Tp - T

    def to_heads_major(x_BxTxNxD):
        x = jnp.pad(x_BxTxNxD, ((0, 0), (0, pad), (0, 0), (0, 0)))
        return x.transpose(0, 2, 1, 3)  # [B, N, Tp, D]

    # Splash does not scale the logits itself.
    q_BxHxTxD = to_heads_major((q_BxTxHxD.astype(jnp.float32) * sm_scale).astype(q_BxTxHxD.dtype))
    q_BxKxGxTxD = q_BxHxTxD.reshape(B, K, G, Tp, D)
    k_BxKxTxD = to_heads_major(k_BxTxKxD)
    v_BxKxTxD = to_heads_major(v_BxTxKxD)

    seg_BxTp = None
    if segment_ids_BxT is not None or pad:
        seg = jnp.ones((B, T), jnp.int32) if segment_ids_BxT is None else segment_ids_BxT.astype(jnp.int32)
        seg_BxTp = jnp.pad(seg, ((0, 0), (0, pad)))

    kernel = _kernel(Tp, G, bool(causal), block_size, bool(interpret))

    def one_kv_head(q_GxTxD, k_TxD, v_TxD, seg_T):
        segs = None if seg_T is None else splash.SegmentIds(q=seg_T, kv=seg_T)
        return kernel(q_GxTxD, k_TxD, v_TxD, segment_ids=segs)

    per_head = jax.vmap(one_kv_head, in_axes=(0, 0, 0, None))
    per_example = jax.vmap(per_head, in_axes=(0, 0, 0, 0 if seg_BxTp is not None else None))
    o_BxKxGxTxD = per_example(q_BxKxGxTxD, k_BxKxTxD, v_BxKxTxD, seg_BxTp)
    o_BxTxHxD = o_BxKxGxTxD.reshape(B, H, Tp, D).transpose(0, 2, 1, 3)[:, :T]
    if segment_ids_BxT is not None:
        valid_BxTx1x1 = (segment_ids_BxT != 0)[:, :, None, None]
        o_BxTxHxD = jnp.where(valid_BxTx1x1, o_BxTxHxD, 0)
    return o_BxTxHxD.astype(q_BxTxHxD.dtype)
