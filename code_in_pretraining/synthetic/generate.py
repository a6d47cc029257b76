"""From a seed to N verified, de-duplicated problems, in this process (the rules: streams.py).

Candidates are drawn from the families' streams in rounds: a candidate that
duplicates an earlier one of its stream is recorded as such before execution; the
others are verified in batches spread over the sandbox's workers, each stream drawing
about as many as its acceptance so far says it still needs. For corpus scale the same
streams are filled by a Beam pipeline (beam_synth.py), with the same output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from code_in_pretraining.synthetic import dedup, verify
from code_in_pretraining.synthetic import streams as streams_lib
from code_in_pretraining.synthetic.problem import Problem
from code_in_pretraining.synthetic.streams import (
    Outcome,
    Stream,
    candidate,
    dedup_source,
    record,
)


def _draw(stream: Stream, seen: dedup.Deduper, seed: int, want: int) -> list[tuple[Outcome, Problem]]:
    """Up to `want` new non-duplicate candidates of the stream (duplicates are recorded as they come)."""
    out = []
    while len(out) < want and len(stream.outcomes) < stream.cap():
        j = len(stream.outcomes)
        p = candidate(seed, stream.family, j)
        o = Outcome(stream.family, j, "duplicate")
        if not seen.seen(dedup_source(p)):
            o.reason = "pending"
            out.append((o, p))
        stream.outcomes.append(o)
    return out


def generate(n: int, seed: int, *, workers: int = 2, families: Sequence[str] | None = None,
             config: verify.Config = verify.Config(), batch: int = 96,
             on_progress: Callable[[int, int], None] | None = None) -> tuple[list[dict], list[Outcome]]:
    """Returns (n kept records, or fewer if every family ran dry; the outcomes that count)."""
    streams = streams_lib.start(n, families)
    seen = {s.family: dedup.Deduper() for s in streams}
    while True:
        active = [s for s in streams if not s.done()]
        if not active:
            if not streams_lib.share_shortfall(streams, n):
                break
            continue
        todo = []
        share = max(1, math.ceil(batch / len(active)))
        for s in active:
            missing = s.quota - len(s.kept())
            pending = sum(o.reason == "pending" for o in s.outcomes)
            settled = [o for o in s.outcomes if o.reason not in ("pending", "duplicate")]
            rate = max(0.3, sum(o.reason == "ok" for o in settled) / len(settled)) if len(settled) >= 10 else 0.8
            want = min(share, math.ceil(missing / rate) + 1 - pending)
            todo += _draw(s, seen[s.family], seed, max(want, 0))
        verdicts = verify.verify([p for _, p in todo], workers=workers, config=config)
        for (o, p), v in zip(todo, verdicts):
            o.reason = v.reason
            if v.kept:
                o.record = record(seed, o.j, p, v)
        if on_progress:
            on_progress(min(n, sum(len(s.kept()) for s in streams)), sum(len(s.outcomes) for s in streams))
    return streams_lib.collect(streams)
