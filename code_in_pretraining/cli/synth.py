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
        "JSON Lines, and their statistics beside them; print the statistics per family. The same seed and N give "
        "byte-identical problems whatever --workers is, in this process or as a Beam pipeline.\n\n"
        "  cip synth --n 10000 --seed 0 --out synthetic_code.jsonl.gz --workers 2\n\n"
        "With --beam, an Apache Beam pipeline (DirectRunner here, DataflowRunner at scale, as cip materialize) "
        "writes DIR/synthetic_code-KKKKK-of-NNNNN.jsonl.gz shards; its work files under DIR/work make a rerun "
        "resume where an interrupted one stopped. Flags this command does not know are Beam pipeline options:"
        "\n\n  cip synth --beam --n 10000 --seed 0 --out DIR --workers 2"))
    parser.add_argument("--n", type=int, required=True, help="number of problems to keep")
    parser.add_argument("--seed", type=int, default=0, help="seed of every family's stream of candidates")
    parser.add_argument("--out", required=True, help="output .jsonl or .jsonl.gz; with --beam, a directory")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="sandbox workers; with --beam and the DirectRunner, pipeline workers")
    parser.add_argument("--families", nargs="+", choices=sorted(families.FAMILIES), default=None, metavar="FAMILY",
                        help=f"families to draw from (default: all of {', '.join(sorted(families.FAMILIES))})")
    parser.add_argument("--min-kill", type=float, default=verify.Config.min_kill,
                        help="share of viable mutants the tests must kill")
    parser.add_argument("--max-mutants", type=int, default=verify.Config.max_mutants, help="mutants run per problem")
    parser.add_argument("--beam", action="store_true", help="run as an Apache Beam pipeline (see above)")
    parser.add_argument("--runner", default="DirectRunner", help="with --beam: the Beam runner")
    parser.add_argument("--sandbox-workers", type=int, default=1,
                        help="with --beam: sandbox workers of each pipeline worker")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _pipeline_args(args, beam_args: list[str]) -> list[str]:
    """The runner, then the DirectRunner's workers as --workers says (unless given), then the rest."""
    out = [f"--runner={args.runner}"]
    if args.runner == "DirectRunner":
        given = {a.split("=", 1)[0].lstrip("-").replace("-", "_") for a in beam_args}
        if "direct_num_workers" not in given:
            out.append(f"--direct_num_workers={args.workers}")
        if "direct_running_mode" not in given:
            out.append("--direct_running_mode=multi_threading")  # the sandbox's own processes do the work
    return out + beam_args


def synth(argv: list[str]) -> int:
    args, beam_args = synth_parser().parse_known_args(argv)
    if beam_args and not args.beam:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (pipeline options go with --beam)")
    if args.n <= 0:
        raise UsageError("--n must be positive")
    if args.workers <= 0 or args.sandbox_workers <= 0:
        raise UsageError("--workers and --sandbox-workers must be positive")
    from code_in_pretraining.synthetic import beam_synth, generate, output, tokens, verify

    out = pathlib.Path(args.out)
    if args.beam and out.suffix in (".jsonl", ".gz"):
        raise UsageError(f"--out {out}: with --beam, a directory for the shards")
    config = verify.Config(min_kill=args.min_kill, max_mutants=args.max_mutants)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.n, unit="problem", desc="verified", file=sys.stderr)

    def progress(kept: int, candidates: int) -> None:
        if bar is not None:
            bar.update(kept - bar.n)
            bar.set_postfix(candidates=candidates)

    def chunks(verified: int) -> None:  # within a round of the pipeline
        if bar is not None:
            bar.set_postfix(chunks_verified=verified)

    t0 = time.perf_counter()
    if args.beam:
        pipeline = _pipeline_args(args, beam_args)
        records, outcomes = beam_synth.generate(args.n, args.seed, out, families=args.families, config=config,
                                                sandbox_workers=args.sandbox_workers, pipeline_args=pipeline,
                                                on_progress=progress, on_chunks=chunks)
    else:
        records, outcomes = generate.generate(args.n, args.seed, workers=args.workers, families=args.families,
                                              config=config, on_progress=progress)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if args.beam:
        written = beam_synth.write_shards(records, out)
        stats_file = out / "synthetic_code.stats.json"
    else:
        output.write_jsonl(records, out)
        written, stats_file = [out], output.stats_path(out)
    count, tokenizer = tokens.counter()
    stats = output.family_stats(outcomes, records, count)
    summary = {"n": args.n, "seed": args.seed, "kept": len(records), "candidates": len(outcomes),
               "workers": args.workers, "wall_s": round(wall, 1),
               "problems_per_s": round(len(records) / wall, 2) if wall > 0 else None,
               "tokenizer": tokenizer, "config": dataclasses.asdict(config), "families": stats}
    if args.beam:
        summary.update(pipeline=pipeline, sandbox_workers=args.sandbox_workers)
    stats_file.write_text(json.dumps(summary, indent=2) + "\n")
    print_table(stats, tokenizer)
    where = written[0] if len(written) == 1 else f"{len(written)} shards in {out}"
    print(f"{len(records)} problems from {len(outcomes)} candidates in {wall:.1f}s "
          f"({summary['problems_per_s']}/s, {args.workers} workers) -> {where}, {stats_file}")
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
