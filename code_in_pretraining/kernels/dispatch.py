"""Chooses an attention implementation (placeholder: xla only for now)."""

from __future__ import annotations

import jax

from code_in_pretraining.kernels import reference

IMPLEMENTATIONS = ("auto", "xla", "pallas_gpu", "pallas_tpu", "cudnn")


def attention(
    q, k, v, segment_ids=None, *, causal=True, implementation="auto",
    interpret=False, sm_scale=None,
) -> jax.Array:
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(
        f"unknown attention implementation {implementation!r}; valid: "
        f"{', '.join(IMPLEMENTATIONS)}")
  del interpret
  return reference.attention(q, k, v, segment_ids, causal=causal, sm_scale=sm_scale)
