"""Where each task's raw data lives: the data config, else the task's offline default.

`$CIP_SOURCES` names a JSON (or YAML) file mapping task name -> source spec:

    {
      "slimpajama": {"format": "jsonl",
                     "splits": {"train": ["gs://bucket/slimpajama/train/*.jsonl.zst"],
                                "validation": ["gs://bucket/slimpajama/validation/*.jsonl.zst"]}},
      "stack_code": {"format": "parquet", "splits": {"train": ["/data/stack/*/*.parquet"]},
                     "filters": {"max_float_fraction": 0.4}},
      "code_adjacent": {"parts": [
          {"shape": "commit", "splits": {"train": ["gs://bucket/commits/*.jsonl.gz"]}},
          {"shape": "notebook", "splits": {"train": ["gs://bucket/notebooks/*.parquet"]}},
          {"shape": "stackexchange", "splits": {"train": ["gs://bucket/se/*.jsonl.zst"]}}]},
      "cooldown_math": {"format": "tfds", "tfds_name": "some_builder:1.0.0",
                        "splits": {"train": ["train"]}}
    }

A spec is one part (its keys at the top) or several ("parts"); a part's keys are
those of `sources.Part` (`shape` defaults to the task's own). Task-level keys:
`filters` (fields of filters.FilterConfig, replacing the task's defaults one by
one), `max_document_bytes`, `on_bad_record` ("skip" or "fail"), `on_failed_shard`
("fail", the default: a shard whose input file is missing or unreadable makes
`cip materialize`, `cip dedup` and `cip decontaminate` exit non-zero after the other
shards; "skip": they finish without it), `dedup` (near-duplicate removal as a stage
of materialisation: true for the defaults, or settings of near_dedup.DedupConfig,
e.g. {"shingle": 5, "num_perm": 128, "threshold": 0.7}). A task that the config does
not name reads its offline source (the embedded default corpus).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence

from code_in_pretraining.data import filters as filters_lib
from code_in_pretraining.data.near_dedup import DedupConfig
from code_in_pretraining.data.sources import MAX_DOCUMENT_BYTES, Part, ShardedSource

ENV = "CIP_SOURCES"
_TASK_KEYS = {"parts", "filters", "max_document_bytes", "on_bad_record", "on_failed_shard", "dedup"}


def load(path: str | os.PathLike | None = None) -> dict:
    """The data config at `path` or $CIP_SOURCES; {} when neither is set."""
    path = path or os.environ.get(ENV)
    if not path:
        return {}
    where = f"${ENV}={path}" if path == os.environ.get(ENV) else str(path)
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"data config {where}: no such file")
    text = pathlib.Path(path).read_text()
    try:
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text) or {}
        return json.loads(text)
    except ValueError as e:  # json.JSONDecodeError and yaml's errors name the line
        raise ValueError(f"data config {where}: {e}") from None


def _part(spec: dict, default_shape: str) -> Part:
    spec = dict(spec)
    splits = spec.pop("splits", None)
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"a source part needs 'splits': {{split: [patterns]}}, got {splits!r}")
    splits = {s: (p,) if isinstance(p, str) else tuple(p) for s, p in splits.items()}
    return Part(spec.pop("shape", default_shape), splits, **spec)


def from_spec(spec: dict, default_shape: str, default_filters: filters_lib.FilterConfig) -> ShardedSource:
    part_specs = spec.get("parts") or [{k: v for k, v in spec.items() if k not in _TASK_KEYS}]
    return ShardedSource([_part(p, default_shape) for p in part_specs],
                         filters_lib.with_overrides(default_filters, spec.get("filters", {})),
                         max_document_bytes=int(spec.get("max_document_bytes", MAX_DOCUMENT_BYTES)),
                         on_bad_record=spec.get("on_bad_record", "skip"),
                         on_failed_shard=spec.get("on_failed_shard", "fail"),
                         dedup=DedupConfig.from_spec(spec.get("dedup")))


def task_source(name: str, default_shape: str, default_filters: filters_lib.FilterConfig,
                offline: Sequence[Part], offline_filters: filters_lib.FilterConfig | None = None,
                config: dict | None = None) -> ShardedSource:
    """The configured source of a task, else its offline one."""
    config = load() if config is None else config
    if name in config:
        return from_spec(config[name], default_shape, default_filters)
    return ShardedSource(offline, offline_filters or default_filters)
