"""Padded shapes from a short list, so jit compiles once per bucket, not once per length."""

from __future__ import annotations


def bucket(n: int, *, minimum: int = 16, maximum: int | None = None) -> int:
    """The smallest power of two >= n (and >= minimum), capped at maximum."""
    size = minimum
    while size < n:
        size *= 2
    return min(size, maximum) if maximum else size
