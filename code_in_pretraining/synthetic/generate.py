"""From a seed to N verified, de-duplicated problems, in this process (the rules: streams.py).

Candidates are drawn from the families' streams as the sandbox's workers free up: a
candidate that duplicates an earlier one of its stream is recorded as such at once;
the others go to verification (verify.Verifier), each stream drawing about as many as
its acceptance so far says it still needs, never more than a few programs ahead of
the workers. For corpus scale the same streams are filled by a Beam pipeline
(beam_synth.py), with the same output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from code_in_pretraining.eval import sandbox
from code_in_pretraining.synthetic import dedup, verify
from code_in_pretraining.synthetic import streams as streams_lib
from code_in_pretraining.synthetic.problem import Problem
from code_in_pretraining.synthetic.streams import Outcome, Stream, candidate, dedup_source, record


def _wants(stream: Stream) -> int:
    """How many more candidates the stream should have in verification now."""
    missing = stream.quota - len(stream.kept())
    pending = sum(o.reason == "pending" for o in stream.outcomes)
    settled = [o for o in stream.outcomes if o.reason not in ("pending", "duplicate")]
    rate = max(0.3, sum(o.reason == "ok" for o in settled) / len(settled)) if len(settled) >= 10 else 0.8
    return math.ceil(missing / rate) + 1 - pending


def _draw(stream: Stream, seen: dedup.Deduper, seed: int) -> tuple[Outcome, Problem] | None:
    """The stream's next non-duplicate candidate (duplicates are recorded as they come), or None at its cap."""
    while len(stream.outcomes) < stream.cap():
        j = len(stream.outcomes)
        p = candidate(seed, stream.family, j)
        o = Outcome(stream.family, j, "duplicate")
        stream.outcomes.append(o)
        if not seen.seen(dedup_source(p)):
            o.reason = "pending"
            return o, p
    return None


def generate(n: int, seed: int, *, workers: int = 2, families: Sequence[str] | None = None,
             config: verify.Config = verify.Config(),
             on_progress: Callable[[int, int], None] | None = None) -> tuple[list[dict], list[Outcome]]:
    """Returns (n kept records, or fewer if every family ran dry; the outcomes that count)."""
    streams = streams_lib.start(n, families)
    seen = {s.family: dedup.Deduper() for s in streams}
    ahead = 4 * workers + 8  # candidates in verification at once: enough to keep every worker busy
    flying: dict[int, tuple[Outcome, Problem]] = {}
    with sandbox.session(workers) as submit:
        verifier = verify.Verifier(submit, config)
        while True:
            if len(flying) <= ahead - 8 or not flying:
                drawn = {}
                wants = {s.family: _wants(s) for s in streams if not s.done()}
                while len(flying) + len(drawn) < ahead and any(w > 0 for w in wants.values()):
                    for s in streams:  # round-robin over the families that want more
                        if wants.get(s.family, 0) > 0 and len(flying) + len(drawn) < ahead:
                            got = _draw(s, seen[s.family], seed)
                            wants[s.family] = wants[s.family] - 1 if got else 0
                            if got:
                                drawn[id(got[0])] = got
                flying.update(drawn)
                verifier.add({k: p for k, (_, p) in drawn.items()})
            if not flying:
                if all(s.done() for s in streams) and not streams_lib.share_shortfall(streams, n):
                    break
                continue
            for k, v in verifier.wait():
                o, p = flying.pop(k)
                o.reason = v.reason
                if v.kept:
                    o.record = record(seed, o.j, p, v)
            if on_progress:
                on_progress(min(n, sum(len(s.kept()) for s in streams)), sum(len(s.outcomes) for s in streams))
    return streams_lib.collect(streams)
