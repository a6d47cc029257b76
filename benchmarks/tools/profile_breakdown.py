"""Device time of one jit-compiled function per category, from a `jax.profiler` trace.

What it reads, and why both:

1. The trace. `jax.profiler.stop_trace()` writes `DIR/plugins/profile/<run>/<host>.trace.json.gz`
   (Chrome trace-event JSON; `create_perfetto_trace=True` only adds a copy without
   the "metadata" key). Processes and threads are named by "M" events; the work is
   in complete ("ph": "X") events, `ts`/`dur` in microseconds. An event counts when
   its `args` carry `hlo_op` (the HLO instruction that ran) and, where present,
   `hlo_module` equal to the compiled module's name:
   - GPU: kernel events on the "/device:GPU:N" process, threads "Stream #N(...)".
     XLA annotates each launch as `Thunk:#name=<op name>,hlo_op=...#` inside
     `XlaModule:#hlo_module=...#`, and the CUPTI collector copies those keys into
     the event's args (plus `tf_op`). This layout is taken from XLA's source
     (backends/gpu/runtime/annotation.cc, backends/profiler/gpu/cupti_collector.cc)
     and checked here on a synthetic trace only (tests/test_benchmarks.py).
   - CPU: no device process; the XLA CPU runtime records one event per executed
     thunk on the "/host:CPU" process, args `hlo_op` and `hlo_module`.
   Where the same thread holds nested events, each counts its self time, so no
   microsecond counts twice; overlapping streams add up (device busy time).
2. The compiled HLO text (`jitted.lower(*args).compile().as_text()`): every
   instruction's `metadata={op_name="jit(step)/.../attn/attn_core/..."}` carries the
   `jax.named_scope` path of the jaxpr equation it came from; a fusion or another
   instruction that calls computations takes the op names inside them. The trace
   alone cannot be trusted for this: the CPU events carry no op name at all, and on
   GPU it depends on the XLA version and annotation level.

Scopes (set in model/layers.py, model/decoder.py, train/step.py) -> category:
"optimizer" -> optimizer; "logits" or "loss" -> loss; "attn_core" -> attention (RoPE
and the attention kernel); "attn" or "mlp" -> matmuls (the dense layers: q/k/v/o
projections, SwiGLU); anything else (embedding, norms, residual adds, metrics) ->
other. Scope names match whole path components, also inside AD wrappers such as
`transpose(jvp(loss))`. An instruction with matmuls (dot, convolution, custom-call:
cuBLAS, cuDNN, Pallas/Triton kernels) is classed by those; otherwise by the majority
of its scoped ops, unscoped glue counting only where nothing else is there.

Caveat (GPU): kernels run inside an XLA command buffer (CUDA graph) are attributed to
the command-buffer instruction; benchmarks/train_step.py --profile therefore sets
`--xla_gpu_enable_command_buffer=` in XLA_FLAGS. Time that stays unattributed is
reported under "other" and counted in `unmapped_ms`.

Without a card: `roofline()` models the same categories from the compiled HLO alone (for
a GPU, compiled on the CPU by gpu_target.py): each top-level instruction takes
the longer of its matmul FLOPs at the card's peak (float32 operands at the TF32 rate) and
its bytes at the card's bandwidth; loop bodies count once per trip. A lower bound, for
comparing variants of a step (benchmarks/train_step.py --target).

    python benchmarks/tools/profile_breakdown.py DIR --steps 3   # re-read a saved profile
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import json
import pathlib
import re

CATEGORIES = {
    "matmuls": "matmuls (q/k/v/o projections, SwiGLU MLP)",
    "attention": "attention (RoPE + kernel)",
    "loss": "loss (logits + cross entropy)",
    "optimizer": "optimizer (clipping + AdamW update)",
    "other": "other (embedding, norms, residuals, metrics)",
}
_SCOPE_CATEGORY = (  # first match wins
    ("optimizer", "optimizer"),
    ("logits", "loss"),
    ("loss", "loss"),
    ("attn_core", "attention"),
    ("attn", "matmuls"),
    ("mlp", "matmuls"),
)
_HEAVY_OPCODES = {"dot", "convolution", "custom-call", "ragged-dot"}
_TRANSFORM = re.compile(r"^(?:jvp|transpose|vmap|checkpoint|remat)\((.*)\)$")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\{$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.*)$")
_OPCODE = re.compile(r"\s([a-z][\w\-]*)\(")
_OP_NAME = re.compile(r'op_name="((?:[^"\\]|\\.)*)"')
_CALLED = re.compile(
    r"\b(?:calls|to_apply|body|condition|branch_computations|called_computations)="
    r"(\{[^}]*\}|%?[\w.\-]+)")


class TraceParseError(RuntimeError):
    """The trace holds no event that could be attributed to the module."""


def scope_category(op_name: str) -> str:
    """Category of one op name such as "jit(step)/transpose(jvp(loss))/mul"."""
    scopes = set()
    for part in op_name.split(";"):  # XLA joins the names of merged ops with ";"
        for comp in part.split("/"):
            while (m := _TRANSFORM.match(comp)) is not None:
                comp = m.group(1)
            scopes.add(comp)
    return next((cat for scope, cat in _SCOPE_CATEGORY if scope in scopes), "other")


@dataclasses.dataclass
class _Instr:
    opcode: str
    op_name: str
    called: list[str]
    text: str = ""  # everything right of "name = ": result type, operands, attributes
    root: bool = False


def parse_hlo(hlo_text: str) -> tuple[str, dict[str, dict[str, _Instr]]]:
    """(module name, {computation: {instruction: _Instr}}) from HLO text."""
    module, comps, current = "", {}, None
    for line in hlo_text.splitlines():
        if line.startswith("HloModule "):
            module = line.split()[1].rstrip(",")
        elif (m := _COMPUTATION.match(line)) is not None:
            current = comps.setdefault(m.group(1), {})
        elif current is not None and (m := _INSTRUCTION.match(line)) is not None:
            rest = m.group(2)
            opcode = _OPCODE.search(rest)
            op_name = _OP_NAME.search(rest)
            called = [c.strip().lstrip("%") for g in _CALLED.findall(rest) for c in g.strip("{}").split(",")]
            current[m.group(1)] = _Instr(opcode.group(1) if opcode else "", op_name.group(1) if op_name else "",
                                         [c for c in called if c], rest, line.lstrip().startswith("ROOT "))
    return module, comps


def instruction_categories(hlo_text: str) -> tuple[str, dict[str, str]]:
    """(module name, {instruction name: category}) for every instruction of the module."""
    module, comps = parse_hlo(hlo_text)
    return module, _categories(comps)


def _categories(comps: dict[str, dict[str, _Instr]]) -> dict[str, str]:
    instrs = {name: ins for comp in comps.values() for name, ins in comp.items()}

    def leaves(ins: _Instr, seen: set[str]) -> list[tuple[str, str]]:
        out = [(ins.opcode, ins.op_name)] if ins.op_name else []
        for c in ins.called:
            if c not in seen and c in comps:
                seen.add(c)
                for sub in comps[c].values():
                    out += leaves(sub, seen)
        return out

    order = list(CATEGORIES)
    cats = {}
    for name, ins in instrs.items():
        found = leaves(ins, set())
        heavy = [scope_category(n) for op, n in found if op in _HEAVY_OPCODES]
        pool = heavy or [scope_category(n) for _, n in found]
        pool = [c for c in pool if c != "other"] or pool
        if not pool:
            cats[name] = "other"
            continue
        counts = collections.Counter(pool)
        cats[name] = min(counts, key=lambda c: (-counts[c], order.index(c)))
    return cats


def find_trace(log_dir) -> pathlib.Path:
    """The newest `*.trace.json.gz` under `log_dir` (the layout jax.profiler writes)."""
    traces = sorted(pathlib.Path(log_dir).glob("plugins/profile/*/*.trace.json.gz"),
                    key=lambda p: p.stat().st_mtime)
    if not traces:
        raise TraceParseError(f"no plugins/profile/*/*.trace.json.gz under {log_dir}")
    return traces[-1]


def _self_times(events: list[dict]) -> list[float]:
    """Per event (all on one thread): its duration less that of the events nested in it."""
    order = sorted(range(len(events)), key=lambda i: (events[i]["ts"], -events[i]["dur"]))
    self_t = [float(e["dur"]) for e in events]
    stack: list[int] = []
    for i in order:
        ts = events[i]["ts"]
        while stack and events[stack[-1]]["ts"] + events[stack[-1]]["dur"] <= ts:
            stack.pop()
        if stack:
            parent = stack[-1]
            end = min(ts + events[i]["dur"], events[parent]["ts"] + events[parent]["dur"])
            self_t[parent] -= end - ts
        stack.append(i)
    return self_t


@dataclasses.dataclass
class Breakdown:
    ms_per_step: dict[str, float]  # category -> device ms per step
    steps: int
    source: str  # which processes the events came from
    events: int
    unmapped_ms: float  # per step; included in "other"
    span_ms: float  # first event start to last event end, per step
    top_ops: list[tuple[str, str, float]]  # (HLO instruction, category, ms per step), largest first
    modelled: bool = False  # from roofline(), not from a trace

    @property
    def busy_ms(self) -> float:
        return sum(self.ms_per_step.values())

    def share(self, cat: str) -> float:
        return self.ms_per_step[cat] / self.busy_ms if self.busy_ms else 0.0

    def markdown(self, step_ms: float | None = None, top: int = 0) -> str:
        """A Markdown table (category, ms per step, share), one line on what it covers, and
        with `top` the largest HLO instructions (names as in the saved *.hlo.txt)."""
        lines = ["| category | ms / step | share |", "|---|---:|---:|"]
        lines += [f"| {CATEGORIES[c]} | {self.ms_per_step[c]:.2f} | {self.share(c):.1%} |" for c in CATEGORIES]
        lines.append(f"| total device busy | {self.busy_ms:.2f} | 100.0% |")
        note = (f"{self.events} events of {self.steps} steps from {self.source}; busy {self.busy_ms:.2f} ms "
                f"of a {self.span_ms:.2f} ms traced span per step")
        if self.modelled:
            note = (f"Modelled from {self.events} instructions of the compiled HLO at the card's peak FLOP/s "
                    f"and bandwidth, without overlap: a lower bound, for comparing variants")
        if step_ms is not None:
            note += f" (timed step {step_ms:.2f} ms)"
        if self.unmapped_ms:
            note += f"; {self.unmapped_ms:.2f} ms/step not found in the HLO (in other)"
        out = "\n".join(lines) + "\n\n" + note + "."
        if top:
            out += "\n\nLargest HLO instructions: " + ", ".join(
                f"{op} ({cat}) {ms:.2f} ms" for op, cat, ms in self.top_ops[:top])
        return out


def breakdown(trace_path, hlo_text: str, steps: int) -> Breakdown:
    """Device time per category and step of the module in `hlo_text`, from the trace file."""
    module, cats = instruction_categories(hlo_text)
    with gzip.open(trace_path, "rt") as f:
        events = json.load(f)["traceEvents"]
    procs = {e["pid"]: e.get("args", {}).get("name", "") for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    threads = {(e["pid"], e.get("tid")): e.get("args", {}).get("name", "") for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    ops = [e for e in events if e.get("ph") == "X" and "dur" in e and "hlo_op" in e.get("args", {})
           and e["args"].get("hlo_module", module) == module]
    if not ops:
        seen = sorted({e["args"].get("hlo_module", "?") for e in events if "hlo_op" in e.get("args", {})})
        raise TraceParseError(f"no events with args.hlo_op of module {module!r} in {trace_path} "
                              f"(modules seen: {seen[:10]})")
    device = [e for e in ops if procs.get(e["pid"], "").startswith("/device:")]
    if device:  # accelerator: its own timeline; host-side copies of the annotations are launches
        streams = [e for e in device if "Stream" in threads.get((e["pid"], e.get("tid")), "")]
        ops, source = streams or device, "device streams" if streams else "device"
    else:
        source = "host (CPU backend thunks)"

    per_thread = collections.defaultdict(list)
    for e in ops:
        per_thread[(e["pid"], e.get("tid"))].append(e)
    total = dict.fromkeys(CATEGORIES, 0.0)
    per_op = collections.Counter()
    unmapped = 0.0
    for evs in per_thread.values():
        for e, t in zip(evs, _self_times(evs), strict=True):
            op = e["args"]["hlo_op"]
            if op in cats:
                cat = cats[op]
            else:  # not in this HLO: fall back on the op name the event may carry
                cat = scope_category(e["args"].get("name") or e["args"].get("tf_op") or "")
                unmapped += t
            total[cat] += t
            per_op[op, cat] += t
    span = max(e["ts"] + e["dur"] for e in ops) - min(e["ts"] for e in ops)
    per_step = 1e3 * steps  # microseconds over all steps -> ms per step
    return Breakdown({c: t / per_step for c, t in total.items()}, steps, source, len(ops), unmapped / per_step,
                     span / per_step, [(op, cat, t / per_step) for (op, cat), t in per_op.most_common(20)])


# --- The same categories without a trace: a roofline of the compiled HLO. -----------------

_ARRAY = re.compile(r"\b(pred|[su](?:8|16|32|64)|f(?:16|32|64)|bf16)\[([0-9,]*)\]")
_ELEMENT_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
                  "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
_TRIP_COUNT = re.compile(r'"known_trip_count":\{"n":"(\d+)"\}')
_CONTRACTING = re.compile(r"lhs_contracting_dims=\{([0-9,]*)\}")
_FREE = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "after-all", "partition-id",
         "replica-id", "opt-barrier"}
# Attention kernels -> [L, L] matmuls per (batch, head): ours (kernels/pallas_gpu.py), named in
# their custom calls, and cuDNN's (its backward recomputes the scores: 5, as our fused one).
_ATTENTION_MATMULS = {"cip_flash_fwd": 2, "cip_flash_bwd_dq": 3, "cip_flash_bwd_dkv": 4, "cip_flash_bwd_fused": 5,
                      "__cudnn$fmhaSoftmax": 2, "__cudnn$fmhaSoftmaxBackward": 5}
_ATTENTION = re.compile(r"\b(cip_flash_(?:fwd|bwd_dq|bwd_dkv|bwd_fused))\b|"
                        r'custom_call_target="(__cudnn\$fmhaSoftmax(?:Backward)?)"')


def _arrays(type_text: str) -> list[tuple[str, list[int]]]:
    return [(dt, [int(d) for d in dims.split(",") if d]) for dt, dims in _ARRAY.findall(type_text)]


def _nbytes(type_text: str) -> int:
    total = 0
    for dt, dims in _arrays(type_text):
        n = _ELEMENT_BYTES[dt]
        for d in dims:
            n *= d
        total += n
    return total


def _result_type(ins: _Instr) -> str:
    m = _OPCODE.search(ins.text)
    return ins.text[: m.start()] if m else ins.text


def _operands(ins: _Instr) -> list[str]:
    m = re.search(re.escape(ins.opcode) + r"\(([^)]*)\)", ins.text)
    return [a.strip().split(" ")[-1].lstrip("%") for a in m.group(1).split(",")] if m and m.group(1) else []


def _dot_flops(instrs: dict[str, _Instr], ins: _Instr) -> tuple[float, float]:
    """(16-bit, 32-bit) FLOPs of one dot; 32-bit operands run at the TF32 rate."""
    (_, out), lhs = _arrays(_result_type(ins))[0], _arrays(_result_type(instrs[_operands(ins)[0]]))[0]
    flops = 2.0
    for d in _CONTRACTING.search(ins.text).group(1).split(","):
        flops *= lhs[1][int(d)]
    for d in out:
        flops *= d
    return (0.0, flops) if lhs[0] in ("f32", "f64") else (flops, 0.0)


def _matmul_flops(comps, comp: str, seen: set[str]) -> tuple[float, float]:
    """(16-bit, 32-bit) matmul FLOPs of the dots in `comp` and what it calls."""
    low = high = 0.0
    for ins in comps.get(comp, {}).values():
        if ins.opcode == "dot":
            sub = _dot_flops(comps[comp], ins)
            low, high = low + sub[0], high + sub[1]
        for c in ins.called:
            if c in comps and c not in seen:
                seen.add(c)
                sub = _matmul_flops(comps, c, seen)
                low, high = low + sub[0], high + sub[1]
    return low, high


def _attention_flops(ins: _Instr) -> float:
    """FLOPs of an attention kernel from its first [B, L, H, D] (ours) or [B, H, L, D] (cuDNN)
    array, L being the larger of the middle two; causal (ours always are in the model; cuDNN's
    say so) halves them, an upper bound where packed documents let ours skip tiles."""
    kernel = _ATTENTION.search(ins.text)
    shapes = [dims for _, dims in _arrays(ins.text) if len(dims) == 4]
    if not kernel or not shapes:
        return 0.0
    B, a, b, D = shapes[0]
    L = max(a, b)
    causal = kernel.group(1) is not None or re.search(r'"mask_type":\s*"CAUSAL"', ins.text) is not None
    return _ATTENTION_MATMULS[kernel.group(1) or kernel.group(2)] * 2.0 * B * a * b * L * D * (0.5 if causal else 1)


def _moved_bytes(comps, instrs: dict[str, _Instr], ins: _Instr) -> int:
    """Bytes an instruction reads and writes. Inside a fusion, an operand that is only
    sliced (statically, e.g. q out of a fused q/k/v projection, or dynamically) is read
    a slice at a time, and a dynamic-update-slice root writes only its update into a
    buffer that stays in place (a loop over blocks of a stacked array)."""
    operands = [_nbytes(_result_type(instrs[o])) if o in instrs else 0 for o in _operands(ins)]
    result = _nbytes(_result_type(ins))
    if ins.opcode != "fusion" or not ins.called or ins.called[0] not in comps:
        return result + sum(operands)
    fused = comps[ins.called[0]]
    params = {int(m.group(1)): name for name, sub in fused.items()
              if sub.opcode == "parameter" and (m := re.search(r"parameter\((\d+)\)", sub.text))}
    users = collections.defaultdict(list)
    for sub in fused.values():
        for position, o in enumerate(_operands(sub)):
            users[o].append((sub, position))
    root = next((sub for sub in fused.values() if sub.root), None)
    for i, name in params.items():
        uses = users.get(name, [])
        if i < len(operands) and uses and all(u.opcode in ("slice", "dynamic-slice") and p == 0 for u, p in uses):
            operands[i] = min(operands[i], sum(_nbytes(_result_type(u)) for u, _ in uses))
        elif (i < len(operands) and root is not None and root.opcode == "dynamic-update-slice"
              and uses == [(root, 0)]):
            update = _operands(root)[1]
            operands[i] = 0
            result = _nbytes(_result_type(fused[update])) if update in fused else result
    return result + sum(operands)


# Elements XLA's bitonic sort is taken to exchange within one block's shared memory: an
# estimate, not read from XLA. Longer sorts go through global memory once per wider step.
_SORT_TILE_LOG2 = 11


def _sort_passes(comps, ins: _Instr) -> int:
    """Passes over its data of a sort (or a fusion rooted in one): a bitonic network of
    n = 2^m elements sorts tiles of 2^t in shared memory (one pass), then each of the m - t
    wider stages k takes k - t global steps and one shared-memory pass; 1 if no sort."""
    sort = ins if ins.opcode == "sort" else next(
        (sub for c in ins.called if c in comps for sub in comps[c].values() if sub.opcode == "sort"), None)
    if sort is None:
        return 1
    dim = int(re.search(r"dimensions=\{(\d+)\}", sort.text).group(1))
    n = _arrays(_result_type(sort))[0][1][dim]
    wide = max(0, (n - 1).bit_length() - _SORT_TILE_LOG2)
    return 1 + wide + wide * (wide + 1) // 2


def atomic_scatters(hlo_text: str) -> int:
    """Scatters of a compiled GPU module that may add into one element twice: XLA:GPU runs
    them with atomics, so their sums are not bitwise reproducible."""
    return sum("unique_indices=true" not in line for line in re.findall(r"= \S+ scatter\(.*", hlo_text))


def _entry(hlo_text: str, module: str) -> str:
    entry = next((m.group(1) for line in hlo_text.splitlines()
                  if line.startswith("ENTRY") and (m := _COMPUTATION.match(line))), None)
    if entry is None:
        raise ValueError(f"no ENTRY computation in module {module!r}")
    return entry


def launched_ops(hlo_text: str) -> int:
    """Instructions of a compiled module's entry computation that launch work on the device
    (fusions, custom calls such as Pallas kernels, copies, loops): what one call costs in
    launches."""
    module, comps = parse_hlo(hlo_text)
    return sum(ins.opcode not in _FREE for ins in comps[_entry(hlo_text, module)].values())


def roofline(hlo_text: str, *, bf16_flops: float, f32_flops: float, bandwidth: float) -> Breakdown:
    """Modelled device ms per category of a compiled module: each top-level instruction
    (fusion, kernel, loop-body instruction times its trip count) takes max(matmul FLOPs /
    peak, bytes of operands and results / bandwidth), a sort once per pass (_sort_passes).
    A lower bound that assumes peak rates and no overlap between instructions; what it is
    for is comparing where the FLOPs and bytes of two variants of a step go, on a card one
    does not have."""
    module, comps = parse_hlo(hlo_text)
    cats = _categories(comps)
    entry = _entry(hlo_text, module)
    total = dict.fromkeys(CATEGORIES, 0.0)
    per_op: collections.Counter = collections.Counter()
    count = 0

    def visit(comp: str, times: float):
        nonlocal count
        instrs = comps[comp]
        for name, ins in instrs.items():
            if ins.opcode in _FREE:
                continue
            if ins.opcode == "while":
                trips = _TRIP_COUNT.search(ins.text)
                body = re.search(r"\bbody=%?([\w.\-]+)", ins.text).group(1)
                visit(body, times * (int(trips.group(1)) if trips else 1))
                continue
            if ins.opcode in ("call", "conditional", "async-start"):
                for c in ins.called:
                    visit(c, times)
                continue
            low, high = _dot_flops(instrs, ins) if ins.opcode == "dot" else (0.0, 0.0)
            for c in ins.called:
                sub = _matmul_flops(comps, c, {c})
                low, high = low + sub[0], high + sub[1]
            if ins.opcode == "custom-call":
                low += _attention_flops(ins)
            moved = _moved_bytes(comps, instrs, ins) * _sort_passes(comps, ins)
            ms = 1e3 * times * max(low / bf16_flops + high / f32_flops, moved / bandwidth)
            total[cats.get(name, "other")] += ms
            per_op[name, cats.get(name, "other")] += ms
            count += 1

    visit(entry, 1.0)
    busy = sum(total.values())
    return Breakdown(total, 1, "a roofline of the compiled HLO", count, 0.0, busy,
                     [(op, cat, ms) for (op, cat), ms in per_op.most_common(20)], modelled=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log_dir", help="the --profile directory (holds plugins/profile/ and *.hlo.txt)")
    parser.add_argument("--hlo", help="compiled HLO text; default: the one *.hlo.txt in log_dir")
    parser.add_argument("--steps", type=int, required=True, help="steps recorded in the trace")
    parser.add_argument("--top", type=int, default=10, help="also list this many of the largest HLO instructions")
    args = parser.parse_args(argv)
    hlo = pathlib.Path(args.hlo) if args.hlo else next(pathlib.Path(args.log_dir).glob("*.hlo.txt"))
    print(breakdown(find_trace(args.log_dir), hlo.read_text(), args.steps).markdown(top=args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
