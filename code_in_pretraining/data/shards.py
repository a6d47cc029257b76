"""A task's input shards: their list, their names, and the documents left out of each.

Materialisation, deduplication and decontamination all work one input shard at a
time, and name what they write after it (`shard_stem`).
"""

from __future__ import annotations

from code_in_pretraining.data import drops as drops_lib
from code_in_pretraining.data import mixtures
from code_in_pretraining.data.sources import ShardedSource


def shard_stem(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}"


def list_shards(task_name: str, split: str) -> list[str]:
    """Input shards of a task's split: its files for a ShardedSource, else the whole split as one."""
    source = mixtures.get_task(task_name).source
    if isinstance(source, ShardedSource):
        return source.list_shards(split)
    return [f"{task_name}:{split}"]


def sharded_source(task_name: str) -> ShardedSource:
    """A task's file-sharded source; what deduplication, decontamination and drops need."""
    source = mixtures.get_task(task_name).source
    if not isinstance(source, ShardedSource):
        why = "does not read a file-sharded source (data/sources.py), so its documents cannot be deduplicated"
        raise ValueError(f"task {task_name!r} {why} or decontaminated")  # noqa: TRY004
    return source


def task_drops(task_name: str, split: str, out_dir, names=drops_lib.LISTS) -> dict[int, dict[int, str]]:
    """shard index -> {position: kind} of the task's drop lists under out_dir ({} when none)."""
    source = mixtures.get_task(task_name).source
    if not isinstance(source, ShardedSource):
        return {}
    inputs = drops_lib.inputs_fingerprint(source, list_shards(task_name, split))
    return drops_lib.for_task(out_dir, task_name, split, inputs, names)
