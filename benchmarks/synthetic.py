"""Synthetic-code benchmark: verified problems per second, and acceptance per family.

Generates N problems (balanced over the families) with `workers` sandbox
processes at a time and reports problems/s, candidates/s, and per family the
candidates drawn, kept, rejected by reason and two acceptance rates: kept /
generated (duplicates included) and kept / verified (what reached the sandbox).
The machine's load average is recorded too: the sandbox is CPU-bound, so a
shared machine slows it.

  python benchmarks/synthetic.py --n 220 --workers 2 [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from code_in_pretraining.eval import sandbox  # noqa: E402
from code_in_pretraining.synthetic import generate, output  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=220)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    sandbox.isolation()  # probe once, outside the timing
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    records, outcomes = generate.generate(args.n, args.seed, workers=args.workers)
    wall = time.perf_counter() - t0
    stats = output.family_stats(outcomes, records, lambda text: 0)
    verified = sum(o.reason != "duplicate" for o in outcomes)
    result = {
        "n": len(records), "workers": args.workers, "cpus": os.cpu_count(), "wall_s": round(wall, 1),
        "problems_per_s": round(len(records) / wall, 2), "candidates_verified_per_s": round(verified / wall, 2),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "sandbox": sandbox.describe(),
        "families": {f: {"generated": s["generated"], "verified": s["generated"] - s["rejected"].get("duplicate", 0),
                         "kept": s["kept"], "rejected": s["rejected"], "acceptance": s["acceptance"],
                         "acceptance_verified": round(s["kept"] / max(1, s["generated"] - s["rejected"].get("duplicate", 0)), 3)}
                     for f, s in stats.items()},
    }
    print(f"{result['n']} verified problems in {wall:.1f}s with {args.workers} workers: "
          f"{result['problems_per_s']} problems/s, {result['candidates_verified_per_s']} candidates verified/s "
          f"(load average {result['load_average'][0]} -> {result['load_average'][1]} on {os.cpu_count()} CPUs)")
    print(f"{'family':<11} {'generated':>9} {'verified':>8} {'kept':>5} {'kept/gen':>8} {'kept/ver':>8}  rejected")
    for f, s in result["families"].items():
        print(f"{f:<11} {s['generated']:>9} {s['verified']:>8} {s['kept']:>5} {s['acceptance']:>8.1%} "
              f"{s['acceptance_verified']:>8.1%}  {s['rejected']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
