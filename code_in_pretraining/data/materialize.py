"""Tokenize SeqIO tasks into ArrayRecord shards of int32 token ids, one output shard per input shard.

    <root>/<task>/<split>-00003-of-00010.array_record   one record per document, EOS included
    <root>/<task>/<split>-00003-of-00010.stats.json     that shard's counts; written last, so it
                                                        marks the shard as finished
    <root>/<task>/<split>.stats.json                    the merge of every shard's counts

`materialize_shard` is the one code path: the Beam pipeline (beam_materialize.py,
`cip materialize`) maps it over shards, and the trainer's in-process
`materialize_shards` loops over it. A shard is written under a temporary name and
renamed when complete, and finished shards are skipped, so an interrupted run
completes on the next call without duplicates. The in-process root is keyed by
the vocabulary's fingerprint, so a new vocabulary never reads stale tokens. Each
shard's stats carry the fingerprint of its token records, and the merged stats the
fingerprint of the whole set: equal fingerprints, equal batches.

Documents that a drop list names (drops.py: duplicates, contamination) are left
out and counted under `dropped` by kind; a shard's stats carry the fingerprint of
its drops, and a shard whose drops changed is written again.

Bad input follows `on_bad_record`: "skip" counts it (stats: `malformed`, with
file and line of the first few); "fail" raises BadInputError naming file and
line. A shard whose input file is missing or unreadable is not written (it is
retried on the next run): `<stem>.failed.json` says why, and the merged stats list
it under `failed_shards`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
import time

import numpy as np
import seqio
import tensorflow as tf
from array_record.python import array_record_module
from tqdm import tqdm

from code_in_pretraining.data import drops as drops_lib
from code_in_pretraining.data import fingerprint, mixtures
from code_in_pretraining.data.files import join as _join
from code_in_pretraining.data.files import read_json as _read_json
from code_in_pretraining.data.files import write_json as _write_json
from code_in_pretraining.data.paths import data_dir
from code_in_pretraining.data.shards import list_shards, shard_stem, task_drops
from code_in_pretraining.data.sources import SIGNATURE, ShardedSource
from code_in_pretraining.data.stats import BadInputError, SourceStats
from code_in_pretraining.data.vocabulary import vocabulary_fingerprint

TOKEN_DTYPE = np.int32


# -- vocabularies and names ----------------------------------------------------------------------
def task_vocabulary_fingerprint(task_name: str) -> str:
    try:
        return vocabulary_fingerprint(mixtures.get_task(task_name).output_features["targets"].vocabulary)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"task {task_name!r}: {e}") from None


def task_with_vocabulary(task: seqio.Task, vocab: seqio.Vocabulary | None) -> seqio.Task:
    """The task tokenizing with another vocabulary (an unregistered copy), or the task itself."""
    if vocab is None:
        return task
    features = {k: dataclasses.replace(f, vocabulary=vocab) for k, f in task.output_features.items()}
    return seqio.Task(task.name, task.source, features, preprocessors=task.preprocessors)


# -- one shard -------------------------------------------------------------------------------------
def _token_arrays(task: seqio.Task, split: str, shard: str, stats: SourceStats, on_bad_record: str | None,
                  drops: dict[int, str]):
    """Token id arrays of one shard, through the task's own preprocessors; documents in `drops`
    (position -> kind) are left out and counted."""
    source = task.source
    if not isinstance(source, ShardedSource):
        ds = task.get_dataset(sequence_length=None, split=split, shuffle=False)
        for ex in ds.as_numpy_iterator():
            yield ex["targets"]
        return
    failures: list[BaseException] = []

    def documents():
        try:
            for i, doc in enumerate(source.documents(split, shard, stats, on_bad_record)):
                if i in drops:
                    stats.drop(drops[i])
                    stats.characters -= len(doc["text"])
                    continue
                yield doc
        except Exception as e:  # noqa: BLE001  re-raised below, outside tf.data
            failures.append(e)

    ds = tf.data.Dataset.from_generator(documents, output_signature=SIGNATURE)
    ds = task.preprocess_postcache(task.preprocess_precache(ds), sequence_length=None)
    for ex in ds.prefetch(64).as_numpy_iterator():
        yield ex["targets"]
    if failures:
        raise failures[0]


def _publish(local_tmp: str, final: str) -> None:
    """Rename a finished local file to its final name (a copy first when the final is remote)."""
    if "://" not in final:
        os.replace(local_tmp, final)
        return
    remote_tmp = f"{final}.tmp-{os.getpid()}"
    tf.io.gfile.copy(local_tmp, remote_tmp, overwrite=True)
    tf.io.gfile.rename(remote_tmp, final, overwrite=True)
    os.remove(local_tmp)


def _shard_fingerprint(stem: str, done: dict) -> str:
    """A finished shard's fingerprint; one written before stats carried it is read back once and
    the fingerprint added to its stats."""
    if done.get("fingerprint"):
        return done["fingerprint"]
    reader = array_record_module.ArrayRecordReader(stem + ".array_record")
    digest = fingerprint.Records()
    try:
        for record in reader.read_all():
            digest.add(record)
    finally:
        reader.close()
    done["fingerprint"] = digest.hexdigest()
    _write_json(stem + ".stats.json", done)
    return done["fingerprint"]


def shard_done(out_dir, task_name: str, split: str, index: int, num_shards: int, shard: str,
               vocab_sum: str, drops: dict[int, str] | None = None) -> bool:
    """Whether the shard is written, from this input and with these drops (else it is written again)."""
    stem = _join(out_dir, task_name, shard_stem(split, index, num_shards))
    if not (tf.io.gfile.exists(stem + ".stats.json") and tf.io.gfile.exists(stem + ".array_record")):
        return False
    done = _read_json(stem + ".stats.json")
    if done.get("vocab") != vocab_sum:
        raise ValueError(f"{stem}.array_record holds tokens of vocabulary {done.get('vocab')}, not "
                         f"{vocab_sum}; write to another output directory")
    return done.get("input") == shard and done.get("drops") == drops_lib.shard_fingerprint(drops)


def materialize_shard(task_name: str, split: str, index: int, num_shards: int, shard: str, out_dir,
                      *, vocabulary: seqio.Vocabulary | None = None, on_bad_record: str | None = None,
                      drops: dict[int, str] | None = None) -> dict:
    """Tokenize input shard `index` of `num_shards` into its ArrayRecord, leaving out the documents in
    `drops` (position -> kind); returns its stats (skips if done)."""
    drops = drops or {}
    task = task_with_vocabulary(mixtures.get_task(task_name), vocabulary)
    vocab = task.output_features["targets"].vocabulary
    vocab_sum = vocabulary_fingerprint(vocab)
    stem = _join(out_dir, task_name, shard_stem(split, index, num_shards))
    if shard_done(out_dir, task_name, split, index, num_shards, shard, vocab_sum, drops):
        return _read_json(stem + ".stats.json")
    tf.io.gfile.makedirs(_join(out_dir, task_name))
    stats = SourceStats()
    t0 = time.perf_counter()
    local_dir = os.path.dirname(stem) if "://" not in stem else tempfile.gettempdir()
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(stem) + ".", suffix=".tmp", dir=local_dir)
    os.close(fd)
    writer = array_record_module.ArrayRecordWriter(tmp, "group_size:1")
    documents, digest = 0, fingerprint.Records()
    try:
        for ids in _token_arrays(task, split, shard, stats, on_bad_record, drops):
            ids = np.asarray(ids, TOKEN_DTYPE)
            record = ids.tobytes()
            writer.write(record)
            digest.add(record)
            documents += 1
            stats.tokens += int(ids.size)
        writer.close()
    except BadInputError as e:
        writer.close()
        os.remove(tmp)
        _write_json(stem + ".failed.json", {"input": shard, "error": str(e), "kind": "bad_record",
                                            **stats.to_json()})
        raise
    except BaseException:
        writer.close()
        os.remove(tmp)
        raise
    stats.documents = documents
    result = {"task": task_name, "split": split, "shard": index, "num_shards": num_shards, "input": shard,
              "vocab": vocab_sum, "fingerprint": digest.hexdigest(), "drops": drops_lib.shard_fingerprint(drops),
              "seconds": round(time.perf_counter() - t0, 3), **stats.to_json()}
    error = stats.file_error()
    if error:
        os.remove(tmp)
        result = {**result, "error": error, "kind": "file"}
        _write_json(stem + ".failed.json", result)
        return result
    _publish(tmp, stem + ".array_record")
    _write_json(stem + ".stats.json", result)
    if tf.io.gfile.exists(stem + ".failed.json"):
        tf.io.gfile.remove(stem + ".failed.json")
    return result


# -- a whole task --------------------------------------------------------------------------------
def merge_stats(task_name: str, split: str, num_shards: int, out_dir) -> dict:
    """Sum the shards' stats into <task>/<split>.stats.json; lists shards not (yet) written."""
    total, vocab, pending, failed, parts = SourceStats(), None, [], [], []
    for i in range(num_shards):
        stem = _join(out_dir, task_name, shard_stem(split, i, num_shards))
        if tf.io.gfile.exists(stem + ".stats.json"):
            done = _read_json(stem + ".stats.json")
            total = total.merge(SourceStats.from_json(done))
            vocab = done["vocab"]
            parts.append(_shard_fingerprint(stem, done))
        elif tf.io.gfile.exists(stem + ".failed.json"):
            bad = _read_json(stem + ".failed.json")
            total = total.merge(SourceStats.from_json({**bad, "documents": 0, "tokens": 0}))
            failed.append({"shard": i, "input": bad["input"], "error": bad.get("error", "missing_file"),
                           "kind": bad.get("kind", "file")})
        else:
            pending.append(i)
    merged = {"task": task_name, "split": split, "vocab": vocab, "shards": num_shards,
              "fingerprint": fingerprint.combine(parts) if parts and not pending and not failed else None,
              "finished_shards": num_shards - len(pending) - len(failed), "failed_shards": failed,
              "pending_shards": pending, **total.to_json()}
    for name in drops_lib.LISTS:  # what the drop lists hold: clusters of duplicates, contamination
        summary = drops_lib.read_summary(out_dir, task_name, split, name)
        if summary:
            merged[name] = {k: v for k, v in summary.items() if k not in ("largest_clusters",)}
    _write_json(_join(out_dir, task_name, f"{split}.stats.json"), merged)
    return merged


def output_paths(task_name: str, split: str, num_shards: int, out_dir) -> list:
    paths = [_join(out_dir, task_name, shard_stem(split, i, num_shards) + ".array_record")
             for i in range(num_shards)]
    return [p if "://" in p else pathlib.Path(p) for p in paths if tf.io.gfile.exists(p)]


def materialize_shards(task_name: str, split: str, root=None, *, progress: bool = True,
                       vocabulary: seqio.Vocabulary | None = None, on_bad_record: str | None = None) -> list:
    """Every output shard of a task's split, written in this process where missing."""
    if root is None:
        vocab = vocabulary_fingerprint(vocabulary) if vocabulary else task_vocabulary_fingerprint(task_name)
        root = data_dir() / "tokens" / vocab
    shards = list_shards(task_name, split)
    if getattr(mixtures.get_task(task_name).source, "dedup", None):  # the data config asks for it
        from code_in_pretraining.data import beam_dedup

        beam_dedup.run(task_name, split, str(root))
    drops = task_drops(task_name, split, root)
    for i, shard in enumerate(tqdm(shards, desc=f"tokenize {task_name}/{split}", unit=" shards",
                                   disable=not progress or len(shards) == 1, leave=False)):
        materialize_shard(task_name, split, i, len(shards), shard, root, vocabulary=vocabulary,
                          on_bad_record=on_bad_record, drops=drops.get(i))
    merged = merge_stats(task_name, split, len(shards), root)
    paths = output_paths(task_name, split, len(shards), root)
    if not paths:
        inputs = ", ".join(f["input"] for f in merged["failed_shards"][:3])
        raise FileNotFoundError(f"data file not found: {inputs} (task {task_name!r}, split {split!r}; "
                                f"`cip data fetch-default` builds the default corpus)")
    return paths


def decode_record(record: bytes) -> np.ndarray:
    return np.frombuffer(record, dtype=TOKEN_DTYPE)


def shard_set_stats(paths: list, split: str = "train") -> dict:
    """The merged stats of the shard set that `paths` (one task's output shards) belong to."""
    return _read_json(_join(os.path.dirname(str(paths[0])), f"{split}.stats.json"))


def fingerprints(shards: dict[str, list], split: str = "train") -> dict:
    """{"vocabulary": fingerprint, "tokens": {task: fingerprint of its shard set}} of a run's data."""
    stats = {task: shard_set_stats(paths, split) for task, paths in sorted(shards.items())}
    vocabs = sorted({s["vocab"] for s in stats.values()})
    return {"vocabulary": vocabs[0] if len(vocabs) == 1 else vocabs,
            "tokens": {task: s.get("fingerprint") for task, s in stats.items()}}
