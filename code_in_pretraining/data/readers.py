"""File readers: the raw records of one input file, each with its line (or row).

Formats: JSON Lines (plain, .gz, .zst), Parquet, ArrayRecord (one JSON object
per record), on local disk or any filesystem tf.io.gfile knows (gs://). A reader
never raises on bad input: it yields `Row(location, None, reason, detail)` for a
malformed line, invalid UTF-8, an over-long line, or a missing or unreadable
file (location 0, or the line where reading broke off), and the caller decides
whether to skip or to stop.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from collections.abc import Iterator

import tensorflow as tf

FORMATS = ("jsonl", "parquet", "array_record")


@dataclasses.dataclass
class Row:
    location: int  # 1-based line or row; 0 for the file as a whole
    record: dict | None
    reason: str = ""  # set when record is None
    detail: str = ""


class _GFileRaw(io.RawIOBase):
    """tf.io.gfile's file as a raw stream, so that io.BufferedReader gives it readline(size)."""

    def __init__(self, path: str):
        self._f = tf.io.gfile.GFile(path, "rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


def open_binary(path: str):
    """A binary stream of a file (local, or any tf.io.gfile filesystem), decompressed by its suffix."""
    raw = open(path, "rb") if "://" not in path else io.BufferedReader(_GFileRaw(path), 1 << 20)
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if path.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
    return raw


def format_of(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".array_record") or "array_record" in name:
        return "array_record"
    raise ValueError(f"cannot tell the format of {path!r} from its name; set `format` in the data config")


def parse_json(raw: bytes, location: int, max_bytes: int) -> Row:
    if len(raw) > max_bytes:
        return Row(location, None, "too_large", f"{len(raw)} bytes > {max_bytes}")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Row(location, None, "invalid_utf8", str(e)[:120])
    if not line.strip():
        return Row(location, None, "blank_line")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return Row(location, None, "malformed_json", str(e)[:120])
    if not isinstance(record, dict):
        return Row(location, None, "malformed_json", f"a JSON {type(record).__name__}, not an object")
    return Row(location, record)


def _jsonl(path: str, max_bytes: int) -> Iterator[Row]:
    with open_binary(path) as f:
        lineno = 0
        while True:
            # readline with a cap: an endless line is never held whole in memory
            raw = f.readline(max_bytes + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(max_bytes + 1)
                    size += len(raw)
                yield Row(lineno, None, "too_large", f"{size} bytes > {max_bytes}")
                continue
            if raw.strip():
                yield parse_json(raw, lineno, max_bytes)


def _parquet(path: str, max_bytes: int) -> Iterator[Row]:
    import pyarrow.fs
    import pyarrow.parquet as pq

    if "://" in path:  # gs:// and the like through pyarrow's own filesystems (random access)
        fs, inner = pyarrow.fs.FileSystem.from_uri(path)
        handle = fs.open_input_file(inner)
    else:
        handle = open(path, "rb")
    with handle:
        rows = 0
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=256):
            for record in batch.to_pylist():
                rows += 1
                size = sum(len(v) for v in record.values() if isinstance(v, (str, bytes)))
                if size > max_bytes:
                    yield Row(rows, None, "too_large", f"{size} bytes > {max_bytes}")
                else:
                    yield Row(rows, record)


def _array_record(path: str, max_bytes: int) -> Iterator[Row]:
    from array_record.python import array_record_module

    reader = array_record_module.ArrayRecordReader(path)
    try:
        for i in range(reader.num_records()):
            yield parse_json(reader.read([i])[0], i + 1, max_bytes)
    finally:
        reader.close()


_READERS = {"jsonl": _jsonl, "parquet": _parquet, "array_record": _array_record}


def read_rows(path: str, fmt: str, max_bytes: int) -> Iterator[Row]:
    """Every row of one file; a file that cannot be opened or read on is one bad row."""
    if fmt not in _READERS:
        raise ValueError(f"unknown format {fmt!r}; known: {FORMATS} (and tfds)")
    last = 0
    try:
        if not tf.io.gfile.exists(path):
            yield Row(0, None, "missing_file", path)
            return
        for row in _READERS[fmt](path, max_bytes):
            last = row.location
            yield row
    except (OSError, EOFError, ValueError, RuntimeError, tf.errors.OpError) as e:
        # truncated gzip, permission denied, a corrupt Parquet footer ...
        yield Row(last + 1 if last else 0, None, "unreadable_file", f"{type(e).__name__}: {str(e)[:160]}")
