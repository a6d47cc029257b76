"""What `cip synth` writes: JSON Lines whose bytes depend on content only, and statistics per family."""

from __future__ import annotations

import collections
import gzip
import io
import json
import os
import pathlib
import threading
from collections.abc import Callable

from code_in_pretraining.synthetic.streams import Outcome


def family_stats(outcomes: list[Outcome], records: list[dict], count_tokens: Callable[[str], int]) -> dict:
    """family -> {generated, kept, rejected: {reason: count}, tokens, acceptance}, plus "total"."""
    stats: dict[str, dict] = {}
    for o in outcomes:
        s = stats.setdefault(o.family, {"generated": 0, "kept": 0, "rejected": collections.Counter(), "tokens": 0})
        s["generated"] += 1
        if o.reason == "ok":
            s["kept"] += 1
        else:
            s["rejected"][o.reason] += 1
    for r in records:
        stats[r["family"]]["tokens"] += count_tokens(r["text"])
    total = {"generated": 0, "kept": 0, "rejected": collections.Counter(), "tokens": 0}
    for s in stats.values():
        for k in ("generated", "kept", "tokens"):
            total[k] += s[k]
        total["rejected"].update(s["rejected"])
    out = {f: stats[f] for f in sorted(stats)}
    out["total"] = total
    for s in out.values():
        s["rejected"] = dict(sorted(s["rejected"].items()))
        s["acceptance"] = round(s["kept"] / s["generated"], 4) if s["generated"] else None
    return out


def write_atomic(path: pathlib.Path, data: bytes | str) -> None:
    """The file complete or absent: written under a name of this process and thread, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def write_jsonl(records: list[dict], path: pathlib.Path) -> None:
    """Atomic write; gzip with a fixed header (no name, mtime 0) so that bytes depend on content only."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if path.suffix == ".gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
            gz.write(data)
        data = buffer.getvalue()
    write_atomic(path, data)


def stats_path(out: pathlib.Path) -> pathlib.Path:
    """Where the statistics of an output file go: FILE.stats.json beside it."""
    return out.with_name(out.name + ".stats.json") if out.suffix != ".jsonl" else out.with_suffix(".stats.json")
