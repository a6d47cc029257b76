"""Where vocabularies live, and the SeqIO Vocabulary objects that tasks use."""

from __future__ import annotations

import os
import pathlib

import seqio

from code_in_pretraining.data import corpus

DEFAULT_VOCAB_SIZE = 4096


def default_vocab_path() -> pathlib.Path:
    """$CIP_VOCAB, else the default corpus's 8k vocabulary (made by `cip demo` or `cip vocab train`)."""
    env = os.environ.get("CIP_VOCAB")
    return pathlib.Path(env) if env else corpus.default_dir() / "vocab" / f"spm{DEFAULT_VOCAB_SIZE // 1024}k.model"


def default_vocabulary() -> seqio.Vocabulary:
    # SentencePieceVocabulary reads the file lazily, so tasks register before it exists.
    return seqio.SentencePieceVocabulary(str(default_vocab_path()))
