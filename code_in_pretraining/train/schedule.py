"""Learning-rate schedules: linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import optax


def warmup_cosine(peak_lr: float, warmup_steps: int, total_steps: int, end_lr: float) -> optax.Schedule:
    """0 -> peak_lr linearly over `warmup_steps`, then cosine down to `end_lr` at `total_steps`."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup_steps = min(warmup_steps, total_steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=peak_lr, warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1), end_value=end_lr)
