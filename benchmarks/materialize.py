"""Materialisation throughput: every paper source task on the embedded default, through `cip materialize`'s pipeline.

    python benchmarks/materialize.py [--split train] [--out DIR] [-- BEAM_ARGS...]

Writes each task into a fresh directory with the Beam pipeline (DirectRunner unless
BEAM_ARGS say otherwise) and prints documents, tokens, seconds and tokens/s per
task, as a Markdown table and as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import tasks  # noqa: F401  (the SeqIO registrations)
from code_in_pretraining.data import beam_materialize, vocabulary

TASKS = ("slimpajama", "stack_code", "markup", "code_adjacent", "cooldown_text", "cooldown_math",
         "cooldown_instruct")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="train")
    parser.add_argument("--out", default=None, help="output directory (default: a fresh temporary one)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    args, beam_args = parser.parse_known_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="cip-materialize-")
    vocab = str(vocabulary.default_vocab_path()).removesuffix(".model")
    rows = []
    for task in args.tasks.split(","):
        t0 = time.perf_counter()
        stats = beam_materialize.run([task], args.split, out, vocab_model=vocab,
                                     pipeline_args=["--runner=DirectRunner", *beam_args],
                                     module_imports=("tasks",))[task]
        seconds = time.perf_counter() - t0
        rows.append({"task": task, "documents": stats["documents"], "tokens": stats["tokens"],
                     "seconds": round(seconds, 1), "tokens_per_s": round(stats["tokens"] / seconds),
                     "dropped": stats["dropped"], "malformed": stats["malformed"]})
    total_tokens = sum(r["tokens"] for r in rows)
    total_s = sum(r["seconds"] for r in rows)
    print(f"vocabulary {vocabulary.default_vocab_path().name}, split {args.split}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, beam args {beam_args or 'none'}\n")
    print("| task | documents | tokens | seconds | tokens/s | dropped |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        dropped = ", ".join(f"{k} {v}" for k, v in r["dropped"].items()) or "-"
        print(f"| {r['task']} | {r['documents']:,} | {r['tokens']:,} | {r['seconds']} | {r['tokens_per_s']:,} | "
              f"{dropped} |")
    print(f"| all | {sum(r['documents'] for r in rows):,} | {total_tokens:,} | {total_s:.1f} | "
          f"{total_tokens / total_s:,.0f} | |")
    print(json.dumps({"rows": rows, "output": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
