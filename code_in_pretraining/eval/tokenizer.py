"""Tokenizers the harness accepts: anything with encode(str) -> ids and decode(ids) -> str.

`ByteTokenizer` (UTF-8 bytes) lets tests and toy models run without a trained
vocabulary; real checkpoints use the project's SentencePiece model.
"""

from __future__ import annotations

import pathlib


class ByteTokenizer:
    """UTF-8 bytes shifted by 2: 0 = pad, 1 = EOS."""

    pad_id, eos_id, offset = 0, 1, 2
    vocab_size = 256 + 2

    def encode(self, text: str) -> list[int]:
        return [b + self.offset for b in text.encode("utf-8")]

    def decode(self, ids) -> str:
        return bytes(i - self.offset for i in ids if i >= self.offset).decode("utf-8", "replace")


class SentencePieceTokenizer:
    """The project's SentencePiece vocabulary (exact round trip, no dummy prefix)."""

    def __init__(self, path: str | pathlib.Path):
        from code_in_pretraining.data import vocabulary
        self.sp = vocabulary.load(path)
        self.pad_id, self.eos_id = self.sp.pad_id(), self.sp.eos_id()
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text))

    def decode(self, ids) -> str:
        return self.sp.decode([int(i) for i in ids])


def default_tokenizer() -> SentencePieceTokenizer:
    from code_in_pretraining.data import vocabulary
    return SentencePieceTokenizer(vocabulary.default_vocab_path())


def from_name(name: str | None) -> ByteTokenizer | SentencePieceTokenizer:
    """'bytes': UTF-8 bytes; a path: that SentencePiece model; None: the project's vocabulary."""
    if name == "bytes":
        return ByteTokenizer()
    return SentencePieceTokenizer(name) if name else default_tokenizer()
