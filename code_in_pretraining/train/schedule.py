"""Learning-rate schedules: linear warmup and cosine decay per pre-training stretch, linear cooldown.

A run's phase plan gives each phase "cosine" or "cooldown". Consecutive cosine phases
share one warmup + cosine curve, unless `rewarm` gives every cosine phase its own
warmup (continued pre-training that re-warms). A cooldown anneals LINEARLY from
the LR the run has at its first step down to `cooldown_end_lr`.
"""

from __future__ import annotations

import itertools

import optax

from code_in_pretraining.data.phase_plan import PhasePlan
from code_in_pretraining.train.config import COOLDOWN_END_LR


def warmup_cosine(peak_lr: float, warmup_steps: int, total_steps: int, end_lr: float) -> optax.Schedule:
    """0 -> peak_lr linearly over `warmup_steps`, then cosine down to `end_lr` at `total_steps`."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup_steps = min(warmup_steps, total_steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=peak_lr, warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1), end_value=end_lr)


def cosine_from(start_lr: float, total_steps: int, end_lr: float) -> optax.Schedule:
    """Cosine from `start_lr` (no warmup) to `end_lr`: an LR continued from another run."""
    if start_lr <= 0:
        return optax.constant_schedule(end_lr)
    return optax.cosine_decay_schedule(start_lr, total_steps, alpha=end_lr / start_lr)


def phased(plan: PhasePlan, *, peak_lr: float, warmup_steps: int, end_lr: float,
           cooldown_end_lr: float = COOLDOWN_END_LR, rewarm: bool = False, start_lr: float | None = None
           ) -> optax.Schedule:
    """One schedule over the plan's phases, each "cosine" or "cooldown".

    `start_lr`: the LR a continued run takes over from its source run; the first
    segment then starts from it instead of warming up (a cooldown-only run starts
    from `peak_lr` when there is none).
    """
    groups = []  # (kind, steps): consecutive cosine phases merge unless every one re-warms
    for kind, steps in zip((ph.schedule for ph in plan.phases), plan.steps):
        if groups and kind == groups[-1][0] == "cosine" and not rewarm:
            groups[-1] = (kind, groups[-1][1] + steps)
        else:
            groups.append((kind, steps))
    fns, current = [], start_lr
    for kind, steps in groups:
        if kind == "cooldown":
            fn = optax.linear_schedule(peak_lr if current is None else current, cooldown_end_lr, steps)
        elif current is None or rewarm:
            fn = warmup_cosine(peak_lr, warmup_steps, steps, end_lr)
        else:
            fn = cosine_from(current, steps, end_lr)
        fns.append(fn)
        current = float(fn(steps))
    boundaries = list(itertools.accumulate(s for _, s in groups))[:-1]
    return fns[0] if len(fns) == 1 else optax.join_schedules(fns, boundaries)
