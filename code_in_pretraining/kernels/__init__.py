"""Attention kernels: one entry point, several implementations.

`attention(q, k, v, segment_ids, implementation=...)` with
  q [B, L, H, D], k/v [B, L, KV_H, D] (KV_H divides H), segment_ids [B, L]
  int32 (0 = padding). Implementations: "xla" (reference), "pallas_gpu",
  "pallas_gpu_fused" (its one-kernel backward), "pallas_tpu", "cudnn", "auto".

Importing this package pulls in only jax; Pallas modules load lazily.
"""

from code_in_pretraining.kernels.dispatch import IMPLEMENTATIONS, attention

__all__ = ["IMPLEMENTATIONS", "attention"]
