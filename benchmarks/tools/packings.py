"""Random packings: the segment ids and positions of packed batches, for the kernels' tests and benchmarks."""

from __future__ import annotations

import numpy as np

from code_in_pretraining.data.packing import PackedRows, RowWriter


def random_documents(batch: int, length: int, mean_len: int, seed: int = 0) -> PackedRows:
    """Rows packed with documents of uniform random length in [1, 2 * mean_len) (all tokens 0)."""
    rng = np.random.default_rng(seed)
    rows = PackedRows.empty(batch, length)
    for b in range(batch):
        writer = RowWriter(rows, b)
        while writer.space:
            writer.add(np.zeros(min(int(rng.integers(1, 2 * mean_len)), writer.space), np.int32), 0)
    return rows
