"""`attention()`: one entry point that picks an implementation.

"auto" chooses by the platform of the mesh in context, else of the default
backend (gpu -> pallas_gpu, tpu -> pallas_tpu, cpu -> xla), and falls back to the xla reference, logging the reason once, whenever the
kernel cannot handle the inputs. Explicitly requested kernels raise instead
of silently falling back: a named kernel runs, or the call fails.
"pallas_gpu_fused" is pallas_gpu with its one-kernel backward (atomic dQ:
fewer matmuls, but dQ is not bitwise reproducible on a GPU).
On a CPU a named Pallas kernel runs in interpret mode (its semantics, slowly):
there is no kernel compiler for it there.
All decisions use static shapes and dtypes only, so this works under jit.
"""

from __future__ import annotations

import dataclasses
import logging

import jax
import jax.numpy as jnp

from code_in_pretraining.kernels import reference, shapes
from code_in_pretraining.parallel.mesh import current_platform

log = logging.getLogger(__name__)

IMPLEMENTATIONS = ("auto", "xla", "pallas_gpu", "pallas_gpu_fused", "pallas_tpu", "cudnn")
# Custom calls that XLA's partitioner cannot split: they run per shard (model/sharded_attention.py).
PALLAS = ("pallas_gpu", "pallas_gpu_fused", "pallas_tpu")
_BY_PLATFORM = {"gpu": "pallas_gpu", "tpu": "pallas_tpu"}

_KERNEL_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)
_MAX_HEAD_DIM = 256
_logged_reasons: set[str] = set()


def _log_once(reason: str) -> None:
    if reason not in _logged_reasons:
        _logged_reasons.add(reason)
        log.warning("attention: falling back to xla: %s", reason)


def unsupported_reason(implementation: str, q, k, sm_scale: float = 1.0) -> str | None:
    """Why a Pallas kernel cannot run these inputs, or None if it can."""
    D = q.shape[-1]
    if implementation.startswith("pallas_gpu") and not sm_scale > 0:
        return f"{implementation} needs a positive sm_scale (it masks scores before scaling); got {sm_scale}"
    if q.dtype not in _KERNEL_DTYPES or k.dtype != q.dtype:
        return (
            f"{implementation} needs q/k/v of one dtype among float32, "
            f"bfloat16, float16; got {q.dtype}/{k.dtype}"
        )
    if D > _MAX_HEAD_DIM:
        return f"{implementation} supports head_dim <= {_MAX_HEAD_DIM}; got {D}"
    return None


def by_platform(implementation: str, platform: str | None = None) -> str:
    """`implementation` with "auto" replaced by the kernel for `platform` (default: the mesh's)."""
    if implementation != "auto":
        return implementation
    return _BY_PLATFORM.get(platform or current_platform(), "xla")


def choose(implementation: str, q, k, sm_scale: float) -> str:
    """The implementation that runs these inputs: "auto" resolved by platform, falling back to
    xla (logged once) where the kernel cannot take them; a named kernel that cannot raises."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"unknown attention implementation {implementation!r}; valid: {', '.join(IMPLEMENTATIONS)}"
        )
    impl = by_platform(implementation)
    if impl not in PALLAS:
        return impl
    reason = unsupported_reason(impl, q, k, sm_scale)
    if reason is None:
        return impl
    if implementation == "auto":
        _log_once(reason)
        return "xla"
    raise ValueError(reason + " (use implementation='auto' to fall back)")


def _cudnn(q, k, v, segment_ids, *, causal, sm_scale):
    if segment_ids is not None:
        raise ValueError(
            "implementation='cudnn' does not support segment_ids: cuDNN here "
            "cannot mask across packed documents; use 'pallas_gpu' or 'xla'."
        )
    return jax.nn.dot_product_attention(q, k, v, scale=sm_scale, is_causal=causal, implementation="cudnn")


def attention(
    q_BxLxHxD: jax.Array,
    k_BxLxKxD: jax.Array,
    v_BxLxKxD: jax.Array,
    segment_ids_BxL: jax.Array | None = None,
    *,
    causal: bool = True,
    implementation: str = "auto",
    interpret: bool = False,
    sm_scale: float | None = None,
    block_sizes=None,
) -> jax.Array:
    """Attention over [B, L, H, D] with GQA and packed segments.

    Args:
      q_BxLxHxD, k_BxLxKxD, v_BxLxKxD: queries, keys, values; KV_H divides H.
      segment_ids_BxL: int32 document ids, 0 = padding (outputs zeros). A token
        attends only to earlier-or-equal (if causal) tokens of its own segment.
      causal: causal masking.
      implementation: one of IMPLEMENTATIONS.
      interpret: run Pallas kernels in interpret mode (CPU testing).
      sm_scale: logit scale; default 1/sqrt(D).
      block_sizes: optional `pallas_gpu.BlockSizes` (pallas_gpu, pallas_gpu_fused only).
    Returns:
      [B, L, H, D] in q's dtype.
    """
    q, k, v, seg = q_BxLxHxD, k_BxLxKxD, v_BxLxKxD, segment_ids_BxL
    sm_scale = shapes.check(q, k, v, seg, sm_scale)

    impl = choose(implementation, q, k, sm_scale)
    interpret = interpret or (impl in PALLAS and current_platform() == "cpu")
    if impl == "xla":
        return reference.attention(q, k, v, seg, causal=causal, sm_scale=sm_scale)
    if impl == "cudnn":
        return _cudnn(q, k, v, seg, causal=causal, sm_scale=sm_scale)
    if impl in ("pallas_gpu", "pallas_gpu_fused"):
        from code_in_pretraining.kernels import pallas_gpu  # pylint: disable=g-import-not-at-top

        if impl == "pallas_gpu_fused":
            block_sizes = (dataclasses.replace(block_sizes, fused_bwd=True) if block_sizes
                           else pallas_gpu.BlockSizes.for_head_dim(q.shape[-1], fused_bwd=True))
        return pallas_gpu.attention(
            q, k, v, seg, causal=causal, sm_scale=sm_scale, block_sizes=block_sizes, interpret=interpret
        )
    from code_in_pretraining.kernels import pallas_tpu  # pylint: disable=g-import-not-at-top

    return pallas_tpu.attention(q, k, v, seg, causal=causal, sm_scale=sm_scale, interpret=interpret)
