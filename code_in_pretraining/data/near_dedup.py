"""Near-duplicate documents: MinHash of word shingles, LSH bands, verified pairs, clusters.

The plain functions that the Beam pipeline (beam_dedup.py) maps over shards and over
groups of keys; each works on arrays of many documents at once.

- A document's shingles are its runs of `shingle` consecutive words (words.py); a
  document with fewer words is one shingle. `datasketch` computes its MinHash
  signature (`num_perm` 32-bit values) from the shingles' 32-bit hashes.
- Bands and rows are derived from the Jaccard `threshold` by datasketch's LSH
  parameter choice, weighted towards recall (`recall_weight`): two documents whose
  signatures agree on all rows of some band are a candidate pair.
- A candidate pair is a duplicate when the signatures' estimate of its Jaccard
  similarity (the share of equal values) reaches `threshold`; duplicates are linked
  into clusters (connected components), and each cluster keeps its first document
  (lowest shard, then position): the survivor, the same on every run.
- Exact duplicates (same text, by a 128-bit content hash) are found first and kept
  out of the bands.

A document is named by its key: shard index * 2**32 + its position among the shard's
documents (what the source yields after filters), which is also how materialisation
skips it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from code_in_pretraining.data.words import (
    batches,
    many,
    prefix_sums,
    span_hashes,
    window_hashes,
)

KEY_BITS = 32
_MIX = np.uint64(0xBF58476D1CE4E5B9)


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    shingle: int = 5  # words per shingle
    num_perm: int = 128  # MinHash permutations
    threshold: float = 0.7  # estimated Jaccard similarity from which two documents are duplicates
    recall_weight: float = 0.9  # in choosing bands x rows: a missed duplicate's weight against a false candidate's
    seed: int = 1  # of the MinHash permutations

    def __post_init__(self):
        if self.shingle < 1 or self.num_perm < 2:
            raise ValueError(f"dedup: shingle must be >= 1 and num_perm >= 2, got {self.shingle}, {self.num_perm}")
        if not 0 < self.threshold <= 1 or not 0 < self.recall_weight < 1:
            raise ValueError(f"dedup: threshold must be in (0, 1] and recall_weight in (0, 1), got "
                             f"{self.threshold}, {self.recall_weight}")

    @property
    def bands(self) -> int:
        return _bands_rows(self.threshold, self.num_perm, self.recall_weight)[0]

    @property
    def rows(self) -> int:
        return _bands_rows(self.threshold, self.num_perm, self.recall_weight)[1]

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "bands": self.bands, "rows": self.rows}

    @classmethod
    def from_spec(cls, spec: dict | bool | None) -> DedupConfig | None:
        """A data config's `dedup` value: true (the defaults), false / absent (none), or settings."""
        if spec is None or spec is False:
            return None
        if spec is True:
            return cls()
        if not isinstance(spec, dict):
            raise ValueError(f"dedup: expected true, false or an object of settings, got {spec!r}")  # noqa: TRY004
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(spec) - fields)
        if unknown:
            raise KeyError(f"dedup: unknown settings {unknown}; known: {sorted(fields)}")
        return cls(**spec)


@functools.cache
def _bands_rows(threshold: float, num_perm: int, recall_weight: float) -> tuple[int, int]:
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(1 - recall_weight, recall_weight))
    return lsh.b, lsh.r


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations


# -- one shard: content hashes and signatures --------------------------------------------------------
def content_hash(text: str) -> tuple[int, int]:
    """A document's exact-duplicate key: 128 bits of its text's hash, as two 64-bit integers."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


def _shingles(texts: list[str], size: int) -> list[np.ndarray]:
    """32-bit hashes of each document's shingles (empty for a document without words)."""
    m = many(texts)
    prefix = prefix_sums(m.words.values)
    start = np.flatnonzero(m.inside(size))
    short = np.flatnonzero((m.count > 0) & (m.count < size))  # one shingle: the whole document
    h = np.concatenate([window_hashes(prefix, size)[start], span_hashes(prefix, m.first[short], m.count[short])])
    doc = np.concatenate([m.text_of[start], short])
    order = np.argsort(doc, kind="stable")
    h, doc = ((h >> np.uint64(32)) ^ h).astype(np.uint32)[order], doc[order]
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
    return [h[bounds[i]:bounds[i + 1]] for i in range(len(texts))]


def jaccard(a: str, b: str, shingle: int = 5) -> float:
    """The exact Jaccard similarity of two documents' shingle sets (what signatures estimate)."""
    sa, sb = (set(s.tolist()) for s in _shingles([a, b], shingle))
    return len(sa & sb) / max(1, len(sa | sb))


def signatures(texts: Sequence[str], config: DedupConfig) -> list[np.ndarray | None]:
    """Each document's MinHash signature (uint32, num_perm values), or None for one without words."""
    from datasketch import MinHash

    out: list[np.ndarray | None] = []
    permutations = _permutations(config.num_perm, config.seed)
    for batch in batches(enumerate(texts)):
        for shingles in _shingles([t for _, t in batch], config.shingle):
            if not len(shingles):
                out.append(None)
                continue
            m = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=int, scheme="affine32",
                        permutations=permutations)
            m.update_batch(shingles.tolist())
            out.append(np.asarray(m.hashvalues, np.uint32))
    return out


def keys(shard: int, ordinals: np.ndarray) -> np.ndarray:
    return (np.int64(shard) << np.int64(KEY_BITS)) | ordinals.astype(np.int64)


def split_key(key: int) -> tuple[int, int]:
    """(shard index, position in the shard) of a document key."""
    return int(key) >> KEY_BITS, int(key) & ((1 << KEY_BITS) - 1)


def shard_of(doc_keys: np.ndarray) -> np.ndarray:
    return doc_keys >> KEY_BITS


def position_of(doc_keys: np.ndarray) -> np.ndarray:
    return doc_keys & ((1 << KEY_BITS) - 1)


@functools.lru_cache(maxsize=8)
def _row_weights(rows: int) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(b"row %d" % i, digest_size=8).digest(), "little") | 1
                     for i in range(rows)], np.uint64)


def band_hashes(signatures: np.ndarray, config: DedupConfig) -> np.ndarray:
    """[documents, bands] uint64: one hash of each band's `rows` signature values."""
    n = len(signatures)
    out = np.empty((n, config.bands), np.uint64)
    sig, weights = signatures.astype(np.uint64), _row_weights(config.rows)
    with np.errstate(over="ignore"):
        for band in range(config.bands):
            rows = sig[:, band * config.rows:(band + 1) * config.rows]
            h = (rows * weights).sum(axis=1, dtype=np.uint64)
            out[:, band] = (h ^ (h >> np.uint64(31))) * _MIX
    return out


def partition(values: np.ndarray, parts: int) -> np.ndarray:
    """Which of `parts` groups each 64-bit hash goes to (its high bits)."""
    return ((values >> np.uint64(40)) % np.uint64(parts)).astype(np.int64)


# -- a group of keys: exact duplicates, candidate pairs, verification ------------------------------------
def equal_runs(values: np.ndarray, doc_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (first key, other key) of documents with equal `values` (rows of one or two columns):
    each document of a run of equal values linked to the run's lowest key."""
    values = values.reshape(len(values), -1)
    order = np.lexsort((doc_keys, *values.T[::-1]))
    v, k = values[order], doc_keys[order]
    same = np.all(v[1:] == v[:-1], axis=1)
    if not same.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    run_of = np.cumsum(np.concatenate([[True], ~same])) - 1
    first = k[starts][run_of]
    member = np.concatenate([[False], same])
    return first[member], k[member]


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash's estimate of the Jaccard similarity of paired signatures (rows): the share of equal
    values, as datasketch's MinHash.jaccard computes it."""
    return np.mean(a == b, axis=1)


# -- clusters ---------------------------------------------------------------------------------------
class Components:
    """Union-find over document keys: linked pairs become clusters; the survivor of a cluster is its
    lowest key. Partial components merge (the pipeline combines them from many workers)."""

    def __init__(self):
        self.parent: dict[int, int] = {}
        self.similarity: dict[int, float] = {}  # the best similarity a document was linked with
        self.exact: set[int] = set()  # documents linked as exact duplicates of a lower key

    def _find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        self.parent.setdefault(ra, ra)
        self.parent.setdefault(rb, rb)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo

    def add(self, a: Sequence[int], b: Sequence[int], sim: Iterable[float], exact: bool) -> None:
        for x, y, s in zip(map(int, a), map(int, b), map(float, sim)):
            self.union(x, y)
            for k in (x, y):
                self.similarity[k] = max(self.similarity.get(k, 0.0), s)
            if exact:
                self.exact.add(max(x, y))

    def merge(self, other: Components) -> None:
        for k in other.parent:
            self.union(k, other._find(k))
        for k, s in other.similarity.items():
            self.similarity[k] = max(self.similarity.get(k, 0.0), s)
        self.exact |= other.exact

    def clusters(self) -> list[tuple[int, list[int]]]:
        """(survivor, removed keys) per cluster, by survivor."""
        groups: dict[int, list[int]] = {}
        for k in self.parent:
            groups.setdefault(self._find(k), []).append(k)
        return [(root, sorted(m for m in members if m != root)) for root, members in sorted(groups.items())
                if len(members) > 1]
