"""The phase plan: which mixture, and which kind of LR schedule, at every step of a run.

A run is a sequence of phases, each a mixture trained for a token budget under a
schedule: "cosine" (its own warmup and cosine decay, as a run of its own; continued
pre-training warms up again), "cosine_joined" (the previous phase's warmup + cosine
stretched over both), or the linear "cooldown". `PhasePlan` turns the budgets into
whole steps and the schedules into LR segments once; the LR schedule, the loader, the
trainer, the experiment runner, the report and `cip inspect` all read it, so a phase
boundary is computed in one place.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
from collections.abc import Sequence

SCHEDULES = ("cosine", "cosine_joined", "cooldown")
ROUNDINGS = ("error", "nearest")
MAX_STEPS = 2**31 - 1  # the step counter of the compiled step and of optax's schedules is int32


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    mixture: str
    tokens: int
    schedule: str = "cosine"  # "cosine_joined": one curve with the phase before; "cooldown": linear annealing

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"phase {self.name!r}: schedule {self.schedule!r} not in {SCHEDULES}")
        if self.tokens <= 0:
            raise ValueError(f"phase {self.name!r}: token budget must be positive, got {self.tokens}")


def parse_phases(value: Sequence, where: str = "TrainConfig.phases") -> tuple[Phase, ...]:
    """((name, mixture, tokens[, schedule]), ...) as written in gin -> Phases, naming what is wrong."""
    phases = []
    for i, item in enumerate(value):
        if isinstance(item, Phase):
            phases.append(item)
            continue
        if not isinstance(item, (tuple, list)) or len(item) not in (3, 4):
            raise ValueError(f"{where}[{i}] = {item!r}: expected (phase, mixture, tokens[, schedule])")
        name, mixture, tokens, *schedule = item
        try:
            phases.append(Phase(str(name), str(mixture), round(float(tokens)), *schedule))
        except ValueError as e:
            raise ValueError(f"{where}[{i}]: {e}") from None
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: phase names repeat: {names}")
    return tuple(phases)


@dataclasses.dataclass(frozen=True)
class PhasePlan:
    """Phases and their steps; step s belongs to phase `phase_at(s)`, steps [starts[i], ends[i])."""

    phases: tuple[Phase, ...]
    steps: tuple[int, ...]
    tokens_per_step: int

    def __post_init__(self):
        if not self.phases or len(self.phases) != len(self.steps):
            raise ValueError(f"a phase plan needs steps for each of its {len(self.phases)} phases, got {self.steps}")
        if any(n <= 0 for n in self.steps):
            raise ValueError(f"phase steps must be positive, got {self.steps}")
        for i, ph in enumerate(self.phases):
            if ph.schedule == "cosine_joined" and (i == 0 or self.phases[i - 1].schedule == "cooldown"):
                raise ValueError(f"phase {ph.name!r}: schedule 'cosine_joined' continues the cosine of the phase "
                                 f"before, and {'there is none' if i == 0 else 'that one is a cooldown'}")
        if self.total_steps > MAX_STEPS:
            raise ValueError(f"{self.total_steps:,} steps of {self.tokens_per_step:,} tokens overflow the step "
                             f"counter ({MAX_STEPS:,}): raise TrainConfig.global_batch or seq_len, or lower "
                             f"TrainConfig.budget_scale")

    @classmethod
    def from_budgets(cls, phases: Sequence[Phase], tokens_per_step: int, scale: float = 1.0,
                     rounding: str = "error") -> PhasePlan:
        """Steps per phase at `scale` x the budgets. A budget must be whole batches
        (`rounding="error"`), or is rounded to the nearest whole batch (`"nearest"`: the
        paper's 200B at 512 x 8192 tokens per step is 47,683.7 batches)."""
        if rounding not in ROUNDINGS:
            raise ValueError(f"TrainConfig.budget_rounding={rounding!r}: expected one of {ROUNDINGS}")
        steps = []
        for ph in phases:
            tokens = round(ph.tokens * scale)
            n = round(tokens / tokens_per_step) if rounding == "nearest" else tokens // tokens_per_step
            if n <= 0 or (rounding == "error" and tokens % tokens_per_step):
                raise ValueError(f"phase {ph.name!r} ({ph.mixture}): a budget of {tokens:,} tokens is not a whole "
                                 f"number of batches of {tokens_per_step:,} tokens (TrainConfig.budget_scale="
                                 f"{scale}; TrainConfig.budget_rounding='nearest' rounds it)")
            steps.append(n)
        return cls(tuple(phases), tuple(steps), tokens_per_step)

    @classmethod
    def one_mixture(cls, mixture: str, steps: int, tokens_per_step: int, name: str = "pretrain") -> PhasePlan:
        return cls((Phase(name, mixture, steps * tokens_per_step),), (steps,), tokens_per_step)

    # Read at every step by the loader and the trainer: computed once.
    @functools.cached_property
    def total_steps(self) -> int:
        return sum(self.steps)

    @functools.cached_property
    def ends(self) -> tuple[int, ...]:
        return tuple(itertools.accumulate(self.steps))

    @functools.cached_property
    def starts(self) -> tuple[int, ...]:
        return (0, *self.ends[:-1])

    def phase_at(self, step: int) -> int:
        if not 0 <= step < self.total_steps:
            raise IndexError(f"step {step} outside the plan's {self.total_steps} steps")
        return bisect.bisect_right(self.ends, step)

    def tokens(self, phase: int) -> int:
        """Tokens trained in `phase`: its steps x tokens per step (its budget, rounded to batches)."""
        return self.steps[phase] * self.tokens_per_step

    @property
    def switch_steps(self) -> tuple[int, ...]:
        """The steps at which another phase's mixture switches in (the cooldown's among them)."""
        return self.starts[1:]

    @functools.cached_property
    def segments(self) -> tuple[tuple[str, int, int], ...]:
        """The LR schedule's stretches, (kind, first step, steps), kind "cosine" (a warmup and a cosine
        decay) or "cooldown": each phase starts one, except a "cosine_joined" phase, which extends
        the cosine before it."""
        out: list[tuple[str, int, int]] = []
        for ph, start, n in zip(self.phases, self.starts, self.steps):
            if ph.schedule == "cosine_joined":
                kind, first, steps = out[-1]
                out[-1] = (kind, first, steps + n)
            else:
                out.append((ph.schedule, start, n))
        return tuple(out)

    def segment_end(self, phase: int) -> int:
        """The step at which the LR segment holding `phase` ends."""
        return next(first + n for _, first, n in self.segments if first + n >= self.ends[phase])

    def shared_prefix(self, other: PhasePlan, mixture_key=None) -> int:
        """How many leading phases two plans share: the same phase names, schedules, steps and data
        (mixtures equal by `mixture_key`, a name -> what its data is; default the name), and the same
        LR over them (a cosine that runs on past the last shared phase must run as far in both). A
        run of `other` can continue from this one's checkpoint at the end of those."""
        if self.tokens_per_step != other.tokens_per_step:
            return 0
        key = mixture_key or (lambda name: name)

        def same(i: int) -> bool:
            a, b = self.phases[i], other.phases[i]
            return ((a.name, a.schedule, self.steps[i]) == (b.name, b.schedule, other.steps[i])
                    and key(a.mixture) == key(b.mixture))

        n = 0
        while n < min(len(self.phases), len(other.phases)) and same(n):
            n += 1
        while n and self.segment_end(n - 1) != other.segment_end(n - 1):
            n -= 1
        return n

    def rows(self, lr=None) -> list[dict]:
        """One dict per phase (plan.json, logs, `cip inspect`); `lr(step)` adds the LR at its first step."""
        out = []
        for i, ph in enumerate(self.phases):
            row = {"phase": ph.name, "mixture": ph.mixture, "schedule": ph.schedule, "start_step": self.starts[i],
                   "end_step": self.ends[i], "tokens": self.tokens(i)}
            if lr is not None:
                row["lr_at_start"] = float(lr(self.starts[i]))
            out.append(row)
        return out
