"""Learning-rate schedules: linear warmup and cosine decay per pre-training stretch, linear cooldown.

A run's phase plan cuts it into LR segments (PhasePlan.segments): a "cosine" phase
warms up and decays on its own, as the run it would be alone (continued pre-training
warms up again), a "cosine_joined" phase stretches the cosine before it, and a
cooldown anneals LINEARLY from the LR the run has at its first step down to
`cooldown_end_lr`. So the LR up to the end of a phase depends only on the phases up to
there (and a joined one after it): a run that shares them can fork from its checkpoint.
"""

from __future__ import annotations

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
           cooldown_end_lr: float = COOLDOWN_END_LR, start_lr: float | None = None) -> optax.Schedule:
    """One schedule over the plan's LR segments, each a warmup + cosine or a linear cooldown.

    `start_lr`: the LR a continued run takes over from its source run; the first
    segment then starts from it instead of warming up (a cooldown-only run starts
    from `peak_lr` when there is none).
    """
    fns, current = [], start_lr
    for i, (kind, _, steps) in enumerate(plan.segments):
        if kind == "cooldown":
            fn = optax.linear_schedule(peak_lr if current is None else current, cooldown_end_lr, steps)
        elif i == 0 and start_lr is not None:
            fn = cosine_from(start_lr, steps, end_lr)
        else:
            fn = warmup_cosine(peak_lr, warmup_steps, steps, end_lr)
        fns.append(fn)
        current = float(fn(steps))
    boundaries = [first for _, first, _ in plan.segments[1:]]
    return fns[0] if len(fns) == 1 else optax.join_schedules(fns, boundaries)
