"""`cip experiment`, `cip demo`: grids of recipes trained, evaluated and reported."""

from __future__ import annotations

import pathlib
import time

from code_in_pretraining.cli.data import install_debian_packages
from code_in_pretraining.cli.flags import (
    Parser,
    UsageError,
    add_distributed,
    add_module_imports,
    import_modules,
    init_distributed,
)


# -- cip experiment --------------------------------------------------------------------------------
def experiment_parser() -> Parser:
    from code_in_pretraining.experiments.grids import GRIDS, SCALES  # tables: no JAX, no TensorFlow

    parser = Parser(prog="cip experiment", description=(
        "Train every variant of a grid of recipes at a scale, evaluate each after each of its phases, and "
        "write the report (DIR/report). Re-running resumes: finished results are kept, a stopped run "
        "continues from its last checkpoint, and variants that share leading phases fork instead of "
        "training them again.\n\n"
        "  cip experiment --grid paper --scale toy --workdir runs/experiment"))
    parser.add_argument("--grid", default="paper", choices=sorted(GRIDS), help="which recipes")
    parser.add_argument("--scale", default="toy", choices=sorted(SCALES),
                        help="model, runtime, batch and budgets (toy: this machine; 470m, 2p8b: the paper's)")
    parser.add_argument("--workdir", required=True, help="experiment directory (re-running resumes it)")
    parser.add_argument("--variants", default=None, help="comma-separated recipes instead of the grid's")
    parser.add_argument("--gin-bindings", action="append", default=[], metavar="BINDING",
                        help="an extra gin binding for every run; repeatable")
    parser.add_argument("--limit", type=int, default=-1, help="examples per benchmark (-1: the scale's; 0: all)")
    parser.add_argument("--no-eval", action="store_true",
                        help="skip the benchmarks and the report (with --judge-url the judge still runs)")
    parser.add_argument("--dry-run", action="store_true", help="print each variant's plan and `cip train` command")
    parser.add_argument("--judge-url", default=None, metavar="URL", help=(
        "the judge's OpenAI-compatible base URL (…/v1; `cip serve`, or a hosted model with $CIP_JUDGE_API_KEY or "
        "$OPENAI_API_KEY): each variant's win-rate against text-only at the same stage and each cooldown's "
        "against none, every prompt judged in both orders, into DIR/win_rates.json and the report"))
    parser.add_argument("--judge-model", default=None, metavar="NAME", help="the judge's model name (with --judge-url)")
    parser.add_argument("--judge-prompts", default=None, metavar="FILE", help=(
        "a copy of databricks-dolly-15k.jsonl: 200 records drawn with random.Random(0), as the paper's Dolly-200 "
        "(default: the project's own 20 instructions, not Dolly)"))
    parser.add_argument("--judge-max-tokens", type=int, default=256, metavar="N",
                        help="tokens per answer of a judged model")
    add_module_imports(parser)
    add_distributed(parser)
    return parser


def experiment(argv: list[str]) -> int:
    args = experiment_parser().parse_args(argv)
    import_modules(args)
    from code_in_pretraining.experiments import runner
    from code_in_pretraining.experiments.grids import get_scale
    from code_in_pretraining.parallel import distributed

    variants = args.variants.split(",") if args.variants else None
    if bool(args.judge_url) != bool(args.judge_model) or (args.judge_prompts and not args.judge_url):
        raise UsageError("--judge-url and --judge-model go together (--judge-prompts with them)")
    init_distributed(args)
    if args.dry_run:
        return _dry_run(args.grid, args.scale, args.workdir, variants, args.gin_bindings)
    if args.judge_url:
        from code_in_pretraining.experiments import win_rates

        win_rates.prompt_setup(args.judge_prompts, args.judge_max_tokens)  # a bad prompts file fails before training
    if get_scale(args.scale).default_data and distributed.is_chief():
        install_debian_packages()
    runner.run(args.grid, args.scale, args.workdir, variants=variants, bindings=args.gin_bindings, limit=args.limit,
               evaluate=not args.no_eval)
    if args.judge_url and distributed.is_chief():
        from code_in_pretraining.eval.judge import OpenAIClient

        trained = runner.trained_before(pathlib.Path(args.workdir), get_scale(args.scale), args.gin_bindings, set())
        win_rates.run(args.workdir, trained, get_scale(args.scale),
                      OpenAIClient.from_env(base_url=args.judge_url, model=args.judge_model),
                      prompts_file=args.judge_prompts, max_tokens=args.judge_max_tokens)
    if not args.no_eval and distributed.is_chief():
        from code_in_pretraining.eval.report import write_report

        md, written = write_report([args.workdir])
        print(md)
        print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _dry_run(grid: str, scale_name: str, workdir: str, variants: list[str] | None, bindings: list[str]) -> int:
    from code_in_pretraining.experiments import runner
    from code_in_pretraining.experiments.grids import get_grid, get_scale

    from code_in_pretraining.experiments import pod

    scale, root, planned = get_scale(scale_name), pathlib.Path(workdir), []
    on_pod = not scale.default_data  # the paper's scales: a TPU slice, the user's data
    if on_pod:
        print("# Every VM of the slice runs the same commands; environment: "
              + "; ".join(f"{k}: {why}" for k, why in pod.ENV.items()))
    for name in variants or get_grid(grid):
        v = runner.plan_variant(name, scale, bindings)
        print(f"{name}: {v.plan.total_steps:,} steps, {v.plan.total_steps * v.plan.tokens_per_step:,} tokens: "
              + ", ".join(f"{ph.name} ({ph.mixture}, {ph.schedule}) {n:,}"
                          for ph, n in zip(v.plan.phases, v.plan.steps)))
        for other, shared in runner.shares(v, planned)[:1]:
            step = other.plan.ends[shared - 1]
            print(f"  shares {[ph.name for ph in v.plan.phases[:shared]]} with {other.name}: the experiment copies "
                  f"{root / other.name / 'train' / 'checkpoints' / str(step)} into "
                  f"{root / name / 'train' / 'checkpoints'} and `cip train` continues from step {step}")
        flags = " ".join([*(f"--gin-file={f}" for f in v.gin_files), *(f"--gin-bindings='{b}'" for b in v.bindings)])
        planned.append(v)
        train_dir = root / name / "train"
        if not on_pod:
            print(f"  cip train {flags} --workdir={train_dir}")
            continue
        phases = [(ph.name, end) for ph, end in zip(v.plan.phases, v.plan.ends)]
        for line in pod.vm_commands(flags, train_dir, phases, root / name / "results"):
            print(f"  {line}")
    warning = pod.shared_storage_warning(workdir) if on_pod else None
    if warning:
        print(warning)
    return 0


# -- cip demo --------------------------------------------------------------------------------------
def demo_parser() -> Parser:
    parser = Parser(prog="cip demo", description=(
        "Does code in the mixture change what a model learns? Builds the embedded default corpus and its "
        "vocabulary, trains one tiny model on text only and one on 50/50 text+code (same steps, same tokens), "
        "and prints each model's held-out perplexity on text and on code. A few minutes on a CPU."))
    parser.add_argument("--workdir", default="runs/demo", help="directory of both runs and results.json")
    parser.add_argument("--gin-bindings", action="append", default=[], metavar="BINDING",
                        help="an extra gin binding for both runs, e.g. 'TrainConfig.steps = 20'; repeatable")
    parser.add_argument("--eval-tokens", type=int, default=65536, help="held-out tokens per source")
    add_module_imports(parser)
    return parser


def demo(argv: list[str]) -> int:
    args = demo_parser().parse_args(argv)
    import_modules(args)
    from code_in_pretraining.experiments import demo as demo_lib

    t0 = time.perf_counter()
    install_debian_packages()
    results = demo_lib.run(args.workdir, args.gin_bindings, args.eval_tokens)
    print("\nHeld-out perplexity (lower is better), same vocabulary, same training tokens:\n")
    print(demo_lib.format_table(results))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; results in {pathlib.Path(args.workdir) / 'results.json'}")
    return 0
