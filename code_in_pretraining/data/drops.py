"""Documents that materialisation leaves out of a task's shards, and why.

    <root>/<task>/<split>.dedup.jsonl           duplicates (beam_dedup.py), one line per document removed
    <root>/<task>/<split>.dedup.json            its summary (written last: the list is complete)
    <root>/<task>/<split>.contamination.jsonl   evaluation overlap (`cip decontaminate --remove`)
    <root>/<task>/<split>.contamination.json    its summary

A line names a document by its shard and its position among the documents that the
shard's source yields ("index"), with its id and why it goes ("kind": one of KINDS).
A summary records the fingerprint of the inputs the list was made from (input files,
filters): a list made from other inputs is refused rather than applied to the wrong
documents. Each shard's stats carry the fingerprint of the drops applied to it
(`shard_fingerprint`), so materialisation writes again exactly the shards whose drops
changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from code_in_pretraining.data import files, fingerprint

KINDS = ("exact_duplicate", "near_duplicate", "contaminated")
LISTS = ("dedup", "contamination")


def list_path(root, task: str, split: str, name: str) -> str:
    return files.join(root, task, f"{split}.{name}.jsonl")


def summary_path(root, task: str, split: str, name: str) -> str:
    return files.join(root, task, f"{split}.{name}.json")


def inputs_fingerprint(source, shards: list[str]) -> str:
    """What the positions in a list depend on: the input files, in order, and what filters them."""
    return fingerprint.of_chunks(s.encode() for s in [*shards, repr(source.filter_config),
                                                        str(source.max_document_bytes)])


def read_summary(root, task: str, split: str, name: str) -> dict | None:
    path = summary_path(root, task, split, name)
    return files.read_json(path) if files.exists(path) else None


def write(root, task: str, split: str, name: str, rows: Iterable[dict], summary: dict) -> int:
    """Writes a list, then its summary (which marks it complete); returns the number of lines."""
    n = files.write_lines(list_path(root, task, split, name), rows)
    files.write_json(summary_path(root, task, split, name), {**summary, "removed": n})
    return n


def for_task(root, task: str, split: str, inputs: str, names: Iterable[str] = LISTS) -> dict[int, dict[int, str]]:
    """shard index -> {position: kind} over the complete lists present; `inputs` is the task's
    inputs_fingerprint now."""
    out: dict[int, dict[int, str]] = {}
    for name in names:
        summary = read_summary(root, task, split, name)
        if summary is None:
            continue
        if summary.get("inputs") != inputs:
            command = "dedup" if name == "dedup" else "decontaminate --remove"
            raise ValueError(f"{summary_path(root, task, split, name)} was made from other input files or "
                             f"filters than task {task!r} has now; run `cip {command}` again, or remove it")
        for row in files.read_lines(list_path(root, task, split, name)):
            out.setdefault(int(row["shard"]), {}).setdefault(int(row["index"]), row["kind"])
    return out


def shard_fingerprint(drops: Mapping[int, str] | None) -> str | None:
    """The fingerprint of one shard's drops (None when it has none)."""
    if not drops:
        return None
    return fingerprint.of_chunks(f"{i}:{kind}\n".encode() for i, kind in sorted(drops.items()))
