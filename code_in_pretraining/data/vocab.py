"""A SentencePiece BPE vocabulary that round-trips source code exactly.

SentencePiece's defaults normalise text (NFKC, collapse runs of spaces, add a
dummy prefix space) and read training data line by line, so newlines, tabs and
indentation never become pieces. Here normalisation is the identity, no dummy
prefix, whitespace-only pieces are allowed and the training sentences are whole
chunks of documents with their newlines, so indentation and line breaks are
learned as pieces; byte fallback covers every other character, so
decode(encode(x)) == x for any UTF-8 string without U+2581 ("▁", the piece
separator SentencePiece shows for a space).
"""

from __future__ import annotations

import argparse
import io
import pathlib
from collections.abc import Iterable, Iterator

import sentencepiece as spm

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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip vocab", description="Train a code-safe SentencePiece BPE vocabulary.")
    sub = parser.add_subparsers(dest="action", required=True)
    tr = sub.add_parser("train")
    tr.add_argument("--mixture", default="demo_balanced", help="registered SeqIO mixture to sample from")
    tr.add_argument("--vocab-size", type=int, required=True)
    tr.add_argument("--out", required=True, help="output prefix: writes PREFIX.model and PREFIX.vocab")
    tr.add_argument("--sample-bytes", type=int, default=20_000_000, help="bytes of text to sample")
    tr.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from code_in_pretraining.data import mixtures
    docs = mixtures.token_proportional_sample(args.mixture, args.sample_bytes, seed=args.seed)
    path = train_vocab(docs, args.out, args.vocab_size)
    print(f"wrote {path} ({args.vocab_size} pieces, trained on {args.sample_bytes:,} bytes of {args.mixture})")
    return 0
