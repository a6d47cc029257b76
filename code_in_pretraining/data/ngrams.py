"""An index of the word n-grams of a set of texts, and the overlap of documents with it.

Decontamination's core, with the evaluation examples as plain input: each text comes
with the number of the example that owns it (the layer that reads evaluation sets,
eval/contamination.py, supplies them). A text of at least `n` words contributes its
n-grams; a shorter one of at least `min_words` words is one gram of its own length
(a question of nine words still counts), found through its first `min_words` words
(its head); shorter texts cannot be checked. A gram counts only if at least a quarter
of its words carry meaning (two or more characters, not all digits): runs of numbers
or single letters ("0 1 2 3 ...", "a b c d ...") are in every corpus and prove
nothing. Words are those of words.py, so punctuation, case and layout do not hide an
overlap.

`scan` finds every gram of the index in documents, on arrays over many documents at
once: a word that no example has cannot be part of a match, so windows over one are
skipped; a bitmap of the index's hashes rejects most of the rest before a binary search
confirms a match. Two window lengths are hashed: n, and min_words for the heads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence

import numpy as np

from code_in_pretraining.data import files, fingerprint
from code_in_pretraining.data.words import (
    batches,
    many,
    prefix_sums,
    span_hashes,
    window_hashes,
)

BITMAP_BITS = 27  # 16 MB: for an index of a million grams, under 1% of a random window's bits are set
VOCAB_BITS = 22  # 512 kB: the index's words, a few percent of bits set


@dataclasses.dataclass(frozen=True)
class Overlap:
    """What one document shares with the index."""

    words: int  # words of the document
    overlap_words: int  # words inside a matched gram
    owners: tuple[int, ...]  # examples with a matched gram, ascending
    snippet: str  # the words of the first matched gram


def _enough(counts: np.ndarray, starts: np.ndarray, lengths) -> np.ndarray:
    """Whether the windows have at least a quarter of informative words (`counts`: their prefix sums)."""
    lengths = np.asarray(lengths)
    return counts[starts + lengths] - counts[starts] >= -(-lengths // 4)


def _bitmap(values: np.ndarray, bits: int) -> np.ndarray:
    """A bit per value of the high `bits` bits of 64-bit hashes: membership with false positives only."""
    bitmap = np.zeros(1 << (bits - 3), np.uint8)
    bit = values >> np.uint64(64 - bits)
    np.bitwise_or.at(bitmap, (bit >> np.uint64(3)).astype(np.int64),
                     np.left_shift(1, (bit & np.uint64(7)).astype(np.uint8)).astype(np.uint8))
    return bitmap


def _in_bitmap(bitmap: np.ndarray, values: np.ndarray, bits: int) -> np.ndarray:
    bit = values >> np.uint64(64 - bits)
    return ((bitmap[(bit >> np.uint64(3)).astype(np.int64)] >> (bit & np.uint64(7)).astype(np.uint8)) & 1) == 1


def _in_sorted(sorted_values: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each value is in the sorted array, its position there)."""
    if not len(sorted_values):
        return np.zeros(len(values), bool), np.zeros(len(values), np.int64)
    at = np.searchsorted(sorted_values, values).clip(max=len(sorted_values) - 1)
    return sorted_values[at] == values, at


def _grams(batch: list[tuple[int, str]], n: int, min_words: int):
    """(gram hashes, their owners, word values, head hashes, short text lengths) of a group of texts."""
    owners = np.array([o for o, _ in batch], np.uint64)
    m = many([t for _, t in batch])
    w, prefix = m.words, prefix_sums(m.words.values)
    counts = np.concatenate([[0], np.cumsum(w.informative())])
    hashes, who = [np.zeros(0, np.uint64)], [np.zeros(0, np.uint64)]
    start = np.flatnonzero(m.inside(n))
    start = start[_enough(counts, start, n)]
    hashes.append(window_hashes(prefix, n)[start])
    who.append(owners[m.text_of[start]])
    short = np.flatnonzero((m.count >= min_words) & (m.count < n))
    short = short[_enough(counts, m.first[short], m.count[short])]
    hashes.append(span_hashes(prefix, m.first[short], m.count[short]))
    who.append(owners[short])
    return (np.concatenate(hashes), np.concatenate(who), w.values, span_hashes(prefix, m.first[short], min_words),
            m.count[short].astype(np.uint64))


class NgramIndex:
    def __init__(self, n: int, min_words: int, hashes: np.ndarray, offsets: np.ndarray, owners: np.ndarray,
                 vocab: np.ndarray, heads: np.ndarray, head_lengths: np.ndarray):
        self.n, self.min_words = n, min_words
        # the examples that own hashes[i]: owners[offsets[i]:offsets[i + 1]]
        self.hashes, self.offsets, self.owners = hashes, offsets, owners
        self.vocab = vocab  # sorted values of every word of the indexed texts
        self.heads, self.head_lengths = heads, head_lengths  # sorted head hashes, a short text's length for each
        self.bitmap = _bitmap(np.concatenate([hashes, heads]), BITMAP_BITS)
        self.vocab_bitmap = _bitmap(vocab, VOCAB_BITS)

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Iterable[tuple[int, str]], *, n: int = 13,
              min_words: int = 8) -> tuple[NgramIndex, dict[int, int]]:
        """The index of (owner, text) pairs, and grams per owner (owners absent had no checkable text)."""
        if not 1 <= min_words <= n:
            raise ValueError(f"need 1 <= min_words <= n, got min_words={min_words}, n={n}")
        parts = [_grams(batch, n, min_words) for batch in batches(texts)]
        hashes, owners, vocab, heads, lengths = (np.concatenate([p[k] for p in parts]) if parts
                                                 else np.zeros(0, np.uint64) for k in range(5))
        order = np.lexsort((owners, hashes))
        pairs = np.stack([hashes[order], owners[order]], axis=1)
        if len(pairs):
            pairs = pairs[np.concatenate([[True], np.any(pairs[1:] != pairs[:-1], axis=1)])]
        uniq, starts = np.unique(pairs[:, 0], return_index=True)
        offsets = np.append(starts, len(pairs)).astype(np.int64)
        owner_ids, grams = np.unique(pairs[:, 1].astype(np.int64), return_counts=True)
        head_pairs = np.unique(np.stack([heads, lengths], axis=1), axis=0)
        index = cls(n, min_words, uniq, offsets, pairs[:, 1].astype(np.int32), np.unique(vocab),
                    head_pairs[:, 0].copy(), head_pairs[:, 1].astype(np.int64))
        return index, dict(zip(owner_ids.tolist(), grams.tolist()))

    # -- files ---------------------------------------------------------------------------------------
    def save(self, path: str, meta: dict) -> None:
        files.write_arrays(path, hashes=self.hashes, offsets=self.offsets, owners=self.owners, vocab=self.vocab,
                           heads=self.heads, head_lengths=self.head_lengths,
                           meta=np.array(json.dumps({**meta, "n": self.n, "min_words": self.min_words})))

    @classmethod
    def load(cls, path: str) -> tuple[NgramIndex, dict]:
        a = files.read_arrays(path)
        meta = json.loads(str(a["meta"]))
        index = cls(meta["n"], meta["min_words"], a["hashes"], a["offsets"], a["owners"], a["vocab"], a["heads"],
                    a["head_lengths"])
        return index, meta

    def fingerprint(self) -> str:
        return fingerprint.of_chunks([a.tobytes() for a in (self.hashes, self.offsets, self.owners, self.heads,
                                                            self.head_lengths)])

    # -- scanning ------------------------------------------------------------------------------------
    def scan(self, texts: Sequence[str]) -> list[Overlap | None]:
        """Each document's overlap with the index, or None where it has none."""
        out: list[Overlap | None] = []
        for batch in batches(enumerate(texts)):
            out += self._scan([t for _, t in batch])
        return out

    def _windows(self, m, prefix: np.ndarray, unknown: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(starts, hashes) of the windows of `length` known words inside one text whose hash may be indexed."""
        start = np.flatnonzero(m.inside(length) & (unknown[length:] == unknown[:-length]))
        h = window_hashes(prefix, length)[start]
        maybe = _in_bitmap(self.bitmap, h, BITMAP_BITS)
        return start[maybe], h[maybe]

    def _scan(self, texts: list[str]) -> list[Overlap | None]:
        m = many(texts)
        w, out = m.words, [None] * len(texts)
        if not len(w) or not len(self.hashes):
            return out
        unknown = np.zeros(len(w) + 1, np.int64)
        np.cumsum(~_in_bitmap(self.vocab_bitmap, w.values, VOCAB_BITS), out=unknown[1:])
        prefix = prefix_sums(w.values)
        start, h = self._windows(m, prefix, unknown, self.n)
        starts, lens, hashes = [start], [np.full(len(start), self.n)], [h]
        if len(self.heads):  # short texts: their heads, then the whole text from each head found
            start, h = self._windows(m, prefix, unknown, self.min_words)
            lo, hi = np.searchsorted(self.heads, h), np.searchsorted(self.heads, h, side="right")
            found = hi > lo
            for s, a, b in zip(start[found].tolist(), lo[found].tolist(), hi[found].tolist()):
                end_of_text = int(m.first[m.text_of[s]] + m.count[m.text_of[s]])
                for length in self.head_lengths[a:b].tolist():
                    if s + length <= end_of_text and unknown[s + length] == unknown[s]:
                        starts.append(np.array([s])), lens.append(np.array([length]))
                        hashes.append(span_hashes(prefix, np.array([s]), length))
        starts, lens, hashes = np.concatenate(starts), np.concatenate(lens), np.concatenate(hashes)
        hit, at = _in_sorted(self.hashes, hashes)
        starts, lens, at = starts[hit], lens[hit], at[hit]
        doc_of = m.text_of[starts]
        for doc in np.unique(doc_of).tolist():
            mine = doc_of == doc
            s, ln, a = starts[mine], lens[mine], at[mine]
            cover = np.zeros(len(w) + 1, np.int64)
            np.add.at(cover, s, 1)
            np.add.at(cover, s + ln, -1)
            owners = np.unique(np.concatenate([self.owners[self.offsets[i]:self.offsets[i + 1]] for i in np.unique(a)]))
            first = int(np.argmin(s))
            out[doc] = Overlap(int(m.count[doc]), int((np.cumsum(cover[:-1]) > 0).sum()), tuple(owners.tolist()),
                               w.text(int(s[first]), int(s[first] + ln[first])))
        return out
