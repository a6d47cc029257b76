"""Fingerprints: short hashes of what a run's figures depend on (documents, vocabulary, tokens).

Two corpora, vocabularies or token shard sets with the same fingerprint hold the same
bytes, so runs over them can be compared figure for figure. Files are hashed by
content: a gzip file by its decompressed bytes, so its header's timestamp does not count.
"""

from __future__ import annotations

import gzip
import hashlib
import pathlib
import struct
from collections.abc import Iterable

LENGTH = 12  # hex digits shown; collisions are not a concern at this many objects


def of_chunks(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:LENGTH]


class Records:
    """The fingerprint of records fed one at a time (a shard being written, or read back). Each
    record's length counts too, so the same tokens cut into other documents differ."""

    def __init__(self):
        self._h = hashlib.sha256()

    def add(self, record: bytes) -> None:
        self._h.update(struct.pack("<Q", len(record)))
        self._h.update(record)

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:LENGTH]


def of_files(paths: Iterable[str | pathlib.Path]) -> str:
    """The files' contents in the order given."""
    def chunks():
        for path in paths:
            opener = gzip.open if str(path).endswith(".gz") else open
            with opener(path, "rb") as f:
                while block := f.read(1 << 20):
                    yield block
    return of_chunks(chunks())


def combine(fingerprints: Iterable[str]) -> str:
    """One fingerprint of an ordered set of fingerprinted parts (a task's shards)."""
    return of_chunks(f.encode() for f in fingerprints)
