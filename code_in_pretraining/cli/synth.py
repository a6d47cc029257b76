"""`cip synth`: N verified synthetic Python problems as JSON Lines, with statistics per family."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
import time

from code_in_pretraining.cli.flags import Parser, UsageError


def synth_parser() -> Parser:
    from code_in_pretraining.synthetic import families, verify  # pure Python: no JAX, no TensorFlow

    parser = Parser(prog="cip synth", description=(
        "Write N verified synthetic Python problems (prompt, solution, tests, family, verification, text) as "
        "JSON Lines, and FILE.stats.json beside it; print the statistics per family. The same seed and N give "
        "a byte-identical FILE whatever --workers is.\n\n"
        "  cip synth --n 10000 --seed 0 --out synthetic_code.jsonl.gz --workers 2"))
    parser.add_argument("--n", type=int, required=True, help="number of problems to keep")
    parser.add_argument("--seed", type=int, default=0, help="seed of every family's stream of candidates")
    parser.add_argument("--out", required=True, help="output .jsonl or .jsonl.gz")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="sandbox processes at a time")
    parser.add_argument("--families", nargs="+", choices=sorted(families.FAMILIES), default=None, metavar="FAMILY",
                        help=f"families to draw from (default: all of {', '.join(sorted(families.FAMILIES))})")
    parser.add_argument("--min-kill", type=float, default=verify.Config.min_kill,
                        help="share of viable mutants the tests must kill")
    parser.add_argument("--max-mutants", type=int, default=verify.Config.max_mutants, help="mutants run per problem")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def synth(argv: list[str]) -> int:
    args = synth_parser().parse_args(argv)
    if args.n <= 0:
        raise UsageError("--n must be positive")
    from code_in_pretraining.synthetic import generate, tokens, verify

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
    generate.write_jsonl(records, out)
    count, tokenizer = tokens.counter()
    stats = generate.family_stats(outcomes, records, count)
    summary = {"n": args.n, "seed": args.seed, "kept": len(records), "candidates": len(outcomes),
               "workers": args.workers, "wall_s": round(wall, 1),
               "problems_per_s": round(len(records) / wall, 2) if wall > 0 else None,
               "tokenizer": tokenizer, "config": dataclasses.asdict(config), "families": stats}
    stats_file = generate.stats_path(out)
    stats_file.write_text(json.dumps(summary, indent=2) + "\n")
    print_table(stats, tokenizer)
    print(f"{len(records)} problems from {len(outcomes)} candidates in {wall:.1f}s "
          f"({summary['problems_per_s']}/s, {args.workers} workers) -> {out}, {stats_file}")
    if len(records) < args.n:
        print(f"cip synth: only {len(records)} of {args.n} problems could be made", file=sys.stderr)
        return 1
    return 0


def print_table(stats: dict, tokenizer: str) -> None:
    from rich.console import Console
    from rich.table import Table

    reasons = sorted({r for s in stats.values() for r in s["rejected"]})
    table = Table(title=f"synthetic problems (tokens: {tokenizer})")
    for h in ["family", "generated", "kept", *reasons, "accept", "tokens"]:
        table.add_column(h, justify="left" if h == "family" else "right")
    for fam, s in stats.items():
        acc = f"{s['acceptance']:.1%}" if s["acceptance"] is not None else "-"
        row = [fam, s["generated"], s["kept"], *[s["rejected"].get(r, 0) for r in reasons], acc, s["tokens"]]
        table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
    Console().print(table)
