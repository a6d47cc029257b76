"""From a seed to N verified, de-duplicated problems, deterministically and balanced over families.

Each family f has its own stream of candidates: candidate j of f is a pure function
of (seed, f, j) (its random choices come from Random(f"{seed}:{f}:{j}")). A
candidate that duplicates an earlier one of its stream (dedup.py) is dropped
before execution; the others are verified in batches spread over the sandbox's
workers. Family f contributes the first quota_f kept problems of its stream,
quota_f = N / F. A family whose stream yields too few problems within
CANDIDATES_PER_QUOTA * quota_f candidates (few distinct problems left) is
exhausted, and its shortfall is shared out among the others. Every decision
depends only on stream prefixes, never on how the work was batched, so the
output is the same for any number of workers. Output order: round-robin over
the families (first kept of each family, then the second, ...).
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import math
import os
import pathlib
import random
from collections.abc import Callable, Sequence

from code_in_pretraining.synthetic import dedup, families as families_lib, verify
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
class _Stream:
    family: str
    quota: int
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    seen: dedup.Deduper = dataclasses.field(default_factory=dedup.Deduper)

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


def _draw(stream: _Stream, seed: int, want: int) -> list[tuple[Outcome, Problem]]:
    """Up to `want` new non-duplicate candidates of the stream (duplicates are recorded as they come)."""
    out = []
    while len(out) < want and len(stream.outcomes) < stream.cap():
        j = len(stream.outcomes)
        p = candidate(seed, stream.family, j)
        o = Outcome(stream.family, j, "duplicate")
        if not stream.seen.seen(dedup_source(p)):
            o.reason = "pending"
            out.append((o, p))
        stream.outcomes.append(o)
    return out


def generate(n: int, seed: int, *, workers: int = 2, families: Sequence[str] | None = None,
             config: verify.Config = verify.Config(), batch: int = 96,
             on_progress: Callable[[int, int], None] | None = None) -> tuple[list[dict], list[Outcome]]:
    """Returns (n kept records, or fewer if every family ran dry; the outcomes that count)."""
    families = list(families or families_lib.FAMILIES)
    unknown = [f for f in families if f not in families_lib.FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {sorted(families_lib.FAMILIES)}")
    streams = [_Stream(f, n // len(families) + (k < n % len(families))) for k, f in enumerate(families)]
    while True:
        active = [s for s in streams if not s.done()]
        if not active:
            short = n - sum(len(s.kept()) for s in streams)
            growable = [s for s in streams if not s.exhausted()]
            if short <= 0 or not growable:
                break
            for k, s in enumerate(growable):  # share the shortfall out, in family order
                s.quota += short // len(growable) + (k < short % len(growable))
            continue
        todo = []
        share = max(1, math.ceil(batch / len(active)))
        for s in active:
            missing = s.quota - len(s.kept())
            pending = sum(o.reason == "pending" for o in s.outcomes)
            settled = [o for o in s.outcomes if o.reason not in ("pending", "duplicate")]
            rate = max(0.3, sum(o.reason == "ok" for o in settled) / len(settled)) if len(settled) >= 10 else 0.8
            want = min(share, math.ceil(missing / rate) + 1 - pending)
            todo += _draw(s, seed, max(want, 0))
        verdicts = verify.verify([p for _, p in todo], workers=workers, config=config)
        for (o, p), v in zip(todo, verdicts):
            o.reason = v.reason
            if v.kept:
                o.record = record(seed, o.j, p, v)
        if on_progress:
            on_progress(min(n, sum(len(s.kept()) for s in streams)), sum(len(s.outcomes) for s in streams))
    kept = [s.kept() for s in streams]
    records = [k[r].record for r in range(max(map(len, kept), default=0)) for k in kept if r < len(k)]
    return records, [o for s in streams for o in s.settled()]


def family_stats(outcomes: list[Outcome], records: list[dict], count_tokens: Callable[[str], int]) -> dict:
    """family -> {generated, kept, rejected: {reason: count}, tokens, acceptance}, plus "total"."""
    stats: dict[str, dict] = {}
    for o in outcomes:
        s = stats.setdefault(o.family, {"generated": 0, "kept": 0, "rejected": collections.Counter(), "tokens": 0})
        s["generated"] += 1
        if o.reason == "ok":
            s["kept"] += 1
        else:
            s["rejected"][o.reason] += 1
    for r in records:
        stats[r["family"]]["tokens"] += count_tokens(r["text"])
    total = {"generated": 0, "kept": 0, "rejected": collections.Counter(), "tokens": 0}
    for s in stats.values():
        for k in ("generated", "kept", "tokens"):
            total[k] += s[k]
        total["rejected"].update(s["rejected"])
    out = {f: stats[f] for f in sorted(stats)}
    out["total"] = total
    for s in out.values():
        s["rejected"] = dict(sorted(s["rejected"].items()))
        s["acceptance"] = round(s["kept"] / s["generated"], 4) if s["generated"] else None
    return out


def write_jsonl(records: list[dict], path: pathlib.Path) -> None:
    """Atomic write; gzip with a fixed header (no name, mtime 0) so that bytes depend on content only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    with open(tmp, "wb") as f:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(data)
        else:
            f.write(data)
    os.replace(tmp, path)


def stats_path(out: pathlib.Path) -> pathlib.Path:
    """Where the statistics of an output file go: FILE.stats.json beside it."""
    return out.with_name(out.name + ".stats.json") if out.suffix != ".jsonl" else out.with_suffix(".stats.json")
