"""Each family's stream of candidates, and which of them the output takes.

Candidate j of family f is a pure function of (seed, f, j). Its outcome is "duplicate"
when an earlier candidate of the same stream has the same normalised AST (dedup.py),
else the verdict of verification. Family f contributes the first quota_f kept
problems of its stream, quota_f = N / F. A stream that yields too few within
CANDIDATES_PER_QUOTA * quota_f candidates is exhausted, and its shortfall is shared
out among the others, in family order. Every decision here depends only on stream
prefixes, never on how the work was batched or spread: the in-process generator
(generate.py) and the Beam pipeline (beam_synth.py) fill the streams differently and
make the same output. Output order: round-robin over the families.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from code_in_pretraining.synthetic import families as families_lib
from code_in_pretraining.synthetic import verify
from code_in_pretraining.synthetic.problem import Problem

CANDIDATES_PER_QUOTA = 20  # a family's stream may use this many candidates per problem asked of it


def candidate(seed: int, family: str, j: int) -> Problem:
    return families_lib.generate(family, random.Random(f"{seed}:{family}:{j}"))


def dedup_source(problem: Problem) -> str:
    """What duplicates are judged on: imports, signature and solution (the docstring plays no part)."""
    return f"{problem.imports}\n{problem.function_source()}"


def record(seed: int, j: int, problem: Problem, verdict: verify.Verdict) -> dict:
    return {
        "id": f"synth-{seed}-{problem.family}-{j}",
        "family": problem.family,
        "template": problem.template,
        "entry_point": problem.entry,
        "prompt": verdict.prompt,
        "solution": verdict.solution,
        "tests": verdict.tests,
        "text": verdict.text,
        "verification": verdict.verification,
    }


@dataclasses.dataclass
class Outcome:
    family: str
    j: int
    reason: str                  # "ok", "duplicate", "pending" or one of verify.REASONS
    record: dict | None = None


@dataclasses.dataclass
class Stream:
    family: str
    quota: int
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)  # candidates 0, 1, ... in order

    def kept(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.reason == "ok"][:self.quota]

    def cap(self) -> int:
        return CANDIDATES_PER_QUOTA * self.quota + 20

    def done(self) -> bool:
        """Quota met by settled candidates, or the stream is used up."""
        n_ok = 0
        for o in self.outcomes:
            if o.reason == "pending":
                return False
            n_ok += o.reason == "ok"
            if n_ok == self.quota:
                return True
        return len(self.outcomes) >= self.cap()

    def exhausted(self) -> bool:
        return self.done() and len(self.kept()) < self.quota

    def settled(self) -> list[Outcome]:
        """The outcomes that count: up to the quota-th kept one (or all, when exhausted)."""
        n_ok = 0
        for i, o in enumerate(self.outcomes):
            n_ok += o.reason == "ok"
            if n_ok == self.quota:
                return self.outcomes[:i + 1]
        return list(self.outcomes)


def start(n: int, families: Sequence[str] | None) -> list[Stream]:
    """One stream per family, quotas summing to n (the first families take the remainder)."""
    families = list(families or families_lib.FAMILIES)
    unknown = [f for f in families if f not in families_lib.FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {sorted(families_lib.FAMILIES)}")
    return [Stream(f, n // len(families) + (k < n % len(families))) for k, f in enumerate(families)]


def share_shortfall(streams: list[Stream], n: int) -> bool:
    """When every stream is done: shares what the exhausted ones could not make out among the
    others, in family order. False when there is nothing left to do (n made, or nothing can grow)."""
    short = n - sum(len(s.kept()) for s in streams)
    growable = [s for s in streams if not s.exhausted()]
    if short <= 0 or not growable:
        return False
    for k, s in enumerate(growable):
        s.quota += short // len(growable) + (k < short % len(growable))
    return True


def collect(streams: list[Stream]) -> tuple[list[dict], list[Outcome]]:
    """(the kept records, round-robin over the families; the outcomes that count)."""
    kept = [s.kept() for s in streams]
    records = [k[r].record for r in range(max(map(len, kept), default=0)) for k in kept if r < len(k)]
    return records, [o for s in streams for o in s.settled()]
