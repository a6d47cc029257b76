"""The collectives of one step, read from a compiled program's HLO text.

Each all-gather, reduce-scatter, all-reduce, all-to-all and collective-permute is counted
with the bytes one device moves for it (ring algorithms: an all-gather receives (n-1)/n of
its result, a reduce-scatter sends (n-1)/n of its operand, an all-reduce does both), times
how often it runs: collectives inside a while loop (a scan over layers or microbatches)
count once per iteration, from the trip count XLA records on the loop.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all", "collective-permute")
DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "bf16": 2, "f16": 2, "s32": 4, "u32": 4,
               "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8}

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.+?)\s+([\w\-]+)\((.*)$")
_ARRAY = re.compile(r"(\w+)\[([0-9,]*)\]")
_TRIP = re.compile(r'"known_trip_count":\{"n":"(\d+)"')
_CALLS = re.compile(r"(?:body|to_apply|calls|branch_computations|condition)=\{?%?([\w.\-, %]+)\}?")


@dataclasses.dataclass
class Collective:
    kind: str
    count: int = 0
    bytes_per_device: float = 0.0


def _bytes(shape_text: str) -> int:
    """Bytes of an HLO shape: one array type, or a tuple of them."""
    total = 0
    for dtype, dims in _ARRAY.findall(shape_text):
        if dtype in DTYPE_BYTES:
            total += DTYPE_BYTES[dtype] * math.prod(int(d) for d in dims.split(",") if d)
    return total


def _group_size(attrs: str, num_devices: int) -> int:
    """Devices per replica group: iota groups `[n,size]<=[...]`, listed groups `{{0,1,..},..}`, or
    mesh groups `mesh['axis_0'=2,'axis_1'=4] {'axis_1'}` (the product of the named axes)."""
    m = re.search(r"replica_groups=mesh\[([^\]]*)\]\s*\{([^}]*)\}", attrs)
    if m:
        sizes = {k: int(v) for k, v in re.findall(r"'([^']+)'=(\d+)", m.group(1))}
        return math.prod(sizes.get(a, 1) for a in re.findall(r"'([^']+)'", m.group(2)))
    m = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", attrs)
    if m:
        return int(m.group(2))
    m = re.search(r"replica_groups=\{\{([0-9,]*)\}", attrs)
    if m:
        return len(m.group(1).split(","))
    return num_devices


def _kind(op: str) -> str | None:
    base = op[:-len("-start")] if op.endswith("-start") else op
    return base if base in KINDS else None


def collectives(hlo_text: str, num_devices: int) -> dict[str, Collective]:
    """{kind: Collective} of one run of the program's entry computation."""
    comps: dict[str, list] = {}
    entry = None
    current = None
    for line in hlo_text.splitlines():
        m = _COMPUTATION.match(line) if line[:1] not in (" ", "\t") else None
        if m:
            current = m.group(1)
            comps[current] = []
            if line.startswith("ENTRY"):
                entry = current
            continue
        if current is None:
            continue
        im = _INSTR.match(line)
        if not im:
            continue
        shape, op, rest = im.groups()
        kind = _kind(op)
        if kind:
            n = _group_size(rest, num_devices)
            size = _bytes(shape)
            if op.endswith("-start") and shape.startswith("("):  # (operand, result) of an async start
                parts = _ARRAY.findall(shape)
                size = _bytes(" ".join(f"{d}[{s}]" for d, s in parts[len(parts) // 2:]))
            if kind == "all-gather":
                moved = size * (n - 1) / n
            elif kind == "reduce-scatter":
                moved = size * (n - 1)  # operand = n x result
            elif kind == "all-reduce":
                moved = 2 * size * (n - 1) / n
            else:
                moved = size * (n - 1) / n if kind == "all-to-all" else size
            comps[current].append(("collective", kind, moved if n > 1 else 0.0))
        trip = _TRIP.search(rest)
        for called in _CALLS.findall(rest):
            for name in re.split(r"[,\s%]+", called):
                if name:
                    is_body = op == "while" and trip and re.search(rf"body=%?{re.escape(name)}(?![\w.\-])", rest)
                    times = int(trip.group(1)) if is_body else 1
                    comps[current].append(("call", name, times))
    out = {k: Collective(k) for k in KINDS}

    def visit(name: str, times: int, depth: int = 0):
        if depth > 50 or name not in comps:
            return
        for entry_ in comps[name]:
            if entry_[0] == "collective":
                _, kind, moved = entry_
                out[kind].count += times
                out[kind].bytes_per_device += moved * times
            else:
                visit(entry_[1], times * entry_[2], depth + 1)

    if entry is not None:
        visit(entry, 1)
    return out


def summary(found: dict[str, Collective]) -> dict[str, dict[str, float]]:
    return {k: {"count": c.count, "bytes_per_device": c.bytes_per_device} for k, c in found.items() if c.count}


def total_bytes(found: dict[str, Collective]) -> float:
    return sum(c.bytes_per_device for c in found.values())


def counter(found: dict[str, Collective]) -> collections.Counter:
    return collections.Counter({k: c.count for k, c in found.items()})
