"""Small files of the materialised output, local or gs://, each written whole or not at all.

A file is written under a temporary name and renamed, so a reader (or a run that resumes
after an interruption) sees either the old file or the new one, never a part.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf


def join(root, *parts) -> str:
    return os.path.join(str(root), *parts)


def exists(path: str) -> bool:
    return tf.io.gfile.exists(path)


def write_bytes(path: str, data: bytes) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def read_bytes(path: str) -> bytes:
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def write_json(path: str, obj) -> None:
    write_bytes(path, json.dumps(obj, indent=2).encode())


def read_json(path: str):
    return json.loads(read_bytes(path))


def write_lines(path: str, rows: Iterable[dict]) -> int:
    """JSON Lines, one object a line; returns the number of lines."""
    lines = [json.dumps(r) for r in rows]
    write_bytes(path, "".join(line + "\n" for line in lines).encode())
    return len(lines)


def read_lines(path: str) -> Iterator[dict]:
    with tf.io.gfile.GFile(path, "r") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_arrays(path: str, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def read_arrays(path: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(read_bytes(path)), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def remove(path: str) -> None:
    if tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
