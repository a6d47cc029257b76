"""Token counts for the statistics: the project's default vocabulary when it exists, else whitespace."""

from __future__ import annotations

from collections.abc import Callable


def counter() -> tuple[Callable[[str], int], str]:
    """(count function, description of the tokenizer used)."""
    try:
        from code_in_pretraining.data import vocabulary
        path = vocabulary.default_vocab_path()
        if path.exists():
            proc = vocabulary.load(path)
            return (lambda text: len(proc.encode(text))), f"sentencepiece {path}"
    except ImportError:
        pass
    return (lambda text: len(text.split())), "whitespace tokens (no default vocabulary found)"
