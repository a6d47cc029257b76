"""`cip eval`, `cip lm-eval`, `cip perplexity`, `cip report`, `cip serve`, `cip judge`: what a trained model can do."""

from __future__ import annotations

import json
import pathlib
import time

from code_in_pretraining.cli.flags import Parser, UsageError, add_checkpoint, add_module_imports, import_modules


# -- cip eval --------------------------------------------------------------------------------------
def evaluate_parser() -> Parser:
    from code_in_pretraining.eval.benchmarks import SUITES  # a table: no JAX, no TensorFlow

    parser = Parser(prog="cip eval", description=(
        "Run the paper's benchmarks on a checkpoint and write one results JSON: multiple choice by "
        "log-likelihood, QA by greedy generation, HumanEval and MBPP by executing completions in the sandbox, "
        "each scored by its benchmark's metric, with the bits per byte of its gold continuation and bootstrap "
        "standard errors. Benchmarks whose data is missing are reported as not available, with the reason."))
    add_checkpoint(parser)
    parser.add_argument("--out", required=True, help="results JSON to write")
    parser.add_argument("--suite", choices=sorted(SUITES), default="paper", help="which benchmarks")
    parser.add_argument("--limit", type=int, default=None, help="examples per benchmark (default: all)")
    parser.add_argument("--source", choices=("offline", "tfds"), default="offline",
                        help="offline copies (`cip data fetch-evals`) or the TFDS builders")
    parser.add_argument("--samples", type=int, default=1, help="code samples per problem (1: greedy pass@1)")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass")
    parser.add_argument("--max-len", type=int, default=None, help="context length (default: the model's)")
    parser.add_argument("--workers", type=int, default=2, help="sandbox processes in parallel")
    parser.add_argument("--name", default=None, help="run name in reports (default: the checkpoint directory's name)")
    parser.add_argument("--clean-only", default=None, metavar="REPORT",
                        help="a decontamination report (`cip decontaminate`): score each benchmark on the examples "
                             "it did not find in the training data")
    add_module_imports(parser)
    return parser


def evaluate(argv: list[str]) -> int:
    args = evaluate_parser().parse_args(argv)
    import_modules(args)
    from code_in_pretraining.eval import contamination, suite
    from code_in_pretraining.eval.lm import LanguageModel

    report = contamination.read_report(args.clean_only) if args.clean_only else None
    t0 = time.perf_counter()
    lm = LanguageModel.from_checkpoint(args.checkpoint, batch_size=args.batch_size, max_len=args.max_len)
    results = suite.evaluate(lm, args.suite, source=args.source, limit=args.limit, samples=args.samples,
                             workers=args.workers, contamination_report=report)
    checkpoint = pathlib.Path(args.checkpoint).absolute()
    results.update(name=args.name or checkpoint.name, checkpoint=str(checkpoint), model_config=lm.cfg.to_dict(),
                   total_wall_s=round(time.perf_counter() - t0, 1))
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results["aggregates"], indent=2))
    print(f"wrote {out} ({results['total_wall_s']} s)")
    return 0


# -- cip lm-eval -----------------------------------------------------------------------------------
def lm_eval_parser() -> Parser:
    from code_in_pretraining.eval import lmeval_tasks  # file names only: no lm-eval, no JAX

    parser = Parser(prog="cip lm-eval", description=(
        "Run EleutherAI's lm-evaluation-harness (lm-eval) on a checkpoint with our JAX model (lm-eval's `cip` "
        "model) and print lm-eval's table. Tasks are lm-eval's own (their data comes from the Hugging Face hub) "
        "or the offline ones over `cip data fetch-evals`, with lm-eval's prompts: "
        f"{', '.join(lmeval_tasks.task_names())} (tag cip_offline: all of them). Needs the lmeval extra: "
        "pip install -e '.[lmeval]'.\n\n"
        "  cip lm-eval --checkpoint runs/x --tasks arc_easy_offline,hellaswag_offline --limit 200"))
    add_checkpoint(parser)
    parser.add_argument("--tasks", required=True, help="comma-separated lm-eval task, group or tag names")
    parser.add_argument("--num-fewshot", type=int, default=None, help="few-shot examples (default: each task's)")
    parser.add_argument("--limit", type=_limit, default=None,
                        help="documents per task, or a fraction of them below 1 (default: all)")
    parser.add_argument("--output-path", default=None, help="directory (or .json file) for lm-eval's results files")
    parser.add_argument("--log-samples", action="store_true", help="also write every request and response "
                                                                   "(with --output-path)")
    parser.add_argument("--include-path", action="append", default=[], metavar="DIR",
                        help="a directory of your own task YAMLs; repeatable")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    parser.add_argument("--max-length", type=int, default=None, help="context length (default: the model's)")
    return parser


def _limit(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and value >= 1 else value


def lm_eval(argv: list[str]) -> int:
    args = lm_eval_parser().parse_args(argv)
    if args.log_samples and not args.output_path:
        raise UsageError("--log-samples writes files: give --output-path too")
    try:
        from code_in_pretraining.eval import lmeval
    except ModuleNotFoundError as e:
        raise UsageError(str(e)) from None

    tasks = [t for t in args.tasks.split(",") if t]
    results = lmeval.evaluate(args.checkpoint, tasks, num_fewshot=args.num_fewshot, limit=args.limit,
                              output_path=args.output_path, include_paths=tuple(args.include_path),
                              log_samples=args.log_samples,
                              model_args={k: v for k, v in (("batch_size", args.batch_size),
                                                            ("max_length", args.max_length)) if v is not None})
    print(lmeval.table(results))
    if args.output_path:
        print(f"wrote lm-eval's results under {args.output_path}")
    return 0


# -- cip perplexity --------------------------------------------------------------------------------
def perplexity_parser() -> Parser:
    parser = Parser(prog="cip perplexity", description="Held-out perplexity per source of a checkpoint: every "
                                                       "validation document of each task read once, packed.")
    add_checkpoint(parser)
    parser.add_argument("--tasks", default="text,code", help="comma-separated tasks whose validation split is read")
    parser.add_argument("--seq-len", type=int, default=256, help="packed sequence length")
    parser.add_argument("--batch", type=int, default=8, help="sequences per forward pass")
    parser.add_argument("--max-tokens", type=int, default=None, help="tokens per task (default: all)")
    add_module_imports(parser)
    return parser


def perplexity(argv: list[str]) -> int:
    args = perplexity_parser().parse_args(argv)
    import_modules(args)
    from flax import nnx

    from code_in_pretraining.eval import perplexity as ppl
    from code_in_pretraining.model.restore import restore_model

    _, model = restore_model(args.checkpoint)
    graphdef, state = nnx.split(model)
    result = ppl.evaluate(graphdef, nnx.to_pure_dict(state), args.tasks.split(","), seq_len=args.seq_len,
                          batch=args.batch, max_tokens=args.max_tokens, progress=True)
    print(json.dumps(result, indent=2))
    return 0


# -- cip report ------------------------------------------------------------------------------------
def report_parser() -> Parser:
    parser = Parser(prog="cip report", description=(
        "Results JSONs from `cip eval` -> the paper's headline table (Reason / Know / Code, NL and total "
        "averages, their bits per byte, each ± standard error; gains against a baseline run with 95% intervals), "
        "per-task scores, CSV and plots. Given one experiment directory (`cip experiment`), its report: one row "
        "per variant and phase, gains against text-only, tasks, perplexities, the data's provenance, the "
        "paper's figures and findings beside them, written to DIR/report."))
    parser.add_argument("results", nargs="+", help="results JSON files, or one experiment directory")
    parser.add_argument("--baseline", default=None, help="run name to compute relative gains against (results files)")
    parser.add_argument("--out", default=None, help="directory for report.md, report.csv and the plots "
                                                    "(default: an experiment's DIR/report; results files: none)")
    return parser


def report(argv: list[str]) -> int:
    args = report_parser().parse_args(argv)
    from code_in_pretraining.eval.report import write_report

    md, written = write_report(args.results, args.out, baseline=args.baseline)
    print(md)
    if written:
        print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


# -- cip serve -------------------------------------------------------------------------------------
def serve_parser() -> Parser:
    parser = Parser(prog="cip serve", description="Serve a checkpoint behind OpenAI-compatible /v1/completions and "
                                                  "/v1/chat/completions endpoints (for `cip judge` and other "
                                                  "harnesses).")
    add_checkpoint(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free port)")
    parser.add_argument("--tokenizer", default=None,
                        help="SentencePiece model path, or 'bytes' (UTF-8 bytes) (default: the project vocabulary)")
    parser.add_argument("--batch-size", type=int, default=1, help="requests decoded together")
    parser.add_argument("--name", default="cip", help="model name in responses")
    return parser


def serve(argv: list[str]) -> int:
    args = serve_parser().parse_args(argv)
    from code_in_pretraining.eval import tokenizer as tok
    from code_in_pretraining.eval.lm import LanguageModel
    from code_in_pretraining.eval.serve import make_server

    lm = LanguageModel.from_checkpoint(args.checkpoint, tok.from_name(args.tokenizer), batch_size=args.batch_size)
    server = make_server(lm, args.host, args.port, args.name)
    print(f"serving {args.checkpoint} on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# -- cip judge -------------------------------------------------------------------------------------
def judge_parser() -> Parser:
    parser = Parser(prog="cip judge", description="Pairwise LLM-as-a-judge: two models answer the same prompts, "
                                                  "a judge model picks the better answer in both orders; prints "
                                                  "wins, ties and losses counted apart and the win rate with its "
                                                  "standard error over prompts.")
    parser.add_argument("--prompts", required=True, help="prompts file (JSON Lines) or URL (Dolly-200 English in "
                                                         "the paper)")
    parser.add_argument("--a-base-url", required=True, help="model A's OpenAI-compatible base URL (e.g. cip serve)")
    parser.add_argument("--b-base-url", required=True, help="model B's OpenAI-compatible base URL")
    parser.add_argument("--a-name", default="A", help="model A's name in the result")
    parser.add_argument("--b-name", default="B", help="model B's name in the result")
    parser.add_argument("--judge-base-url", default=None, help="the judge's base URL (default: $CIP_JUDGE_BASE_URL)")
    parser.add_argument("--judge-model", default=None, help="the judge's model name (default: $CIP_JUDGE_MODEL)")
    parser.add_argument("--limit", type=int, default=None, help="first N prompts only (default: all)")
    parser.add_argument("--max-tokens", type=int, default=256, help="tokens per answer")
    parser.add_argument("--out", default=None, help="JSON file for the result and every judgement (default: none)")
    return parser


def judge(argv: list[str]) -> int:
    args = judge_parser().parse_args(argv)
    from code_in_pretraining.eval.judge import OpenAIClient, generate_answers, judge_pairs, load_prompts, win_rate

    prompts = load_prompts(args.prompts, args.limit)
    a = generate_answers(OpenAIClient(args.a_base_url), prompts, max_tokens=args.max_tokens)
    b = generate_answers(OpenAIClient(args.b_base_url), prompts, max_tokens=args.max_tokens)
    judge_client = OpenAIClient.from_env(base_url=args.judge_base_url, model=args.judge_model)
    records = judge_pairs(prompts, a, b, judge_client)
    result = {"a": args.a_name, "b": args.b_name, **win_rate(records)}
    print(json.dumps(result, indent=2))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps({**result, "records": records}, indent=2))
    return 0
