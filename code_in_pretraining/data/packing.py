"""Packing token chunks into fixed-length rows with segment ids and positions.

A row of length L holds consecutive chunks; chunk k of the row gets segment id
k + 1 and positions 0..n-1, so attention never crosses a chunk boundary and
rotary positions restart per document piece. Segment id 0 marks padding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np


@dataclasses.dataclass
class PackedRows:
    """A batch of packed rows; `source_ids` says which source each token came from (-1: padding)."""

    tokens: np.ndarray  # [B, L] int32
    segment_ids: np.ndarray  # [B, L] int32
    positions: np.ndarray  # [B, L] int32
    source_ids: np.ndarray  # [B, L] int8

    @classmethod
    def empty(cls, batch: int, length: int) -> PackedRows:
        return cls(np.zeros((batch, length), np.int32), np.zeros((batch, length), np.int32),
                   np.zeros((batch, length), np.int32), np.full((batch, length), -1, np.int8))

    def fill(self) -> float:
        """Share of token slots that hold real tokens."""
        return float((self.segment_ids > 0).mean())

    def as_dict(self) -> dict[str, np.ndarray]:
        return dataclasses.asdict(self)

    def model_inputs(self) -> dict[str, np.ndarray]:
        """What the model consumes: tokens, positions and segment ids."""
        return {"tokens": self.tokens, "positions": self.positions, "segment_ids": self.segment_ids}


class RowWriter:
    """Appends chunks to one row of a PackedRows until it is full."""

    def __init__(self, rows: PackedRows, row: int):
        self.rows, self.row, self.used, self.segments = rows, row, 0, 0

    @property
    def space(self) -> int:
        return self.rows.tokens.shape[1] - self.used

    def add(self, chunk: np.ndarray, source: int) -> None:
        n = chunk.shape[0]
        assert 0 < n <= self.space, (n, self.space)
        sl = slice(self.used, self.used + n)
        self.segments += 1
        self.rows.tokens[self.row, sl] = chunk
        self.rows.segment_ids[self.row, sl] = self.segments
        self.rows.positions[self.row, sl] = np.arange(n, dtype=np.int32)
        self.rows.source_ids[self.row, sl] = source
        self.used += n


def pack_sequentially(docs: Iterable[np.ndarray], batch: int, length: int, source: int = 0) -> Iterator[PackedRows]:
    """Packs documents in order (splitting long ones) into batches; the last batch is padded.

    Used for evaluation, where every document is read exactly once.
    """
    rows, r = PackedRows.empty(batch, length), 0
    writer = RowWriter(rows, 0)
    for doc in docs:
        offset = 0
        while offset < doc.shape[0]:
            n = min(writer.space, doc.shape[0] - offset)
            writer.add(doc[offset:offset + n], source)
            offset += n
            if writer.space == 0:
                r += 1
                if r == batch:
                    yield rows
                    rows, r = PackedRows.empty(batch, length), 0
                writer = RowWriter(rows, r)
    if r > 0 or writer.used > 0:
        yield rows

