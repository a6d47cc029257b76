"""The collectives of one step, read from a compiled program's HLO text.

Each all-gather, reduce-scatter, all-reduce, all-to-all and collective-permute is counted
with the bytes one device moves for it (ring algorithms: an all-gather receives (n-1)/n of
its result, a reduce-scatter sends (n-1)/n of its operand, an all-reduce does both), times
how often it runs: collectives inside a while loop (a scan over layers or microbatches)
count once per iteration, from the trip count XLA records on the loop.
"""

from __future__ import annotations

import dataclasses
import math
import re

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all", "collective-permute")
DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "bf16": 2, "f16": 2, "s32": 4, "u32": 4,
               "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8}

_HEADER = re.compile(r"^(ENTRY\s+)?%([\w.\-]+)\s+\(")
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.+?)\s+([\w\-]+)\((.*)$")
_ARRAY = re.compile(r"(\w+)\[([0-9,]*)\]")
_TRIP = re.compile(r'"known_trip_count":\{"n":"(\d+)"')
_CHANNEL = re.compile(r"channel_id=(\d+)")


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


def _split_computations(hlo_text: str) -> tuple[dict[str, list[str]], str | None]:
    """{computation name: its instruction lines}, and the entry's name. Headers start at column 0
    (`%name (params...) -> ... {`, possibly wrapped over several lines); instructions are indented."""
    comps: dict[str, list[str]] = {}
    entry = current = None
    for line in hlo_text.splitlines():
        m = _HEADER.match(line)
        if m:
            current = m.group(2)
            comps[current] = []
            if m.group(1):
                entry = current
        elif current is not None and line[:1] in (" ", "\t"):
            comps[current].append(line)
    return comps, entry


def _trip_count(while_line: str, comps: dict[str, list[str]]) -> int:
    """Iterations of a while loop: XLA's known trip count where it records one, else the bound of a
    counter compared less-than a constant in the loop's condition (how scans lower), else 1."""
    m = _TRIP.search(while_line)
    if m:
        return int(m.group(1))
    cond = re.search(r"condition=%?([\w.\-]+)", while_line)
    lines = comps.get(cond.group(1), []) if cond else []
    consts = [int(c) for line in lines for c in re.findall(r"s32\[\]\S* constant\((\d+)\)", line)]
    if len(consts) == 1 and any("direction=LT" in line for line in lines):
        return consts[0]
    return 1


def collectives(hlo_text: str, num_devices: int) -> dict[str, Collective]:
    """{kind: Collective} of one run of the program's entry computation.

    The TPU compiler splits an asynchronous collective over several fusions (its start and the
    computations it overlaps), each holding a copy of the instruction with the same channel id:
    within one run of a computation (the entry, or one iteration of a loop body), a channel
    counts once."""
    comps, entry = _split_computations(hlo_text)
    out = {k: Collective(k) for k in KINDS}

    def visit(name: str, times: int, seen: set[str], depth: int = 0):
        for line in comps.get(name, []) if depth < 50 else []:
            im = _INSTR.match(line)
            if not im:
                continue
            shape, op, rest = im.groups()
            kind = _kind(op)
            channel = _CHANNEL.search(rest)
            if kind and not (channel and channel.group(1) in seen):
                if channel:
                    seen.add(channel.group(1))
                moved = _moved(kind, op, shape, _group_size(rest, num_devices))
                out[kind].count += times
                out[kind].bytes_per_device += moved * times
            if op == "while":
                body = re.search(r"body=%?([\w.\-]+)", rest)
                if body:
                    visit(body.group(1), times * _trip_count(line, comps), set(), depth + 1)
                continue
            for called in re.findall(r"(?:to_apply|calls|branch_computations)=\{?([%\w.\-, ]+)\}?", rest):
                for callee in re.findall(r"%?([\w.\-]+)", called):
                    if callee in comps and callee != name:
                        visit(callee, times, seen, depth + 1)

    if entry is not None:
        visit(entry, 1, set())
    return out


def _moved(kind: str, op: str, shape: str, n: int) -> float:
    """Bytes one device moves for one collective over groups of `n` (ring algorithms)."""
    if n <= 1:
        return 0.0
    size = _bytes(shape)
    parts = _ARRAY.findall(shape)
    if kind == "collective-permute" and op.endswith("-start"):  # (operand, result, context scalars...)
        size = _bytes("{}[{}]".format(*parts[0]))
    elif op.endswith("-start") and shape.startswith("("):  # (operands..., results...) of an async start
        size = _bytes(" ".join(f"{d}[{s}]" for d, s in parts[len(parts) // 2:]))
    if kind == "all-gather":
        return size * (n - 1) / n
    if kind == "reduce-scatter":
        return size * (n - 1)  # its operand is n x its result
    if kind == "all-reduce":
        return 2 * size * (n - 1) / n
    if kind == "all-to-all":
        return size * (n - 1) / n
    return size


def total_bytes(found: dict[str, Collective]) -> float:
    return sum(c.bytes_per_device for c in found.values())
