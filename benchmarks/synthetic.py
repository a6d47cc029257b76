"""Synthetic-code benchmark: verified problems per second, acceptance per family, and Beam against in-process.

Generates N problems (balanced over the families) with `workers` sandbox workers
and reports problems/s, candidates/s, and per family the candidates drawn, kept,
rejected by reason and two acceptance rates: kept / generated (duplicates included)
and kept / verified (what reached the sandbox). With --beam-n M it then makes M
problems twice, in process and through the Beam pipeline (DirectRunner, `workers`
pipeline workers, one sandbox worker each, a fresh work directory; Beam imported
before the clock), checks that both made the same problems and reports both rates. The machine's load average is
recorded too: the sandbox is CPU-bound, so a shared machine slows it.

  python benchmarks/synthetic.py --n 220 --workers 2 [--beam-n 1100] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from code_in_pretraining.eval import sandbox  # noqa: E402
from code_in_pretraining.synthetic import beam_synth, generate, output  # noqa: E402


def _timed(fn):
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0, [round(load, 1), round(os.getloadavg()[0], 1)]


def throughput(n: int, seed: int, workers: int) -> dict:
    (records, outcomes), wall, load = _timed(lambda: generate.generate(n, seed, workers=workers))
    stats = output.family_stats(outcomes, records, lambda text: 0)
    verified = sum(o.reason != "duplicate" for o in outcomes)
    checked = {f: s["generated"] - s["rejected"].get("duplicate", 0) for f, s in stats.items()}
    return {
        "n": len(records), "seed": seed, "workers": workers, "cpus": os.cpu_count(), "wall_s": round(wall, 1),
        "problems_per_s": round(len(records) / wall, 2), "candidates_verified_per_s": round(verified / wall, 2),
        "load_average": load,
        "families": {f: {"generated": s["generated"], "verified": checked[f], "kept": s["kept"],
                         "rejected": s["rejected"], "acceptance": s["acceptance"],
                         "acceptance_verified": round(s["kept"] / max(1, checked[f]), 3)}
                     for f, s in stats.items()},
    }


def beam_against_in_process(n: int, seed: int, workers: int, mode: str, sandbox_workers: int) -> dict:
    import apache_beam  # noqa: F401  (imported before the clock, as the in-process generator's modules are)

    (ours, _), wall_in, load_in = _timed(lambda: generate.generate(n, seed, workers=workers))
    pipeline = ["--runner=DirectRunner", f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"]
    with tempfile.TemporaryDirectory() as tmp:
        (beams, _), wall_beam, load_beam = _timed(
            lambda: beam_synth.generate(n, seed, pathlib.Path(tmp), pipeline_args=pipeline,
                                        sandbox_workers=sandbox_workers))
    return {"n": n, "seed": seed, "workers": workers, "pipeline": pipeline, "sandbox_workers": sandbox_workers,
            "identical": json.dumps(ours) == json.dumps(beams),
            "in_process": {"wall_s": round(wall_in, 1), "problems_per_s": round(n / wall_in, 2),
                           "load_average": load_in},
            "beam": {"wall_s": round(wall_beam, 1), "problems_per_s": round(n / wall_beam, 2),
                     "load_average": load_beam},
            "beam_over_in_process": round(wall_beam / wall_in, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=220)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--beam-n", type=int, default=0, help="also compare Beam with in-process on this many")
    parser.add_argument("--beam-mode", default="multi_threading", help="the DirectRunner's running mode")
    parser.add_argument("--beam-sandbox-workers", type=int, default=1, help="sandbox workers of each pipeline worker")
    parser.add_argument("--out")
    args = parser.parse_args()
    plan = sandbox.describe()  # probe once, outside the timing
    result = {"sandbox": plan, "throughput": throughput(args.n, args.seed, args.workers)}
    t = result["throughput"]
    print(f"sandbox plan: {plan}")
    print(f"{t['n']} verified problems in {t['wall_s']}s with {args.workers} workers: "
          f"{t['problems_per_s']} problems/s, {t['candidates_verified_per_s']} candidates verified/s "
          f"(load average {t['load_average'][0]} -> {t['load_average'][1]} on {os.cpu_count()} CPUs)")
    print("| family | generated | verified | kept | kept/generated | kept/verified | rejected |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for f, s in t["families"].items():
        rejected = ", ".join(f"{k} {v}" for k, v in s["rejected"].items()) or "—"
        print(f"| {f} | {s['generated']} | {s['verified']} | {s['kept']} | {s['acceptance']:.1%} | "
              f"{s['acceptance_verified']:.1%} | {rejected} |")
    if args.beam_n:
        b = result["beam"] = beam_against_in_process(args.beam_n, args.seed, args.workers, args.beam_mode,
                                                     args.beam_sandbox_workers)
        print(f"\n{args.beam_n} problems, seed {args.seed}, {args.workers} workers, same problems: {b['identical']}")
        print("| generator | wall s | problems/s | load average |")
        print("|---|---:|---:|---|")
        for name, key in (("in process (generate.generate)", "in_process"),
                          (f"Beam, DirectRunner {args.beam_mode}, {args.beam_sandbox_workers} sandbox worker(s) "
                           "each", "beam")):
            r = b[key]
            print(f"| {name} | {r['wall_s']} | {r['problems_per_s']} | {r['load_average'][0]} -> "
                  f"{r['load_average'][1]} |")
        print(f"Beam / in-process wall time: {b['beam_over_in_process']:.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if not args.beam_n or result["beam"]["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
