"""The paper's training recipes as phase plans: (mixture, token budget, LR schedule) per phase.

Budgets are the paper's, for the 470M models (PAPER.md). `scale` multiplies every
budget, so a recipe can be run at any size; a budget must still divide into whole
batches, which `phase_steps` checks before anything is built.
"""

from __future__ import annotations

import dataclasses

B = 1_000_000_000  # tokens

SCHEDULES = ("cosine", "cooldown")


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    mixture: str
    tokens: int
    schedule: str = "cosine"  # "cooldown": linear annealing from the current LR to the floor

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"phase {self.name!r}: schedule {self.schedule!r} not in {SCHEDULES}")


def _cooldown(mixture: str = "cooldown_with_code") -> Phase:
    return Phase("cooldown", mixture, 40 * B, "cooldown")  # 10% of the 400B pre-training budget


RECIPES: dict[str, tuple[Phase, ...]] = {
    "text_only": (Phase("pretrain", "text_only", 400 * B), _cooldown()),
    "balanced_only": (Phase("pretrain", "balanced", 400 * B), _cooldown()),
    "balanced_to_text": (Phase("pretrain", "balanced", 200 * B), Phase("continued", "continued", 200 * B),
                         _cooldown()),
    "code_to_text": (Phase("pretrain", "code_init", 200 * B), Phase("continued", "continued", 200 * B),
                     _cooldown()),
    "balanced_synth_to_text": (Phase("pretrain", "balanced_synth", 200 * B),
                               Phase("continued", "continued", 200 * B), _cooldown()),
    # Cooldown ablation: the same base, a 40B cooldown with 20% or 0% code.
    "cooldown_with_code": (Phase("pretrain", "balanced", 200 * B), Phase("continued", "continued", 200 * B),
                           _cooldown("cooldown_with_code")),
    "cooldown_no_code": (Phase("pretrain", "balanced", 200 * B), Phase("continued", "continued", 200 * B),
                         _cooldown("cooldown_no_code")),
    **{f"code_sweep_{p}": (Phase("pretrain", f"code_sweep_{p}", 200 * B),) for p in (0, 25, 50, 75, 90, 100)},
    **{f"code_quality_{q}": (Phase("pretrain", f"code_quality_{q}", 200 * B),)  # (?) budget: as the sweep
       for q in ("web", "markup", "adjacent", "synth")},
}


def get_recipe(name: str) -> tuple[Phase, ...]:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {sorted(RECIPES)}")
    return RECIPES[name]


def phase_steps(phases: tuple[Phase, ...], tokens_per_step: int, scale: float = 1.0) -> list[int]:
    """Steps per phase at `scale` x the paper's budgets; each budget must be whole batches."""
    steps = []
    for ph in phases:
        tokens = round(ph.tokens * scale)
        if tokens <= 0 or tokens % tokens_per_step:
            raise ValueError(f"phase {ph.name!r} ({ph.mixture}): a budget of {tokens:,} tokens is not a whole "
                             f"number of batches of {tokens_per_step:,} tokens (scale={scale})")
        steps.append(tokens // tokens_per_step)
    return steps
