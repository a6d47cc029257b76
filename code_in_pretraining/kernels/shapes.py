"""Input checks every attention implementation shares, and the default logit scale."""

from __future__ import annotations


def check(q, k, v, segment_ids=None, sm_scale: float | None = None) -> float:
    """Raises on shapes no implementation accepts; returns `sm_scale` (default 1/sqrt(D))."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"q, k, v must be [B, L, H, D]; got {q.shape}, {k.shape}, {v.shape}")
    if k.shape != v.shape:
        raise ValueError(f"k and v shapes differ: {k.shape} vs {v.shape}")
    B, L, H, D = q.shape
    if k.shape[0] != B or k.shape[1] != L or k.shape[3] != D:
        raise ValueError(f"k/v must be [B, L, KV_H, D] matching q {q.shape}; got {k.shape}")
    if H % k.shape[2]:
        raise ValueError(f"num kv heads {k.shape[2]} must divide num heads {H}")
    if segment_ids is not None and segment_ids.shape != (B, L):
        raise ValueError(f"segment_ids must be [B, L] = {(B, L)}; got {segment_ids.shape}")
    return D**-0.5 if sm_scale is None else sm_scale
