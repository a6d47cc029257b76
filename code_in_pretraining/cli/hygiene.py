"""`cip dedup`, `cip decontaminate`: near-duplicate removal and evaluation overlap of the training data."""

from __future__ import annotations

import json
import sys
import time

from code_in_pretraining.cli.data import failed_shards_exit
from code_in_pretraining.cli.flags import (
    Parser,
    UsageError,
    add_module_imports,
    import_modules,
)

DATAFLOW = ("      --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\\n"
            "      --extra_package dist/code_in_pretraining-0.1.0.tar.gz")


def _add_tasks(parser: Parser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--mixture", help="every task of a registered mixture")
    which.add_argument("--task", action="append", help="a task (repeatable)")
    parser.add_argument("--out", default=None,
                        help="the materialised output directory (local or gs://), where the drop lists and token "
                             "shards are (default: the directory the trainer tokenizes into, "
                             "$CIP_DATA_DIR/tokens/<vocabulary fingerprint>)")
    parser.add_argument("--split", default="train", help="split to read")
    parser.add_argument("--runner", default="DirectRunner", help="Beam runner, e.g. DataflowRunner")
    add_module_imports(parser)


def _tasks(args) -> list[str]:
    """The tasks asked for that read file-sharded sources; a mixture's others are named on stderr and left
    alone (the synthetic problems, deduplicated when made); a task asked for by name must be one."""
    from code_in_pretraining.data import mixtures
    from code_in_pretraining.data.sources import ShardedSource

    if args.task:
        for t in args.task:
            mixtures.get_task(t)  # an unknown name: one line, exit 2
        return args.task
    tasks = list(mixtures.mixture_weights(args.mixture))
    for t in tasks:
        if not isinstance(mixtures.get_task(t).source, ShardedSource):
            print(f"{t}: not read from file shards; left alone", file=sys.stderr)
    return [t for t in tasks if isinstance(mixtures.get_task(t).source, ShardedSource)]


def _start(parser: Parser, argv: list[str]):
    """(flags, modules imported, tasks, output directory, Beam pipeline flags) of a command."""
    args, beam_args = parser.parse_known_args(argv)
    modules = import_modules(args)
    tasks = _tasks(args)
    out = _out(args, tasks, getattr(args, "vocab", None))
    return args, modules, tasks, out, [f"--runner={args.runner}", *beam_args]


def _out(args, tasks: list[str], vocab_model: str | None = None) -> str:
    """--out, else the trainer's token directory of the tasks' vocabulary (or of `vocab_model`)."""
    if args.out:
        return args.out
    from code_in_pretraining.data import materialize, paths, vocabulary

    if vocab_model:
        import seqio

        fps = {vocabulary.vocabulary_fingerprint(seqio.SentencePieceVocabulary(
            vocab_model if vocab_model.endswith(".model") else vocab_model + ".model"))}
    else:
        fps = {materialize.task_vocabulary_fingerprint(t) for t in tasks}
    if len(fps) != 1:
        raise UsageError(f"the tasks tokenize with different vocabularies {sorted(fps)}: give --out")
    return str(paths.data_dir() / "tokens" / fps.pop())


# -- cip dedup ---------------------------------------------------------------------------------------
def dedup_parser() -> Parser:
    parser = Parser(prog="cip dedup", description=(
        "Remove near-duplicate documents inside each task with an Apache Beam pipeline: exact duplicates by "
        "content hash, then MinHash signatures of word shingles, candidate pairs by LSH band, pairs verified "
        "by their estimated Jaccard similarity, clusters as connected components, the first document of "
        "each cluster kept. Writes OUT/<task>/<split>.dedup.jsonl (every removed document with its cluster) "
        "and .dedup.json (the summary); `cip materialize` into OUT then leaves those documents out. Settings "
        "come from the flags, else the data config's `dedup`, else the defaults. Re-running resumes: shards "
        "whose signatures are written are not read again. Flags this command does not know are Beam "
        "pipeline options:\n\n"
        f"  cip dedup --task stack_code --out gs://bucket/tokens \\\n{DATAFLOW}"))
    _add_tasks(parser)
    parser.add_argument("--shingle", type=int, default=None, help="words per shingle (default 5)")
    parser.add_argument("--num-perm", type=int, default=None, help="MinHash permutations (default 128)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="estimated Jaccard similarity from which documents are duplicates (default 0.7); "
                             "bands and rows follow from it")
    return parser


def dedup(argv: list[str]) -> int:
    args, modules, tasks, out, pipeline = _start(dedup_parser(), argv)
    import dataclasses

    from code_in_pretraining.data import beam_dedup, shards
    from code_in_pretraining.data.near_dedup import DedupConfig

    overrides = {k: v for k, v in (("shingle", args.shingle), ("num_perm", args.num_perm),
                                   ("threshold", args.threshold)) if v is not None}
    t0, failed = time.perf_counter(), {}
    for task in tasks:
        config = dataclasses.replace(shards.sharded_source(task).dedup or DedupConfig(), **overrides)
        s = beam_dedup.run(task, args.split, out, config=config, module_imports=modules, pipeline_args=pipeline)
        failed[task] = s["failed_shards"]
        print(f"{task:>18}/{args.split}: {s['documents']:>9,} documents  removed {s['exact_duplicate']:,} exact and "
              f"{s['near_duplicate']:,} near duplicates in {s['clusters']:,} clusters  (bands {config.bands} x rows "
              f"{config.rows}, threshold {config.threshold})")
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1), "output": out}))
    return failed_shards_exit("dedup", failed)


# -- cip decontaminate --------------------------------------------------------------------------------
def decontaminate_parser() -> Parser:
    from code_in_pretraining.eval.benchmarks import SUITES  # a table: no JAX, no TensorFlow

    parser = Parser(prog="cip decontaminate", description=(
        "Measure the overlap of training tasks with every evaluation set of a suite: word n-grams of each "
        "example's prompt with its gold answer (with the canonical solution and tests for code) found in "
        "the tasks' documents, with an Apache Beam pipeline. Writes a report: per evaluation set the "
        "contaminated examples and where they appear, per task the documents, tokens and words that "
        "overlap. With --remove, the overlapping documents are also written to each task's drop list and "
        "left out of the token shards in OUT (the shards they were in are written again). `cip eval "
        "--clean-only REPORT` then scores each benchmark on its clean examples. Flags this command does not "
        "know are Beam pipeline options:\n\n"
        f"  cip decontaminate --mixture balanced --out gs://bucket/tokens \\\n{DATAFLOW}"))
    _add_tasks(parser)
    parser.add_argument("--suite", choices=sorted(SUITES), default="paper", help="evaluation sets to check against")
    parser.add_argument("--ngram", type=int, default=13, help="words per n-gram")
    parser.add_argument("--min-words", type=int, default=8,
                        help="an example text shorter than --ngram but of at least this many words is checked whole")
    parser.add_argument("--report", default=None, help="report to write (default: OUT/decontamination.json)")
    parser.add_argument("--remove", action="store_true", help="leave the overlapping documents out of the shards")
    parser.add_argument("--vocab", default=None, help="SentencePiece model prefix of the shards (PREFIX.model), "
                                                      "which --remove writes again and tokens are counted with "
                                                      "(default: each task's own vocabulary)")
    return parser


def decontaminate(argv: list[str]) -> int:
    args, modules, tasks, out, pipeline = _start(decontaminate_parser(), argv)
    from code_in_pretraining.data import beam_decontaminate, beam_materialize, files
    from code_in_pretraining.eval import contamination

    t0 = time.perf_counter()
    index, meta = contamination.build_index(args.suite, n=args.ngram, min_words=args.min_words)
    fp = index.fingerprint()
    path = beam_decontaminate.index_path(out, fp)
    if not files.exists(path):
        index.save(path, meta)
    shards = beam_decontaminate.run(tasks, args.split, out, path, fp, vocab_model=args.vocab,
                                    pipeline_args=pipeline, module_imports=modules)
    report = beam_decontaminate.report(shards, args.split, out, fp, meta)
    report_path = args.report or files.join(out, "decontamination.json")
    files.write_json(report_path, report)
    _print_report(report)
    failed = {t: s["failed_shards"] for t, s in report["sources"].items()}
    if args.remove:
        removed = beam_decontaminate.removal_lists(shards, args.split, out, fp, meta)
        result = beam_materialize.run(tasks, args.split, out, vocab_model=args.vocab, pipeline_args=pipeline,
                                      module_imports=modules)
        for task, r in result.items():
            print(f"{task:>18}/{args.split}: {removed[task]:,} documents left out; the shards now hold "
                  f"{r['documents']:,} documents, {r['tokens']:,} tokens  fingerprint {r['fingerprint']}")
            failed[task] = failed[task] + r["failed_shards"]
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1), "report": report_path}))
    return failed_shards_exit("decontaminate", failed)


def _print_report(report: dict) -> None:
    print(f"{'evaluation set':<14} {'examples':>9} {'checked':>8} {'contaminated':>13}")
    for name, b in report["benchmarks"].items():
        if b["available"]:
            print(f"{name:<14} {b['examples']:>9,} {b['checked']:>8,} {b['contaminated']:>13,}")
        else:
            print(f"{name:<14} not available: {b['reason']}")
    print(f"\n{'source':<20} {'documents':>10} {'overlapping':>12} {'their tokens':>13} {'words in n-grams':>17}")
    for task, s in report["sources"].items():
        print(f"{task:<20} {s['documents']:>10,} {s['contaminated_documents']:>12,} {s['contaminated_tokens']:>13,} "
              f"{s['overlap_words']:>17,}")
        for doc in s["examples"][:5]:
            print(f"    {doc['id']} ~ {', '.join(doc['matches'])}: \"{doc['snippet'][:100]}\"")
