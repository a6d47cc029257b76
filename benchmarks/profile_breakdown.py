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

    python benchmarks/profile_breakdown.py DIR --steps 3   # re-read a saved profile
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
                                         [c for c in called if c])
    return module, comps


def instruction_categories(hlo_text: str) -> tuple[str, dict[str, str]]:
    """(module name, {instruction name: category}) for every instruction of the module."""
    module, comps = parse_hlo(hlo_text)
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
    return module, cats


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
