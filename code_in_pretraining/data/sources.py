"""Raw document sources for SeqIO tasks: file-sharded, local or gs://, counted.

A `ShardedSource` is a `seqio.DataSource` whose shards are its input files (or a
TFDS split's shards), so materialisation parallelises over them and skips the
finished ones. It is a list of `Part`s, each one record shape (see records.py)
over file patterns per split, and one `FilterConfig`. Reading a shard yields
{"id", "text"} and counts, per shard: documents, drops per filter, and bad
records (malformed JSON, invalid UTF-8, missing fields, empty or over-long
documents, missing or unreadable files) with the file and line of the first few.
Bad input is skipped or fatal (`on_bad_record`), never an error inside tf.data.

`jsonl_source` and `read_jsonl` are the original JSONL helpers, kept for callers.
"""

from __future__ import annotations

import collections
import dataclasses
import fnmatch
import json
import logging
import random
from collections.abc import Iterator, Mapping, Sequence

import seqio
import tensorflow as tf

from code_in_pretraining.data import filters as filters_lib
from code_in_pretraining.data import readers, records
from code_in_pretraining.data.near_dedup import DedupConfig
from code_in_pretraining.data.stats import BadInputError, SourceStats

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 8 << 20  # larger documents are skipped and counted (books run to a few MB)
ON_BAD_RECORD = ("skip", "fail")
ON_FAILED_SHARD = ("fail", "skip")  # a shard whose input file is missing or unreadable
SIGNATURE = {"id": tf.TensorSpec((), tf.string), "text": tf.TensorSpec((), tf.string)}

# file -> reason -> count, for read_jsonl's callers.
SKIPPED: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@dataclasses.dataclass(frozen=True)
class Part:
    """One record shape over file patterns per split (or a TFDS builder's splits)."""

    shape: str
    splits: Mapping[str, tuple[str, ...]]  # split -> glob patterns; for tfds: split -> TFDS split name
    format: str = "auto"  # jsonl | parquet | array_record | tfds | auto (from the file name)
    text_key: str = "text"  # for the "text" shape
    tfds_name: str = ""  # "name" or "name:version" when format == "tfds"
    tfds_data_dir: str | None = None

    def __post_init__(self):
        records.get_shape(self.shape)  # fail at registration on a typo
        if self.format not in (*readers.FORMATS, "tfds", "auto"):
            raise ValueError(f"unknown format {self.format!r}; known: {readers.FORMATS} tfds auto")


class ShardedSource(seqio.DataSource):
    """Documents of one task, one shard per input file."""

    def __init__(self, parts: Sequence[Part], filter_config: filters_lib.FilterConfig = filters_lib.FilterConfig(),
                 *, max_document_bytes: int = MAX_DOCUMENT_BYTES, on_bad_record: str = "skip",
                 on_failed_shard: str = "fail", dedup: DedupConfig | None = None):
        if on_bad_record not in ON_BAD_RECORD:
            raise ValueError(f"on_bad_record must be one of {ON_BAD_RECORD}, not {on_bad_record!r}")
        if on_failed_shard not in ON_FAILED_SHARD:
            raise ValueError(f"on_failed_shard must be one of {ON_FAILED_SHARD}, not {on_failed_shard!r}")
        self.parts = list(parts)
        self.filter_config = filter_config
        self.filters = filters_lib.build(filter_config)
        self.max_document_bytes = max_document_bytes
        self.on_bad_record = on_bad_record
        self.on_failed_shard = on_failed_shard  # "skip": the commands finish without it, exit code 0
        self.dedup = dedup  # near-duplicate removal as a stage of materialisation, when set
        splits = dict.fromkeys(s for p in self.parts for s in p.splits)
        super().__init__(splits=list(splits))

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    # -- shards ------------------------------------------------------------------------------
    def list_shards(self, split: str) -> list[str]:
        """Input files (or TFDS shard specs) of a split, in a stable order; globs that match nothing raise."""
        if split not in self.splits:
            raise KeyError(f"split {split!r} not configured; splits: {list(self.splits)}")
        shards: list[str] = []
        for part in self.parts:
            if split not in part.splits:
                continue
            if part.format == "tfds":
                shards += _tfds_shards(part, split)
                continue
            for pattern in part.splits[split]:
                if not any(c in pattern for c in "*?["):
                    shards.append(pattern)  # an explicit file: a missing one is reported when read
                    continue
                found = sorted(tf.io.gfile.glob(pattern))
                if not found:
                    raise FileNotFoundError(f"no files match {pattern!r} (split {split!r})")
                shards += found
        return shards

    def part_of(self, split: str, shard: str) -> Part:
        candidates = [p for p in self.parts if split in p.splits]
        if len(candidates) == 1:
            return candidates[0]
        for part in candidates:
            if part.format == "tfds" and shard.startswith(f"tfds:{part.tfds_name}:"):
                return part
            if part.format != "tfds" and any(fnmatch.fnmatchcase(shard, p) for p in part.splits[split]):
                return part
        raise KeyError(f"shard {shard!r} belongs to no part of split {split!r}")

    # -- reading ------------------------------------------------------------------------------
    def documents(self, split: str, shard: str, stats: SourceStats,
                  on_bad_record: str | None = None) -> Iterator[dict[str, str]]:
        """{"id", "text"} of one shard's usable documents; counts everything else into `stats`."""
        policy = on_bad_record or self.on_bad_record
        part = self.part_of(split, shard)
        shape = records.get_shape(part.shape)
        kwargs = {"text_key": part.text_key} if part.shape == "text" else {}
        for row in _rows(part, split, shard, self.max_document_bytes):
            if row.record is None:
                _bad(stats, policy, shard, row.location, row.reason, row.detail)
                continue
            try:
                doc = shape(row.record, f"{shard}:{row.location}", **kwargs)
            except records.BadRecord as e:
                _bad(stats, policy, shard, row.location, e.reason, e.detail)
                continue
            if not doc.text.strip():
                _bad(stats, policy, shard, row.location, "empty_text")
                continue
            if len(doc.text) * 4 > self.max_document_bytes and len(doc.text.encode()) > self.max_document_bytes:
                _bad(stats, policy, shard, row.location, "too_large", f"{len(doc.text.encode())} bytes")
                continue
            dropped_by = next((name for name, keep in self.filters if not keep(doc)), None)
            if dropped_by:
                stats.drop(dropped_by)
                continue
            stats.documents += 1
            stats.characters += len(doc.text)
            yield {"id": doc.id, "text": doc.text}

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None,
                    shard_info: seqio.ShardInfo | None = None, *, sequence_length=None, use_cached=False,
                    num_epochs=1) -> tf.data.Dataset:
        del sequence_length, use_cached, num_epochs
        shards = self.list_shards(split)
        missing = [s for s in shards if not s.startswith("tfds:") and not tf.io.gfile.exists(s)]
        if missing:
            raise FileNotFoundError(f"data file not found: {missing[0]}")
        if shard_info:
            shards = shards[shard_info.index::shard_info.num_shards]
        if shuffle:  # file order only, and seeded even without a seed: callers sample from it reproducibly
            random.Random(0 if seed is None else seed).shuffle(shards)

        def gen():
            stats = SourceStats()
            for shard in shards:
                yield from self.documents(split, shard, stats, on_bad_record="skip")

        return tf.data.Dataset.from_generator(gen, output_signature=SIGNATURE)


def _bad(stats: SourceStats, policy: str, path: str, location: int, reason: str, detail: str = "") -> None:
    if policy == "fail":
        raise BadInputError(f"{path}:{location}: {reason}" + (f" ({detail})" if detail else ""))
    stats.bad(path, location, reason, detail)


def _rows(part: Part, split: str, shard: str, max_bytes: int) -> Iterator[readers.Row]:
    if part.format == "tfds":
        yield from _tfds_rows(part, shard)
        return
    try:
        fmt = readers.format_of(shard) if part.format == "auto" else part.format
    except ValueError as e:
        yield readers.Row(0, None, "unreadable_file", str(e))
        return
    yield from readers.read_rows(shard, fmt, max_bytes)


# -- TFDS ---------------------------------------------------------------------------------------
def _tfds_shards(part: Part, split: str) -> list[str]:
    import tensorflow_datasets as tfds

    tfds_split = part.splits[split][0] if part.splits[split] else split
    try:
        builder = tfds.builder(part.tfds_name, data_dir=part.tfds_data_dir)
        n = builder.info.splits[tfds_split].num_shards
    except Exception as e:  # not prepared, unknown name ...
        raise FileNotFoundError(f"TFDS {part.tfds_name!r} split {tfds_split!r} unavailable: {e}") from None
    return [f"tfds:{part.tfds_name}:{tfds_split}[{i}shard]" for i in range(n)]


def _tfds_rows(part: Part, shard: str) -> Iterator[readers.Row]:
    import tensorflow_datasets as tfds

    spec = shard.split(":", 2)[2] if shard.count(":") >= 2 else shard
    try:
        ds = tfds.load(part.tfds_name, split=spec, data_dir=part.tfds_data_dir, shuffle_files=False)
        for i, ex in enumerate(tfds.as_numpy(ds), 1):
            yield readers.Row(i, _to_python(ex))
    except Exception as e:  # a missing or corrupt TFDS shard is bad input, reported like a file
        yield readers.Row(0, None, "unreadable_file", f"{type(e).__name__}: {str(e)[:160]}")


def _to_python(x):
    if isinstance(x, dict):
        return {k: _to_python(v) for k, v in x.items()}
    if isinstance(x, bytes):
        return x.decode("utf-8", errors="replace")
    if hasattr(x, "tolist"):
        return _to_python(x.tolist())
    if isinstance(x, list):
        return [_to_python(v) for v in x]
    return x


# -- the original JSONL helpers ---------------------------------------------------------------
def read_jsonl(path: str, text_key: str = "text", id_key: str = "id") -> Iterator[dict[str, str]]:
    """Yields {"id", "text"} per usable line of one JSONL file (plain, .gz or .zst); counts into SKIPPED."""
    with readers.open_binary(path) as f:
        for lineno, raw_line in enumerate(f, 1):
            try:
                record = json.loads(raw_line.decode("utf-8"))
                text = record[text_key]
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
                _skip(path, lineno, type(e).__name__)
                continue
            if not isinstance(text, str) or not text.strip():
                _skip(path, lineno, "empty_text")
                continue
            yield {"id": str(record.get(id_key, f"{path}:{lineno}")), "text": text}


def _skip(path: str, lineno: int, reason: str) -> None:
    SKIPPED[path][reason] += 1
    if SKIPPED[path][reason] <= 3:
        log.warning("%s:%d: skipped record (%s)", path, lineno, reason)


def jsonl_source(files_by_split: Mapping[str, list[str] | str], text_key: str = "text") -> ShardedSource:
    """A SeqIO source over JSONL files; `files_by_split` maps split -> file list or glob."""
    splits = {s: (spec,) if isinstance(spec, str) else tuple(spec) for s, spec in files_by_split.items()}
    return ShardedSource([Part("text", splits, format="jsonl", text_key=text_key)])


_open_binary = readers.open_binary  # the old private name, for anything that imported it
