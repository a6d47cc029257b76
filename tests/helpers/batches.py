"""A packed batch for the helper scripts: two documents per row, positions restarting, a padding tail."""

import numpy as np


def two_document_batch(vocab: int, B: int, L: int, pad: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, vocab, (B, L)).astype(np.int32)
    cut = rng.integers(3, L - 3, (B,))
    idx = np.arange(L)[None, :]
    segment_ids = np.where(idx < cut[:, None], 1, 2).astype(np.int32)
    segment_ids[:, -pad:] = 0
    positions = np.where(idx < cut[:, None], idx, idx - cut[:, None]).astype(np.int32)
    return dict(tokens=tokens, positions=positions, segment_ids=segment_ids)
