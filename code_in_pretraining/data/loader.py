"""The training loader: token-proportional mixing and packing over grain sources.

Each row r of the global batch is its own stream. Row r reads documents r, r+B,
r+2B, ... of every source's endless, per-epoch reshuffled grain MapDataset, and
fills its row chunk by chunk, each time from the source whose realised token
count lags its target weight the most. So:
- mixing is by TOKENS, within one row's length of the target at any prefix;
- rows fill completely (documents that do not fit continue in the next row);
- a process that owns rows [a, b) reads only those rows' documents, and the
  union over processes is the single-process batch whatever the process count;
- the state is a few integers per row and source: it goes into the checkpoint,
  and resuming from it yields exactly the batches of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import pathlib
import zlib
from collections.abc import Mapping, Sequence

import grain
import numpy as np

from code_in_pretraining.data.materialize import decode_record
from code_in_pretraining.data.packing import PackedRows, RowWriter


class TokenSource:
    """One source's documents as an endless grain MapDataset, reshuffled every epoch."""

    def __init__(self, paths: Sequence[str | pathlib.Path], seed: int):
        for p in paths:
            if not pathlib.Path(p).exists():
                raise FileNotFoundError(f"token shard not found: {p}")
        source = grain.sources.ArrayRecordDataSource([str(p) for p in paths])
        self.num_docs = len(source)
        if self.num_docs == 0:
            raise ValueError(f"token shards hold no documents: {list(map(str, paths))}")
        self.docs = grain.MapDataset.source(source).map(decode_record).shuffle(seed=seed).repeat()

    def __getitem__(self, index: int) -> np.ndarray:
        return self.docs[index]


@dataclasses.dataclass
class _RowState:
    next_doc: list[int]  # per source: how many of this row's documents were opened
    offset: list[int]  # per source: tokens already taken from the open document (-1: none open)
    tokens: list[int]  # per source: tokens this row has emitted


class MixingLoader:
    """Yields PackedRows for the rows [row_start, row_end) of a global batch, step after step."""

    def __init__(self, sources: Mapping[str, Sequence[str | pathlib.Path]], weights: Mapping[str, float],
                 *, seq_len: int, global_batch: int, seed: int = 0, row_start: int = 0,
                 row_end: int | None = None):
        unknown = set(weights) - set(sources)
        if unknown:
            raise KeyError(f"weights name sources without shards: {sorted(unknown)}")
        names = [n for n in sources if weights.get(n, 0) > 0]
        total = sum(weights[n] for n in names)
        if not names or total <= 0:
            raise ValueError(f"mixture has no source with positive weight: {dict(weights)}")
        self.names = names
        self.weights = np.array([weights[n] / total for n in names])
        self.sources = [TokenSource(sources[n], seed=_source_seed(seed, n)) for n in names]
        self.seq_len, self.global_batch = seq_len, global_batch
        self.row_start, self.row_end = row_start, global_batch if row_end is None else row_end
        if not 0 <= self.row_start < self.row_end <= global_batch:
            raise ValueError(f"rows [{row_start}, {row_end}) outside a global batch of {global_batch}")
        k = len(names)
        self.rows = {r: _RowState([0] * k, [-1] * k, [0] * k) for r in range(self.row_start, self.row_end)}
        self.step = 0

    # -- iteration -------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self) -> PackedRows:
        batch = PackedRows.empty(self.row_end - self.row_start, self.seq_len)
        for i, r in enumerate(range(self.row_start, self.row_end)):
            self._fill_row(RowWriter(batch, i), r, self.rows[r])
        self.step += 1
        return batch

    def _fill_row(self, writer: RowWriter, row: int, st: _RowState) -> None:
        while writer.space:
            emitted = np.asarray(st.tokens, np.float64)
            s = int(np.argmax(self.weights * (emitted.sum() + 1) - emitted))
            if st.offset[s] < 0:  # open this row's next document of source s
                st.next_doc[s] += 1
                st.offset[s] = 0
            doc = self.sources[s][(st.next_doc[s] - 1) * self.global_batch + row]
            n = min(writer.space, doc.shape[0] - st.offset[s])
            writer.add(doc[st.offset[s]:st.offset[s] + n], s)
            st.offset[s] += n
            st.tokens[s] += n
            if st.offset[s] >= doc.shape[0]:
                st.offset[s] = -1

    # -- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"step": self.step, "sources": self.names,
                "rows": {str(r): dataclasses.asdict(st) for r, st in self.rows.items()}}

    def set_state(self, state: Mapping) -> None:
        if list(state["sources"]) != self.names:
            raise ValueError(f"loader state is for sources {state['sources']}, this loader has {self.names}")
        self.step = int(state["step"])
        for r in self.rows:
            self.rows[r] = _RowState(**{k: list(v) for k, v in state["rows"][str(r)].items()})

    # -- reporting -------------------------------------------------------------------------
    def token_counts(self) -> dict[str, int]:
        return {n: sum(st.tokens[i] for st in self.rows.values()) for i, n in enumerate(self.names)}

    def epochs(self) -> dict[str, float]:
        """Documents opened per source divided by the source's size."""
        return {n: sum(st.next_doc[i] for st in self.rows.values()) / src.num_docs
                for i, (n, src) in enumerate(zip(self.names, self.sources))}


def _source_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**32)
