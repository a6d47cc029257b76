"""`cip materialize`: tasks -> tokenized ArrayRecord shards, as an Apache Beam pipeline.

    cip materialize --mixture balanced --vocab PREFIX --output DIR
    cip materialize --task stack_code --vocab PREFIX --output gs://bucket/tokens \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\
        --extra_package dist/code_in_pretraining-0.1.0.tar.gz  # workers need this package (python -m build)

The driver lists every task's input shards and the ones not yet finished; the
pipeline maps `materialize.materialize_shard` (the trainer's code path too) over
them, one input shard per element; the driver then merges the per-shard stats
into <task>/<split>.stats.json. DirectRunner runs here; any other runner is a
flag, and flags this command does not know are Beam pipeline options.
Re-running skips finished shards. With --on-bad-record fail, the first bad
record stops its shard (no output for it), and the command exits 2 naming file
and line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from code_in_pretraining.data import materialize, mixtures


def _vocabulary(prefix: str):
    import seqio

    path = prefix if prefix.endswith(".model") else prefix + ".model"
    return seqio.SentencePieceVocabulary(path)


class _Shard:
    """The Beam element function: one input shard; a bad-input failure is recorded, not raised."""

    def __init__(self, out_dir: str, vocab_model: str | None, on_bad_record: str | None):
        self.out_dir, self.vocab_model, self.on_bad_record = out_dir, vocab_model, on_bad_record

    def __call__(self, work: tuple[str, str, int, int, str]) -> dict:
        from code_in_pretraining.data.stats import BadInputError

        task, split, index, num_shards, shard = work
        vocab = _vocabulary(self.vocab_model) if self.vocab_model else None
        try:
            return materialize.materialize_shard(task, split, index, num_shards, shard, self.out_dir,
                                                 vocabulary=vocab, on_bad_record=self.on_bad_record)
        except BadInputError as e:  # already written to the shard's .failed.json
            return {"task": task, "shard": index, "error": str(e)}


def plan(tasks: list[str], split: str) -> dict[str, list[str]]:
    return {t: materialize.list_shards(t, split) for t in tasks}


def run(tasks: list[str], split: str, out_dir: str, *, vocab_model: str | None = None,
        on_bad_record: str | None = None, pipeline_args: list[str] | None = None) -> dict[str, dict]:
    """Materialise `tasks` into out_dir with a Beam pipeline; returns the merged stats per task."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    shards = plan(tasks, split)
    vocab = _vocabulary(vocab_model) if vocab_model else None
    work = []
    for task, inputs in shards.items():
        checksum = materialize.vocabulary_checksum(
            vocab or mixtures.get_task(task).output_features["targets"].vocabulary)
        work += [(task, split, i, len(inputs), s) for i, s in enumerate(inputs)
                 if not materialize.shard_done(out_dir, task, split, i, len(inputs), s, checksum)]
    if work:
        options = PipelineOptions(pipeline_args or ["--runner=DirectRunner"])
        with beam.Pipeline(options=options) as p:
            _ = (p | "shards" >> beam.Create(work)
                 | "spread" >> beam.Reshuffle()
                 | "tokenize" >> beam.Map(_Shard(out_dir, vocab_model, on_bad_record)))
    return {t: materialize.merge_stats(t, split, len(inputs), out_dir) for t, inputs in shards.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip materialize", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--mixture", help="every task of a registered mixture")
    which.add_argument("--task", action="append", help="a task (repeatable)")
    parser.add_argument("--vocab", required=True, help="SentencePiece model prefix (PREFIX.model)")
    parser.add_argument("--output", required=True, help="output directory (local or gs://)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--runner", default="DirectRunner", help="Beam runner, e.g. DataflowRunner")
    parser.add_argument("--on-bad-record", choices=("skip", "fail"), default=None,
                        help="default: the data config's choice per task (skip)")
    args, beam_args = parser.parse_known_args(argv)
    from code_in_pretraining.data.stats import BadInputError

    try:
        tasks = list(mixtures.mixture_weights(args.mixture)) if args.mixture else args.task
        for t in tasks:
            mixtures.get_task(t)
        t0 = time.perf_counter()
        result = run(tasks, args.split, args.output, vocab_model=args.vocab, on_bad_record=args.on_bad_record,
                     pipeline_args=[f"--runner={args.runner}", *beam_args])
    except (KeyError, FileNotFoundError, ValueError, BadInputError) as e:
        print(f"cip materialize: {e}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    failed = [f for r in result.values() for f in r["failed_shards"]]
    for task, r in result.items():
        print(f"{task:>18}/{args.split}: {r['documents']:>8} documents {r['tokens']:>11} tokens  "
              f"{r['finished_shards']}/{r['shards']} shards  dropped {r['dropped']}  malformed {r['malformed']}")
    print(json.dumps({"seconds": round(seconds, 1), "output": args.output}))
    for f in failed:
        print(f"cip materialize: shard {f['shard']} ({f['input']}): {f['error']}", file=sys.stderr)
    return 2 if any(f["error"] != "missing file" for f in failed) else 0  # bad input under "fail"
