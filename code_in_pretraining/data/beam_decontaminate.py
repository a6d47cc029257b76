"""Overlap of training tasks with evaluation examples, as an Apache Beam pipeline (`cip decontaminate`).

    cip decontaminate --mixture balanced --out DIR [--remove --vocab PREFIX]
    cip decontaminate --mixture balanced --out gs://bucket/tokens --runner DataflowRunner --project P \\
        --region R --temp_location gs://bucket/tmp --extra_package dist/code_in_pretraining-0.1.0.tar.gz

The caller builds the n-gram index of the evaluation examples (ngrams.py; the
command line gets the texts from eval/contamination.py) and saves it under
DIR/decontamination/. The pipeline maps `_Scan` over every input shard of every task:
the shard's documents, as the source yields them and without the duplicates that a
dedup list removes, each scanned against the index; a document that shares a gram is
written with the examples it shares grams with, its words and its tokens in the task's
vocabulary, in DIR/<task>/decontaminate/<stem>.<index fingerprint>.json. A finished
shard's file is kept, so an interrupted run scans only the rest. `report` merges them:
per evaluation set, the contaminated examples and where; per source, the documents,
tokens and words that overlap. `removal_lists` writes the contaminated documents as
each task's contamination drop list (drops.py), which materialisation then leaves out.
"""

from __future__ import annotations

import collections
import importlib
import logging

from code_in_pretraining.data import drops, files
from code_in_pretraining.data.ngrams import NgramIndex
from code_in_pretraining.data.shards import shard_stem, sharded_source, task_drops
from code_in_pretraining.data.words import batches

log = logging.getLogger(__name__)
SHOWN_DOCUMENTS = 20  # contaminated documents listed per source in the report
_INDEXES: dict[str, NgramIndex] = {}  # per worker process: each index is read once


def index_path(out_dir, index_fingerprint: str) -> str:
    return files.join(out_dir, "decontamination", f"index-{index_fingerprint}.npz")


def _index(path: str) -> NgramIndex:
    if path not in _INDEXES:
        _INDEXES[path] = NgramIndex.load(path)[0]
    return _INDEXES[path]


def result_path(out_dir, task: str, split: str, index: int, num_shards: int, index_fp: str, suffix=".json") -> str:
    return files.join(out_dir, task, "decontaminate",
                      f"{shard_stem(split, index, num_shards)}.{index_fp}{suffix}")


class _Scan:
    """(task, split, shard index, shards, input, positions to skip) -> the shard's result file; yields the
    task and shard when done, nothing when its input is missing or unreadable (<...>.failed.json)."""

    def __init__(self, out_dir: str, index_file: str, index_fp: str, vocab_model: str | None,
                 module_imports: tuple[str, ...]):
        self.out_dir, self.index_file, self.index_fp = out_dir, index_file, index_fp
        self.vocab_model, self.module_imports = vocab_model, module_imports

    def __call__(self, work):
        from code_in_pretraining.data.stats import SourceStats

        task, split, i, n, shard, skip = work
        path = result_path(self.out_dir, task, split, i, n, self.index_fp)
        if files.exists(path) and files.read_json(path).get("input") == shard:
            yield task, i
            return
        for module in self.module_imports:
            importlib.import_module(module)
        index, source, stats = _index(self.index_file), sharded_source(task), SourceStats()
        vocab = self._vocabulary(task)
        kept = ((pos, doc) for pos, doc in enumerate(source.documents(split, shard, stats, "skip")) if pos not in skip)
        found, docs, characters = [], 0, 0
        for batch in batches((pos, doc["text"], doc["id"]) for pos, doc in kept):
            docs += len(batch)
            characters += sum(len(text) for _, text, _ in batch)
            for (pos, text, doc_id), overlap in zip(batch, index.scan([text for _, text, _ in batch])):
                if overlap is not None:
                    found.append({"index": pos, "id": doc_id, "words": overlap.words, "characters": len(text),
                                  "tokens": len(vocab.encode(text)) + 1, "overlap_words": overlap.overlap_words,
                                  "owners": list(overlap.owners), "snippet": overlap.snippet})
        error = stats.file_error()
        if error:
            files.write_json(result_path(self.out_dir, task, split, i, n, self.index_fp, ".failed.json"),
                             {"input": shard, "error": error})
            log.warning("decontaminate %s: shard %d (%s) failed: %s", task, i, shard, error)
            return
        files.write_json(path, {"input": shard, "documents": docs, "characters": characters,
                                "contaminated": found})
        files.remove(result_path(self.out_dir, task, split, i, n, self.index_fp, ".failed.json"))
        log.info("decontaminate %s: shard %d/%d, %d of %d documents overlap", task, i + 1, n, len(found), docs)
        yield task, i

    def _vocabulary(self, task: str):
        if self.vocab_model:
            import seqio

            return seqio.SentencePieceVocabulary(self.vocab_model + ("" if self.vocab_model.endswith(".model")
                                                                     else ".model"))
        from code_in_pretraining.data import mixtures

        return mixtures.get_task(task).output_features["targets"].vocabulary


def run(tasks: list[str], split: str, out_dir: str, index_file: str, index_fp: str, *,
        vocab_model: str | None = None, pipeline_args: list[str] | None = None,
        module_imports: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Scans every shard of `tasks` not yet scanned against the index; returns each task's input shards."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    shards = {t: sharded_source(t).list_shards(split) for t in tasks}
    work = []
    for task, inputs in shards.items():
        dedup = task_drops(task, split, out_dir, ("dedup",))
        work += [(task, split, i, len(inputs), s, set(dedup.get(i, {}))) for i, s in enumerate(inputs)
                 if not files.exists(result_path(out_dir, task, split, i, len(inputs), index_fp))]
    if work:
        options = PipelineOptions(pipeline_args or ["--runner=DirectRunner"])
        with beam.Pipeline(options=options) as p:
            _ = (p | "shards" >> beam.Create(work)
                 | "spread" >> beam.Reshuffle()
                 | "scan" >> beam.FlatMap(_Scan(str(out_dir), index_file, index_fp, vocab_model,
                                                tuple(module_imports))))
    return shards


def _shard_results(out_dir, task: str, split: str, inputs: list[str], index_fp: str):
    for i, shard in enumerate(inputs):
        path = result_path(out_dir, task, split, i, len(inputs), index_fp)
        if files.exists(path):
            yield i, shard, files.read_json(path), None
        else:
            why = result_path(out_dir, task, split, i, len(inputs), index_fp, ".failed.json")
            yield i, shard, None, files.read_json(why)["error"] if files.exists(why) else "not scanned"


def report(shards: dict[str, list[str]], split: str, out_dir, index_fp: str, meta: dict) -> dict:
    """The merged report: per evaluation set (meta["sets"], meta["examples"] from the index's maker) its
    contaminated examples with the sources they appear in; per source its overlapping documents."""
    examples, sets = meta["examples"], meta["sets"]
    hits: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    sources = {}
    for task, inputs in shards.items():
        s = {"documents": 0, "characters": 0, "contaminated_documents": 0, "contaminated_tokens": 0,
             "contaminated_words": 0, "contaminated_characters": 0, "overlap_words": 0,
             "benchmarks": collections.Counter(), "failed_shards": [], "examples": []}
        for i, shard, result, error in _shard_results(out_dir, task, split, inputs, index_fp):
            if result is None:
                s["failed_shards"].append({"shard": i, "input": shard, "error": error})
                continue
            s["documents"] += result["documents"]
            s["characters"] += result["characters"]
            for doc in result["contaminated"]:
                s["contaminated_documents"] += 1
                s["contaminated_tokens"] += doc["tokens"]
                s["contaminated_words"] += doc["words"]
                s["contaminated_characters"] += doc["characters"]
                s["overlap_words"] += doc["overlap_words"]
                names = sorted({examples[o]["benchmark"] for o in doc["owners"]})
                s["benchmarks"].update(names)
                for o in doc["owners"]:
                    hits[o][task] += 1
                if len(s["examples"]) < SHOWN_DOCUMENTS:
                    s["examples"].append({"id": doc["id"], "shard": i, "index": doc["index"],
                                          "overlap_words": doc["overlap_words"], "words": doc["words"],
                                          "matches": [f"{examples[o]['benchmark']}:{examples[o]['id']}"
                                                      for o in doc["owners"][:5]],
                                          "snippet": doc["snippet"]})
        s["benchmarks"] = dict(sorted(s["benchmarks"].items()))
        sources[task] = s
    benchmarks = {}
    for name, info in sets.items():
        owners = sorted(o for o in hits if examples[o]["benchmark"] == name)
        benchmarks[name] = {**info, "contaminated": len(owners),
                            "contaminated_examples": [{"index": examples[o]["index"], "id": examples[o]["id"],
                                                       "sources": dict(sorted(hits[o].items()))} for o in owners]}
    return {"split": split, "n": meta["n"], "min_words": meta["min_words"], "index": index_fp,
            "grams": meta.get("grams"), "benchmarks": benchmarks, "sources": sources}


def removal_lists(shards: dict[str, list[str]], split: str, out_dir, index_fp: str, meta: dict) -> dict[str, int]:
    """Each task's contaminated documents as its contamination drop list; returns how many per task."""
    examples, removed = meta["examples"], {}
    for task, inputs in shards.items():
        rows = [{"shard": i, "index": doc["index"], "id": doc["id"], "kind": "contaminated",
                 "examples": [f"{examples[o]['benchmark']}:{examples[o]['id']}" for o in doc["owners"]]}
                for i, _, result, _ in _shard_results(out_dir, task, split, inputs, index_fp) if result
                for doc in result["contaminated"]]
        source = sharded_source(task)
        summary = {"task": task, "split": split, "inputs": drops.inputs_fingerprint(source, inputs),
                   "index": index_fp, "n": meta["n"], "min_words": meta["min_words"]}
        removed[task] = drops.write(out_dir, task, split, "contamination", rows, summary)
    return removed
