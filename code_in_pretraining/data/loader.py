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

import logging
import pathlib
import zlib
from collections.abc import Mapping, Sequence

import grain
import numpy as np

from code_in_pretraining.data.materialize import decode_record
from code_in_pretraining.data.packing import PackedRows, RowWriter
from code_in_pretraining.data.phase_plan import PhasePlan

log = logging.getLogger(__name__)


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


class MixingLoader:
    """Yields PackedRows for the rows [row_start, row_end) of a global batch, step after step.

    `weights` is one {source: weight} mapping, drawn from without end, or one mapping per
    phase of `plan`: at the first step of each phase its weights switch in, and the token
    accounting that steers the mixing restarts, so each phase meets its own weights. The
    loader stops after the plan's last step. Sources keep their position across phases: a
    source used again later continues where it stopped.
    """

    def __init__(self, sources: Mapping[str, Sequence[str | pathlib.Path]],
                 weights: Mapping[str, float] | Sequence[Mapping[str, float]], *, seq_len: int, global_batch: int,
                 plan: PhasePlan | None = None, seed: int = 0, row_start: int = 0, row_end: int | None = None):
        phases = [dict(weights)] if isinstance(weights, Mapping) else [dict(w) for w in weights]
        if plan is not None and len(phases) != len(plan.phases):
            raise ValueError(f"{len(phases)} mixtures for a plan of {len(plan.phases)} phases")
        if plan is None and len(phases) != 1:
            raise ValueError("several mixtures need a phase plan that says when each applies")
        for i, w in enumerate(phases):
            unknown = set(w) - set(sources)
            if unknown:
                raise KeyError(f"phase {i} weights name sources without shards: {sorted(unknown)}")
            if sum(v for v in w.values() if v > 0) <= 0:
                raise ValueError(f"phase {i} has no source with positive weight: {w}")
        self.plan = plan
        self.names = [n for n in sources if any(w.get(n, 0) > 0 for w in phases)]
        self.phase_weights = np.array([[w.get(n, 0.0) for n in self.names] for w in phases])
        self.phase_weights /= self.phase_weights.sum(axis=1, keepdims=True)
        self.sources = [TokenSource(sources[n], seed=_source_seed(seed, n)) for n in self.names]
        self.seq_len, self.global_batch = seq_len, global_batch
        self.row_start, self.row_end = row_start, global_batch if row_end is None else row_end
        if not 0 <= self.row_start < self.row_end <= global_batch:
            raise ValueError(f"rows [{row_start}, {row_end}) outside a global batch of {global_batch}")
        shape = (self.row_end - self.row_start, len(self.names))
        self.next_doc = np.zeros(shape, np.int64)  # this row's documents opened, per source
        self.offset = np.full(shape, -1, np.int64)  # tokens taken from the open document (-1: none)
        self.tokens = np.zeros(shape, np.int64)  # tokens emitted, all phases
        self.phase_tokens = np.zeros(shape, np.int64)  # tokens emitted in the current phase
        self.step = 0
        self._open: dict[tuple[int, int], np.ndarray] = {}  # (row, source) -> open document (a cache)

    # -- iteration -------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self) -> PackedRows:
        phase = 0
        if self.plan is not None:
            if self.step >= self.plan.total_steps:
                raise StopIteration
            phase = self.plan.phase_at(self.step)
            if self.step > 0 and self.step == self.plan.starts[phase]:
                self.phase_tokens[:] = 0
        weights = self.phase_weights[phase]
        batch = PackedRows.empty(self.row_end - self.row_start, self.seq_len)
        for i in range(batch.tokens.shape[0]):
            self._fill_row(RowWriter(batch, i), i, weights)
        self.step += 1
        return batch

    def _fill_row(self, writer: RowWriter, i: int, weights: np.ndarray) -> None:
        row = self.row_start + i
        next_doc, offset = self.next_doc[i], self.offset[i]
        while writer.space:
            emitted = self.phase_tokens[i]
            s = int(np.argmax(weights * (emitted.sum() + 1) - emitted))
            if offset[s] < 0:  # open this row's next document of source s
                next_doc[s] += 1
                offset[s] = 0
                index = int(next_doc[s] - 1) * self.global_batch + row
                if index and index % self.sources[s].num_docs == 0:
                    log.info("source %s starts epoch %d (row %d)", self.names[s],
                             index // self.sources[s].num_docs + 1, row)
                self._open.pop((i, s), None)
            doc = self._open.get((i, s))
            if doc is None:
                doc = self._open[(i, s)] = self.sources[s][int(next_doc[s] - 1) * self.global_batch + row]
            n = min(writer.space, doc.shape[0] - int(offset[s]))
            writer.add(doc[offset[s]:offset[s] + n], s)
            offset[s] += n
            self.tokens[i, s] += n
            self.phase_tokens[i, s] += n
            if offset[s] >= doc.shape[0]:
                offset[s] = -1

    # -- state -----------------------------------------------------------------------------
    STATE_ARRAYS = ("next_doc", "offset", "tokens", "phase_tokens")

    def get_state(self) -> dict:
        """The position of this loader's rows: JSON-serialisable, a few integers per row and source."""
        return {"step": self.step, "sources": self.names, "row_start": self.row_start,
                **{k: getattr(self, k).tolist() for k in self.STATE_ARRAYS}}

    def set_state(self, state: Mapping) -> None:
        """Restores rows [row_start, row_end) from a state that covers them (any process split).

        Sources are matched by name: a source the state lacks starts fresh, one this loader
        lacks is dropped (both logged). So a run can resume into a recipe whose later phases
        use other sources, exactly as if it had run that recipe from the start.
        """
        names = list(state["sources"])
        added, dropped = sorted(set(self.names) - set(names)), sorted(set(names) - set(self.names))
        if added or dropped:
            log.info("loader state: sources %s start fresh, %s are dropped", added, dropped)
        first = self.row_start - int(state.get("row_start", 0))
        n = self.row_end - self.row_start
        for k in self.STATE_ARRAYS:
            rows = np.asarray(state[k], np.int64).reshape(-1, len(names))
            if first < 0 or first + n > rows.shape[0]:
                raise ValueError(f"loader state holds rows [{state.get('row_start', 0)}, "
                                 f"{state.get('row_start', 0) + rows.shape[0]}), not [{self.row_start}, {self.row_end})")
            target = getattr(self, k)
            target[:] = -1 if k == "offset" else 0
            for j, name in enumerate(self.names):
                if name in names:
                    target[:, j] = rows[first:first + n, names.index(name)]
        self.step = int(state["step"])
        self._open.clear()

    # -- reporting -------------------------------------------------------------------------
    def token_counts(self) -> dict[str, int]:
        return dict(zip(self.names, self.tokens.sum(axis=0).tolist()))

    def epochs(self) -> dict[str, float]:
        """Documents opened per source divided by the source's size (this process's rows)."""
        opened = self.next_doc.sum(axis=0)
        return {n: float(opened[i]) / src.num_docs for i, (n, src) in enumerate(zip(self.names, self.sources))}


def _source_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**32)
