"""The project's vocabulary: a SentencePiece BPE that round-trips source code exactly.

SentencePiece's defaults normalise text (NFKC, collapse runs of spaces, add a
dummy prefix space) and read training data line by line, so newlines, tabs and
indentation never become pieces. Here normalisation is the identity, no dummy
prefix, whitespace-only pieces are allowed and the training sentences are whole
chunks of documents with their newlines, so indentation and line breaks are
learned as pieces; byte fallback covers every other character, so
decode(encode(x)) == x for any UTF-8 string without U+2581 ("▁", the piece
separator SentencePiece shows for a space).

The default vocabulary is $CIP_VOCAB, else the default corpus's 4k model (made by
`cip demo` or `cip vocab train`); tasks read it as a SeqIO vocabulary.
"""

from __future__ import annotations

import io
import os
import pathlib
from collections.abc import Iterable, Iterator

import sentencepiece as spm

from code_in_pretraining.data import fingerprint
from code_in_pretraining.data.paths import default_corpus_dir

DEFAULT_VOCAB_SIZE = 4096
# Runs of indentation that code needs as single pieces from the start.
WHITESPACE_SYMBOLS = ("\n", "\t", "  ", "    ", "        ")
MAX_SENTENCE_BYTES = 16384


def training_chunks(docs: Iterable[str], max_bytes: int = MAX_SENTENCE_BYTES) -> Iterator[str]:
    """Cut documents into chunks that SentencePiece accepts as one sentence, at line ends."""
    for doc in docs:
        chunk: list[str] = []
        size = 0
        for line in doc.splitlines(keepends=True):
            n = len(line.encode())
            if size + n > max_bytes and chunk:
                yield "".join(chunk)
                chunk, size = [], 0
            if n <= max_bytes:
                chunk.append(line)
                size += n
        if chunk:
            yield "".join(chunk)


def train_vocab_proto(docs: Iterable[str], vocab_size: int, *, num_threads: int = 2,
                      max_sentences: int = 0) -> bytes:
    """Trains a code-safe BPE model on `docs`; returns the serialised model."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=training_chunks(docs),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        allow_whitespace_only_pieces=True,
        split_by_whitespace=True,
        user_defined_symbols=list(WHITESPACE_SYMBOLS),
        max_sentence_length=MAX_SENTENCE_BYTES,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        num_threads=num_threads,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,  # SeqIO's convention: 0 = pad, 1 = EOS
        minloglevel=2,
    )
    return model.getvalue()


def train_vocab(docs: Iterable[str], out_prefix: str | pathlib.Path, vocab_size: int,
                *, num_threads: int = 2, max_sentences: int = 0) -> pathlib.Path:
    """Trains a code-safe BPE model on `docs`; writes PREFIX.model and PREFIX.vocab."""
    out_prefix = pathlib.Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    proto = train_vocab_proto(docs, vocab_size, num_threads=num_threads, max_sentences=max_sentences)
    path = out_prefix.with_suffix(".model")
    tmp = path.with_suffix(".model.tmp")
    tmp.write_bytes(proto)
    tmp.replace(path)
    proc = load_proto(proto)
    out_prefix.with_suffix(".vocab").write_text(
        "".join(f"{proc.id_to_piece(i)}\t{proc.get_score(i)}\n" for i in range(proc.get_piece_size())),
        encoding="utf-8")
    return path


def load_proto(proto: bytes) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_proto=proto)


def load(path: str | pathlib.Path) -> spm.SentencePieceProcessor:
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"vocabulary model not found: {path} (train one with `cip vocab train`)")
    return spm.SentencePieceProcessor(model_file=str(path))


def default_vocab_path() -> pathlib.Path:
    """$CIP_VOCAB, else the default corpus's 4k vocabulary."""
    env = os.environ.get("CIP_VOCAB")
    return pathlib.Path(env) if env else default_corpus_dir() / "vocab" / f"spm{DEFAULT_VOCAB_SIZE // 1024}k.model"


def default_vocabulary():
    """The SeqIO vocabulary of every task; it reads the file lazily, so tasks register before it exists."""
    import seqio

    return seqio.SentencePieceVocabulary(str(default_vocab_path()))


def model_file(vocab) -> str:
    """The model file of a SeqIO SentencePiece vocabulary (local or gs://), which must exist."""
    import tensorflow as tf

    path = getattr(vocab, "sentencepiece_model_file", None)
    if path is None or not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"vocabulary not found: {path} (build the default one with `cip demo`, "
                                f"train one with `cip vocab train`, or set $CIP_VOCAB)")
    return path


def vocabulary_fingerprint(vocab) -> str:
    """The fingerprint of a SeqIO SentencePiece vocabulary's model file."""
    import tensorflow as tf

    with tf.io.gfile.GFile(model_file(vocab), "rb") as f:
        return fingerprint.of_chunks([f.read()])
