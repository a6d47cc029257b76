"""`cip synth --beam`: the families' streams (streams.py) filled by an Apache Beam pipeline.

    cip synth --beam --n 10000 --seed 0 --out DIR --workers 2     # DirectRunner, two workers here
    cip synth --beam --n 1000000 --out gs://... --runner DataflowRunner ...

The driver runs the pipeline in rounds until every stream is settled. A round asks,
per family, for the dedup keys of candidates [0, raw_end) and for the verdicts of
the first `want` non-duplicates among them:

  blocks (family, index range) --keys--> ((family, normalised-AST key), j)
      --GroupByKey--> the first j of each key: the non-duplicates ("representatives")
      --GroupByKey by family--> sorted representatives, cut into chunks
      --Reshuffle--> verify each chunk through the worker's own sandbox pool

Duplicates are found by the grouping stage, across all workers, never by one process.
What each stage finishes is written under DIR/work (keys per block, representatives
per family, verdicts per chunk, each file atomically) and read back instead of redone:
a run that was interrupted, or asked again for more problems, does only what is
missing. The driver then settles the streams exactly as the in-process generator
does, so the output is the same whatever the number of workers, and the same as
`generate.generate` for the same seed: N records in round-robin order, written as
DIR/synthetic_code-KKKKK-of-NNNNN.jsonl.gz shards that the `synthetic_code` task reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pathlib
import threading
from collections.abc import Callable, Sequence

from code_in_pretraining.eval import sandbox
from code_in_pretraining.synthetic import dedup, output, verify
from code_in_pretraining.synthetic import streams as streams_lib
from code_in_pretraining.synthetic.streams import Outcome, Stream

BLOCK = 32  # candidates whose keys one element computes
CHUNK = 4  # representatives whose verdicts one file holds
CHUNKS_AT_ONCE = 2  # chunks a worker verifies together (one's specifications run while the other's candidates do)
FIRST_DENSITY = 0.7  # share of candidates that are not duplicates, guessed before the first round
FIRST_ACCEPTANCE = 0.97  # share of representatives kept, guessed before a stream has 10 verdicts


@dataclasses.dataclass(frozen=True)
class Target:
    raw_end: int  # candidates [0, raw_end) get keys
    want: int  # the first `want` representatives get verdicts


def _chunks(reps: list[int], target: Target) -> list[list[int]]:
    """The first `target.want` representatives, CHUNK at a time from the first. A chunk's file is
    named by its first and last candidate, so a last, partial chunk that a later round fills up
    is a new chunk (its few verdicts are made again), never a file that changed."""
    reps = reps[:target.want]
    return [reps[i:i + CHUNK] for i in range(0, len(reps), CHUNK)]


def _verdict_file(work: pathlib.Path, family: str, chunk: list[int]) -> pathlib.Path:
    return work / "verdicts" / family / f"{chunk[0]:07d}-{chunk[-1]:07d}.jsonl"


class _BlockKeys:
    """Keys of one block of candidates: ((family, key), j) for j < the family's raw_end."""

    def __init__(self, seed: int, work: str, targets: dict[str, Target]):
        self.seed, self.work, self.targets = seed, pathlib.Path(work), targets

    def __call__(self, block: tuple[str, int]):
        family, start = block
        path = self.work / "keys" / family / f"{start:07d}.json"
        if path.exists():
            keys = json.loads(path.read_text())
        else:
            keys = [dedup.key(streams_lib.dedup_source(streams_lib.candidate(self.seed, family, j)))
                    for j in range(start, start + BLOCK)]
            output.write_atomic(path, json.dumps(keys))
        end = self.targets[family].raw_end
        return [((family, key), start + i) for i, key in enumerate(keys) if start + i < end]


class _Plan:
    """One family's representatives (written for the driver), cut into the chunks to verify."""

    def __init__(self, work: str, targets: dict[str, Target]):
        self.work, self.targets = pathlib.Path(work), targets

    def __call__(self, item: tuple[str, list[int]]):
        family, reps = item
        reps = sorted(reps)
        target = self.targets[family]
        output.write_atomic(self.work / "reps" / f"{family}.json",
                            json.dumps({"raw_end": target.raw_end, "reps": reps}))
        return [(family, chunk) for chunk in _chunks(reps, target)
                if not _verdict_file(self.work, family, chunk).exists()]


class _VerifyChunks:
    """Verdicts of a few chunks, through this worker's own sandbox pool. One Verifier takes them
    all, so the next chunk's specifications run while this one's candidates do; each chunk's
    file is written as soon as its last verdict comes."""

    def __init__(self, seed: int, work: str, config: verify.Config, sandbox_workers: int):
        self.seed, self.work, self.config, self.sandbox_workers = seed, pathlib.Path(work), config, sandbox_workers

    def __call__(self, items: list[tuple[str, list[int]]]) -> int:
        todo = [(f, c) for f, c in items if not _verdict_file(self.work, f, c).exists()]  # else a retried bundle
        where = [(k, j) for k, (_, c) in enumerate(todo) for j in c]  # verifier id -> (chunk, candidate)
        problems = [streams_lib.candidate(self.seed, todo[k][0], j) for k, j in where]
        verdicts: dict[tuple[int, int], tuple[verify.Verdict, object]] = {}
        with sandbox.session(self.sandbox_workers) as submit:
            verifier = verify.Verifier(submit, self.config)
            verifier.add(dict(enumerate(problems)))
            while verifier.busy():
                for i, v in verifier.wait():
                    k, _ = where[i]
                    verdicts[where[i]] = (v, problems[i])
                    family, chunk = todo[k]
                    if all((k, j) in verdicts for j in chunk):
                        lines = [{"j": j, "reason": verdicts[k, j][0].reason,
                                  "record": streams_lib.record(self.seed, j, verdicts[k, j][1], verdicts[k, j][0])
                                  if verdicts[k, j][0].kept else None} for j in chunk]
                        output.write_atomic(_verdict_file(self.work, family, chunk),
                                      "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
        return len(problems)


def _first_of_each(item):
    (family, _), js = item
    return family, min(js)


def _run_round(targets: dict[str, Target], seed: int, work: pathlib.Path, config: verify.Config,
               sandbox_workers: int, pipeline_args: list[str]) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    blocks = [(f, start) for f, t in targets.items() for start in range(0, t.raw_end, BLOCK)]
    with beam.Pipeline(options=PipelineOptions(pipeline_args)) as p:
        _ = (p
             | "blocks" >> beam.Create(blocks)
             | "spread blocks" >> beam.Reshuffle()
             | "keys" >> beam.FlatMap(_BlockKeys(seed, str(work), targets))
             | "by program" >> beam.GroupByKey()
             | "first of each" >> beam.Map(_first_of_each)
             | "by family" >> beam.GroupByKey()
             | "plan" >> beam.FlatMap(_Plan(str(work), targets))
             | "spread chunks" >> beam.Reshuffle()
             | "a few at a time" >> beam.BatchElements(min_batch_size=1, max_batch_size=CHUNKS_AT_ONCE)
             | "verify" >> beam.Map(_VerifyChunks(seed, str(work), config, sandbox_workers)))


def _load(stream: Stream, target: Target | None, work: pathlib.Path) -> None:
    """The stream's outcomes from what the rounds wrote: every candidate before its first
    representative without a verdict (all of [0, raw_end) once every representative has one)."""
    plan_file = work / "reps" / f"{stream.family}.json"
    if target is None or not plan_file.exists():
        return
    plan = json.loads(plan_file.read_text())
    reps, verdicts = plan["reps"], {}
    for chunk in _chunks(reps, target):  # verdicts for reps[:m], the chunks written so far in order
        path = _verdict_file(work, stream.family, chunk)
        if not path.exists():
            break
        verdicts.update((v["j"], v) for v in map(json.loads, path.read_text().splitlines()))
    end = reps[len(verdicts)] if len(verdicts) < len(reps) else plan["raw_end"]
    stream.outcomes = [Outcome(stream.family, j, verdicts[j]["reason"], verdicts[j]["record"]) if j in verdicts
                       else Outcome(stream.family, j, "duplicate") for j in range(end)]


def _round_up(x: float, step: int) -> int:
    return max(step, math.ceil(x / step) * step)


def _next_target(stream: Stream, previous: Target | None, work: pathlib.Path) -> Target:
    """How far the next round takes a stream that is not settled: enough representatives for
    its missing problems at its acceptance so far, and enough candidates to find them."""
    verified = [o for o in stream.outcomes if o.reason != "duplicate"]
    ok = sum(o.reason == "ok" for o in verified)
    rate = max(0.3, ok / len(verified)) if len(verified) >= 10 else FIRST_ACCEPTANCE
    want = len(verified) + math.ceil((stream.quota - ok) / rate) + (len(verified) > 0)  # a margin once short
    cap = stream.cap()
    raw_end, reps_known = 0, 0
    plan_file = work / "reps" / f"{stream.family}.json"
    if previous is not None and plan_file.exists():
        plan = json.loads(plan_file.read_text())
        raw_end, reps_known = plan["raw_end"], len(plan["reps"])
    if reps_known < want or raw_end == 0:
        density = reps_known / raw_end if raw_end and reps_known else FIRST_DENSITY
        raw_end = max(raw_end + BLOCK, math.ceil(1.1 * want / max(density, 0.02)))
    return Target(min(cap, _round_up(raw_end, BLOCK)), want)


@contextlib.contextmanager
def _watching(work: pathlib.Path, callback: Callable[[int], None] | None, every_s: float = 2.0):
    """Calls back with the number of verdict files written, every few seconds while a round runs."""
    stop = threading.Event()

    def watch():
        while not stop.wait(every_s):
            callback(sum(1 for _ in (work / "verdicts").glob("*/*.jsonl")))

    thread = threading.Thread(target=watch, daemon=True) if callback else None
    if thread:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread:
            thread.join()


def _check_work(work: pathlib.Path, seed: int, config: verify.Config) -> None:
    """What a work directory was made for; a rerun must ask for the same (else its files would lie)."""
    made_for = {"seed": seed, "verify": dataclasses.asdict(config)}
    path = work / "config.json"
    if path.exists():
        found = json.loads(path.read_text())
        if found != made_for:
            raise ValueError(f"{work} holds work for {found}, not {made_for}: use another output directory")
    else:
        output.write_atomic(path, json.dumps(made_for, indent=2) + "\n")


def shard_paths(out: pathlib.Path, n_records: int, per_shard: int = 2000) -> list[pathlib.Path]:
    n = max(1, math.ceil(n_records / per_shard))
    return [out / f"synthetic_code-{k:05d}-of-{n:05d}.jsonl.gz" for k in range(n)]


def write_shards(records: list[dict], out: pathlib.Path) -> list[pathlib.Path]:
    """The records, in order, as gzipped JSON Lines shards; shards of an earlier output are removed."""
    paths = shard_paths(out, len(records))
    per = math.ceil(len(records) / len(paths)) if records else 0
    for k, path in enumerate(paths):
        output.write_jsonl(records[k * per:(k + 1) * per], path)
    for old in out.glob("synthetic_code-*-of-*.jsonl.gz"):
        if old not in paths:
            old.unlink()
    return paths


def generate(n: int, seed: int, out: pathlib.Path, *, families: Sequence[str] | None = None,
             config: verify.Config = verify.Config(), sandbox_workers: int = 1,
             pipeline_args: Sequence[str] = ("--runner=DirectRunner",),
             on_progress: Callable[[int, int], None] | None = None,
             on_chunks: Callable[[int], None] | None = None) -> tuple[list[dict], list[Outcome]]:
    """As generate.generate, through rounds of the Beam pipeline; work files under out/work.
    on_progress(kept, candidates) after each round; on_chunks(verdict files) during one."""
    work = out / "work"
    _check_work(work, seed, config)
    streams = streams_lib.start(n, families)
    targets: dict[str, Target] = {}
    while True:
        for s in streams:
            _load(s, targets.get(s.family), work)
        if on_progress:
            on_progress(min(n, sum(len(s.kept()) for s in streams)), sum(len(s.outcomes) for s in streams))
        active = [s for s in streams if not s.done()]
        if not active:
            if not streams_lib.share_shortfall(streams, n):
                break
            continue
        todo = {s.family: _next_target(s, targets.get(s.family), work) for s in active}
        with _watching(work, on_chunks):
            _run_round(todo, seed, work, config, sandbox_workers, list(pipeline_args))
        targets.update(todo)
    return streams_lib.collect(streams)
