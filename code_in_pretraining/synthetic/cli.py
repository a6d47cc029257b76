"""`cip synth`: write N verified synthetic Python problems as JSON Lines, with statistics.

  cip synth --n 10000 --seed 0 --out synthetic_code.jsonl.gz [--workers 2] [--families strings dp ...]

Writes FILE (one record per line: prompt, solution, tests, family, verification,
text, ...; `.gz` for gzip) and FILE.stats.json, and prints the statistics per
family. The same seed and N give a byte-identical FILE whatever --workers is.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import pathlib
import sys
import time

from code_in_pretraining.synthetic import families as families_lib
from code_in_pretraining.synthetic import generate, tokens, verify


def write_jsonl(records: list[dict], path: pathlib.Path) -> None:
    """Atomic write; gzip with a fixed header (no name, mtime 0) so that bytes depend on content only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    with open(tmp, "wb") as f:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(data)
        else:
            f.write(data)
    os.replace(tmp, path)


def stats_path(out: pathlib.Path) -> pathlib.Path:
    return out.with_name(out.name + ".stats.json") if out.suffix != ".jsonl" else out.with_suffix(".stats.json")


def print_table(stats: dict, tokenizer: str) -> None:
    reasons = sorted({r for s in stats.values() for r in s["rejected"]})
    header = ["family", "generated", "kept", *reasons, "accept", "tokens"]
    rows = []
    for fam, s in stats.items():
        acc = f"{s['acceptance']:.1%}" if s["acceptance"] is not None else "-"
        rows.append([fam, s["generated"], s["kept"], *[s["rejected"].get(r, 0) for r in reasons], acc, s["tokens"]])
    try:
        from rich.console import Console
        from rich.table import Table
        table = Table(title=f"synthetic problems (tokens: {tokenizer})")
        for h in header:
            table.add_column(h, justify="left" if h == "family" else "right")
        for row in rows:
            table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
        Console().print(table)
    except ImportError:
        print(f"tokens: {tokenizer}")
        for row in [header, *rows]:
            print("  ".join(f"{v!s:>10}" for v in row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cip synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="number of problems to keep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output .jsonl or .jsonl.gz")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="sandbox processes at a time")
    parser.add_argument("--families", nargs="+", choices=sorted(families_lib.FAMILIES), default=None)
    parser.add_argument("--min-kill", type=float, default=verify.Config.min_kill,
                        help="share of viable mutants the tests must kill")
    parser.add_argument("--max-mutants", type=int, default=verify.Config.max_mutants)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error("--n must be positive")
    out = pathlib.Path(args.out)
    config = verify.Config(min_kill=args.min_kill, max_mutants=args.max_mutants)

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=args.n, unit="problem", desc="verified", file=sys.stderr)

    def progress(kept: int, candidates: int) -> None:
        if bar is not None:
            bar.update(kept - bar.n)
            bar.set_postfix(candidates=candidates)

    t0 = time.perf_counter()
    records, outcomes = generate.generate(args.n, args.seed, workers=args.workers, families=args.families,
                                          config=config, on_progress=progress)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    write_jsonl(records, out)
    count, tokenizer = tokens.counter()
    stats = generate.family_stats(outcomes, records, count)
    summary = {"n": args.n, "seed": args.seed, "kept": len(records), "candidates": len(outcomes),
               "workers": args.workers, "wall_s": round(wall, 1),
               "problems_per_s": round(len(records) / wall, 2) if wall > 0 else None,
               "tokenizer": tokenizer, "config": dataclasses.asdict(config),
               "families": stats}
    stats_path(out).write_text(json.dumps(summary, indent=2) + "\n")
    print_table(stats, tokenizer)
    print(f"{len(records)} problems from {len(outcomes)} candidates in {wall:.1f}s "
          f"({summary['problems_per_s']}/s, {args.workers} workers) -> {out}, {stats_path(out)}")
    if len(records) < args.n:
        print(f"cip synth: only {len(records)} of {args.n} problems could be made", file=sys.stderr)
        return 1
    return 0
