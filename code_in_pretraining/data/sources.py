"""Raw document sources for SeqIO tasks: JSON Lines files on local disk or gs://.

A source yields {"id": str, "text": str} examples. Records that cannot be used
(malformed JSON, no text field, empty text) are skipped and counted, with the
file and line of the first few, so that bad input never fails deep inside tf.data.
"""

from __future__ import annotations

import collections
import gzip
import json
import logging
from collections.abc import Iterator, Mapping

import seqio
import tensorflow as tf

log = logging.getLogger(__name__)

# file -> reason -> count, for reporting what was skipped.
SKIPPED: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def _open_binary(path: str):
    raw = tf.io.gfile.GFile(path, "rb")
    return gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw


def read_jsonl(path: str, text_key: str = "text", id_key: str = "id") -> Iterator[dict[str, str]]:
    """Yields {"id", "text"} per usable line of one JSONL file (plain or .gz)."""
    with _open_binary(path) as f:
        for lineno, raw_line in enumerate(f, 1):
            try:
                record = json.loads(raw_line.decode("utf-8"))
                text = record[text_key]
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
                _skip(path, lineno, type(e).__name__)
                continue
            if not isinstance(text, str) or not text.strip():
                _skip(path, lineno, "empty_text")
                continue
            yield {"id": str(record.get(id_key, f"{path}:{lineno}")), "text": text}


def _skip(path: str, lineno: int, reason: str) -> None:
    SKIPPED[path][reason] += 1
    if SKIPPED[path][reason] <= 3:
        log.warning("%s:%d: skipped record (%s)", path, lineno, reason)


def jsonl_source(files_by_split: Mapping[str, list[str] | str], text_key: str = "text") -> seqio.DataSource:
    """A SeqIO source over JSONL files; `files_by_split` maps split -> file list or glob."""

    def files(split: str) -> list[str]:
        spec = files_by_split[split]
        paths = sorted(tf.io.gfile.glob(spec)) if isinstance(spec, str) else list(spec)
        if not paths:
            raise FileNotFoundError(f"no files for split {split!r}: {spec!r}")
        missing = [p for p in paths if not tf.io.gfile.exists(p)]
        if missing:
            raise FileNotFoundError(f"data file not found: {missing[0]}")
        return paths

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        paths = files(split)

        def gen():
            for path in paths:
                yield from read_jsonl(path, text_key)

        signature = {"id": tf.TensorSpec((), tf.string), "text": tf.TensorSpec((), tf.string)}
        return tf.data.Dataset.from_generator(gen, output_signature=signature)

    return seqio.FunctionDataSource(dataset_fn, splits=list(files_by_split))
