"""Tasks -> tokenized ArrayRecord shards, as an Apache Beam pipeline (`cip materialize`).

    cip materialize --mixture balanced --vocab PREFIX --out DIR
    cip materialize --task stack_code --vocab PREFIX --out gs://bucket/tokens \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\
        --extra_package dist/code_in_pretraining-0.1.0.tar.gz  # workers need this package (python -m build)

The driver first deduplicates the tasks whose data config asks for it (`dedup`;
beam_dedup.py, its own pipeline, skipped when done), then lists every task's input
shards and the ones not yet finished with their current drops (drops.py: duplicates,
contamination); the pipeline maps `materialize.materialize_shard` (the trainer's code
path too) over them, one input shard per element; the driver then merges the
per-shard stats into <task>/<split>.stats.json. DirectRunner runs here; any other runner is a
flag, and flags this command does not know are Beam pipeline options.
Re-running skips finished shards. With --on-bad-record fail, the first bad
record stops its shard (no output for it), and the command exits 2 naming file
and line.
"""

from __future__ import annotations

import importlib

from code_in_pretraining.data import materialize, mixtures, vocabulary
from code_in_pretraining.data.shards import list_shards, task_drops


def _vocabulary(prefix: str):
    import seqio

    path = prefix if prefix.endswith(".model") else prefix + ".model"
    return seqio.SentencePieceVocabulary(path)


class _Shard:
    """The Beam element function: one input shard; a bad-input failure is recorded, not raised.

    A worker is a fresh process: it imports `module_imports` (the modules that register the
    tasks, as the driver did) before it looks a task up."""

    def __init__(self, out_dir: str, vocab_model: str | None, on_bad_record: str | None,
                 module_imports: tuple[str, ...]):
        self.out_dir, self.vocab_model, self.on_bad_record = out_dir, vocab_model, on_bad_record
        self.module_imports = module_imports

    def __call__(self, work: tuple[str, str, int, int, str, dict | None]) -> dict:
        from code_in_pretraining.data.stats import BadInputError

        for module in self.module_imports:
            importlib.import_module(module)
        task, split, index, num_shards, shard, drops = work
        vocab = _vocabulary(self.vocab_model) if self.vocab_model else None
        try:
            return materialize.materialize_shard(task, split, index, num_shards, shard, self.out_dir,
                                                 vocabulary=vocab, on_bad_record=self.on_bad_record, drops=drops)
        except BadInputError as e:  # already written to the shard's .failed.json
            return {"task": task, "shard": index, "error": str(e)}


def plan(tasks: list[str], split: str) -> dict[str, list[str]]:
    return {t: list_shards(t, split) for t in tasks}


def run(tasks: list[str], split: str, out_dir: str, *, vocab_model: str | None = None,
        on_bad_record: str | None = None, pipeline_args: list[str] | None = None,
        module_imports: tuple[str, ...] = ()) -> dict[str, dict]:
    """Materialise `tasks` into out_dir with a Beam pipeline; returns the merged stats per task.
    `module_imports`: what each worker imports to register the tasks (the driver has already)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    shards = plan(tasks, split)
    for task in tasks:
        if getattr(mixtures.get_task(task).source, "dedup", None):
            from code_in_pretraining.data import beam_dedup

            beam_dedup.run(task, split, out_dir, pipeline_args=pipeline_args, module_imports=module_imports)
    vocab = _vocabulary(vocab_model) if vocab_model else None
    work = []
    for task, inputs in shards.items():
        vocab_fp = vocabulary.vocabulary_fingerprint(
            vocab or mixtures.get_task(task).output_features["targets"].vocabulary)
        drops = task_drops(task, split, out_dir)
        work += [(task, split, i, len(inputs), s, drops.get(i)) for i, s in enumerate(inputs)
                 if not materialize.shard_done(out_dir, task, split, i, len(inputs), s, vocab_fp, drops.get(i))]
    if work:
        options = PipelineOptions(pipeline_args or ["--runner=DirectRunner"])
        with beam.Pipeline(options=options) as p:
            _ = (p | "shards" >> beam.Create(work)
                 | "spread" >> beam.Reshuffle()
                 | "tokenize" >> beam.Map(_Shard(out_dir, vocab_model, on_bad_record, tuple(module_imports))))
    return {t: materialize.merge_stats(t, split, len(inputs), out_dir) for t, inputs in shards.items()}
