"""TPU attention via JAX's splash attention (implementation="pallas_tpu").

Splash attention already skips fully-masked blocks from a static mask and
handles segment ids, so on TPU we only adapt layouts: [B, L, H, D] in,
grouped-query heads mapped to splash's MQA kernel (one kernel call per kv
head, vmapped), L padded to the block size with segment id 0, and padding
queries zeroed (splash would let padding attend to padding).
"""

from __future__ import annotations

import concurrent.futures
import functools

import jax
import jax.numpy as jnp
import numpy as np

from code_in_pretraining.kernels import shapes

DEFAULT_BLOCK = 128


@functools.lru_cache(maxsize=32)
def _kernel(seq_len: int, group: int, causal: bool, block: int, interpret: bool):
    """An MQA kernel whose mask-info arrays are numpy constants, cached per shape.

    Splash preprocesses the mask with jnp ops. Run where the kernel is first needed
    (inside a jit trace, a shard_map, or the mesh of a deviceless compile, whose devices
    cannot hold arrays) they would be tracers or arrays of that context, so the kernel
    is built on a worker thread: jax's trace and mesh contexts are per thread, and
    there it runs eagerly on the default device, once; its arrays come back as numpy.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        kernel = pool.submit(_build_kernel, seq_len, group, causal, block, interpret).result()
    return jax.tree.map(np.asarray, kernel)


def _build_kernel(seq_len: int, group: int, causal: bool, block: int, interpret: bool):
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
    return splash.make_splash_mqa(mask, block_sizes=blocks, head_shards=1, q_seq_shards=1, interpret=interpret)


def attention(
    q_BxLxHxD: jax.Array,
    k_BxLxKxD: jax.Array,
    v_BxLxKxD: jax.Array,
    segment_ids_BxL: jax.Array | None = None,
    *,
    causal: bool = True,
    sm_scale: float | None = None,
    block_size: int = DEFAULT_BLOCK,
    interpret: bool = False,
) -> jax.Array:
    """Splash attention with GQA, padding and the reference's semantics."""
    from jax.experimental.pallas.ops.tpu import splash_attention as splash  # pylint: disable=g-import-not-at-top

    sm_scale = shapes.check(q_BxLxHxD, k_BxLxKxD, v_BxLxKxD, segment_ids_BxL, sm_scale)
    B, L, H, D = q_BxLxHxD.shape
    K = k_BxLxKxD.shape[2]
    G = H // K
    Lp = -(-L // block_size) * block_size
    pad = Lp - L

    def to_heads_major(x_BxLxNxD):
        x = jnp.pad(x_BxLxNxD, ((0, 0), (0, pad), (0, 0), (0, 0)))
        return x.transpose(0, 2, 1, 3)  # [B, N, Lp, D]

    # Splash does not scale the logits itself.
    q_BxHxLxD = to_heads_major((q_BxLxHxD.astype(jnp.float32) * sm_scale).astype(q_BxLxHxD.dtype))
    q_BxKxGxLxD = q_BxHxLxD.reshape(B, K, G, Lp, D)
    k_BxKxLxD = to_heads_major(k_BxLxKxD)
    v_BxKxLxD = to_heads_major(v_BxLxKxD)

    seg_BxLp = None
    if segment_ids_BxL is not None or pad:
        seg = jnp.ones((B, L), jnp.int32) if segment_ids_BxL is None else segment_ids_BxL.astype(jnp.int32)
        seg_BxLp = jnp.pad(seg, ((0, 0), (0, pad)))

    kernel = _kernel(Lp, G, bool(causal), block_size, bool(interpret))

    def one_kv_head(q_GxLxD, k_LxD, v_LxD, seg_L):
        segs = None if seg_L is None else splash.SegmentIds(q=seg_L, kv=seg_L)
        return kernel(q_GxLxD, k_LxD, v_LxD, segment_ids=segs)

    per_head = jax.vmap(one_kv_head, in_axes=(0, 0, 0, None))
    per_example = jax.vmap(per_head, in_axes=(0, 0, 0, 0 if seg_BxLp is not None else None))
    o_BxKxGxLxD = per_example(q_BxKxGxLxD, k_BxKxLxD, v_BxKxLxD, seg_BxLp)
    o_BxLxHxD = o_BxKxGxLxD.reshape(B, H, Lp, D).transpose(0, 2, 1, 3)[:, :L]
    if segment_ids_BxL is not None:
        valid_BxLx1x1 = (segment_ids_BxL != 0)[:, :, None, None]
        o_BxLxHxD = jnp.where(valid_BxLx1x1, o_BxLxHxD, 0)
    return o_BxLxHxD.astype(q_BxLxHxD.dtype)
