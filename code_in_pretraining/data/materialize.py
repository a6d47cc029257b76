"""Tokenize a SeqIO task once into an ArrayRecord file of int32 token arrays.

One record per document (EOS included), plus `<split>.stats.json` with document
and token counts. The output directory is keyed by the vocabulary's checksum so
that a new vocabulary never reads stale tokens. Writes go to a temporary name and
are renamed when complete, so an interrupted run is redone, never half-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import numpy as np
from array_record.python import array_record_module
from tqdm import tqdm

from code_in_pretraining.data import corpus, mixtures

TOKEN_DTYPE = np.int32


def vocab_checksum(task_name: str) -> str:
    vocab = mixtures.get_task(task_name).output_features["targets"].vocabulary
    path = getattr(vocab, "sentencepiece_model_file", None)
    if path is None or not os.path.exists(path):
        raise FileNotFoundError(f"task {task_name!r}: vocabulary model not found: {path}")
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()[:12]


def shard_path(task_name: str, split: str, root: pathlib.Path | None = None) -> pathlib.Path:
    root = root or corpus.data_dir() / "tokens"
    return root / vocab_checksum(task_name) / task_name / f"{split}.array_record"


def materialize_task(task_name: str, split: str, root: pathlib.Path | None = None,
                     *, progress: bool = True) -> pathlib.Path:
    """Returns the ArrayRecord path of the task's tokenized split, writing it if needed."""
    path = shard_path(task_name, split, root)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    task = mixtures.get_task(task_name)
    ds = task.get_dataset(sequence_length=None, split=split, shuffle=False)
    tmp = path.with_name(path.name + ".tmp")
    writer = array_record_module.ArrayRecordWriter(str(tmp), "group_size:1")
    docs = tokens = 0
    for ex in tqdm(ds.as_numpy_iterator(), desc=f"tokenize {task_name}/{split}", unit=" docs",
                   disable=not progress, leave=False):
        ids = np.asarray(ex["targets"], TOKEN_DTYPE)
        writer.write(ids.tobytes())
        docs += 1
        tokens += ids.size
    writer.close()
    stats = {"task": task_name, "split": split, "documents": docs, "tokens": tokens}
    path.with_name(f"{split}.stats.json").write_text(json.dumps(stats, indent=2))
    os.replace(tmp, path)
    return path


def decode_record(record: bytes) -> np.ndarray:
    return np.frombuffer(record, dtype=TOKEN_DTYPE)
