"""Words of a document, as near-duplicate detection and decontamination compare them.

A word is a run of ASCII letters, digits, underscores or non-ASCII bytes, lower-cased;
everything else (punctuation, operators, whitespace) separates words. So reformatted
code, re-wrapped prose and changed punctuation leave the words unchanged.

Everything is computed on arrays, with no Python step per word: the text's bytes are
mapped once (`bytes.translate`), word boundaries found with numpy, and each word's
64-bit value is a polynomial hash of its bytes from prefix sums modulo 2**64 (then
mixed), so equal words have equal values in every document. `window_hashes` hashes
runs of consecutive values the same way: n-grams of words, shingles, of any length.
`many` does this for a list of texts at once (joined by newlines, so a word never spans
two), which makes short documents as cheap as long ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def _table() -> bytes:
    out = bytearray(range(256))
    for c in range(128):
        ch = chr(c)
        if ch.isupper():
            out[c] = c + 32
        elif not (ch.isalnum() or ch == "_"):
            out[c] = 32
    return bytes(out)


_TABLE = _table()
_SPACE, _ZERO, _NINE = 32, ord("0"), ord("9")
_BASE = 0x9E3779B97F4A7C15  # odd, so it has an inverse modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LENGTH_SALT = np.uint64(0xD6E8FEB86659FD93)
_POWERS = {"pow": np.ones(1, np.uint64), "inv": np.ones(1, np.uint64)}


@dataclasses.dataclass(frozen=True)
class Words:
    """The words of one text: their 64-bit values and where they are in the text's mapped bytes."""

    values: np.ndarray  # uint64, one per word, never 0
    starts: np.ndarray  # byte offsets in `data`
    ends: np.ndarray
    data: bytes  # the text's mapped bytes

    def __len__(self) -> int:
        return len(self.values)

    def informative(self) -> np.ndarray:
        """Which words carry meaning: two or more characters, not all digits."""
        a = np.frombuffer(self.data, np.uint8)
        digits = np.zeros(len(a) + 1, np.int64)
        np.cumsum((a >= _ZERO) & (a <= _NINE), out=digits[1:])
        lengths = self.ends - self.starts
        return (lengths >= 2) & (digits[self.ends] - digits[self.starts] < lengths)

    def text(self, start: int, stop: int) -> str:
        """Words start .. stop-1, joined by spaces (for showing a match)."""
        if stop <= start:
            return ""
        return " ".join(self.data[self.starts[start]:self.ends[stop - 1]].decode("utf-8", "replace").split())


def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
        h = (h ^ (h >> np.uint64(33))) * np.uint64(0xC4CEB9FE1A85EC53)
        return h ^ (h >> np.uint64(33))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i modulo 2**64 for i < n (grown on demand, kept)."""
    if len(_POWERS["pow"]) < n:
        size = max(n, 2 * len(_POWERS["pow"]))
        with np.errstate(over="ignore"):
            _POWERS["pow"] = np.cumprod(np.full(size, _BASE, np.uint64)) * np.uint64(_BASE_INV)
            _POWERS["inv"] = np.cumprod(np.full(size, _BASE_INV, np.uint64)) * np.uint64(_BASE)
    return _POWERS["pow"][:n], _POWERS["inv"][:n]


def prefix_sums(values: np.ndarray) -> np.ndarray:
    """H[j] = sum of values[t] * BASE**t for t < j (modulo 2**64), j = 0..len(values)."""
    pw, _ = _powers(len(values))
    out = np.zeros(len(values) + 1, np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(values * pw, out=out[1:])
    return out


def span_hashes(prefix: np.ndarray, starts: np.ndarray, lengths: np.ndarray | int) -> np.ndarray:
    """The hash of each run of `lengths` values from `starts`, from `prefix_sums`: equal runs give
    equal hashes wherever they start, and runs of different lengths differ."""
    if not len(starts):
        return np.zeros(0, np.uint64)
    _, inv = _powers(int(starts.max()) + 1)
    lengths = np.asarray(lengths, np.uint64)
    with np.errstate(over="ignore"):
        return (prefix[starts + lengths.astype(np.int64)] - prefix[starts]) * inv[starts] + _LENGTH_SALT * lengths


def window_hashes(prefix: np.ndarray, length: int) -> np.ndarray:
    """The hash of every run of `length` values (as span_hashes): entry i covers values i .. i+length-1."""
    count = len(prefix) - length
    if count <= 0:
        return np.zeros(0, np.uint64)
    _, inv = _powers(count)
    with np.errstate(over="ignore"):
        return (prefix[length:] - prefix[:count]) * inv + _LENGTH_SALT * np.uint64(length)


def words(text: str) -> Words:
    data = text.encode("utf-8", "surrogatepass").translate(_TABLE)
    a = np.frombuffer(data, np.uint8)
    edges = np.diff((a != _SPACE).astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(starts):
        return Words(np.zeros(0, np.uint64), starts, ends, data)
    values = _mix(span_hashes(prefix_sums(a.astype(np.uint64) + np.uint64(1)), starts, ends - starts))
    return Words(values | np.uint64(1), starts, ends, data)


@dataclasses.dataclass(frozen=True)
class ManyWords:
    """The words of several texts, computed together: `words` of the texts joined by newlines."""

    words: Words
    text_of: np.ndarray  # the text of each word
    first: np.ndarray  # each text's first word
    count: np.ndarray  # each text's number of words

    def inside(self, length: int) -> np.ndarray:
        """Which windows of `length` words lie inside one text (entry i: words i .. i+length-1)."""
        n = len(self.words)
        if n < length:
            return np.zeros(0, bool)
        return self.text_of[:n - length + 1] == self.text_of[length - 1:]


def many(texts: list[str]) -> ManyWords:
    w = words("\n".join(texts))
    ends = np.cumsum([len(t.encode("utf-8", "surrogatepass")) + 1 for t in texts])
    text_of = np.searchsorted(ends, w.starts, side="right")
    count = np.bincount(text_of, minlength=len(texts))
    return ManyWords(w, text_of, np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64), count)


def batches(items, size: int = 1 << 20):
    """Consecutive groups of items (tuples whose second element is a text) of about `size` characters each."""
    batch, chars = [], 0
    for item in items:
        batch.append(item)
        chars += len(item[1])
        if chars >= size:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch
