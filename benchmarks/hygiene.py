"""Data hygiene throughput: near-duplicate removal and decontamination over the whole embedded default corpus.

    python benchmarks/hygiene.py [--tasks code,text,code_adjacent,cooldown_instruct] [--out DIR] [-- BEAM_ARGS...]

The tasks cover each document of the embedded corpus once (the standard library, the
KJV and the Python docs, the Debian changelog entries, the Python FAQ). For each task,
`cip dedup`'s Beam pipeline (DirectRunner, one worker, unless BEAM_ARGS say otherwise)
into a fresh directory: documents, seconds, documents/s, what it removed and its
largest clusters. Then `cip decontaminate`'s: the n-gram index of the paper suite's
offline evaluation sets, and the pipeline over every task: characters, seconds,
MB/s, and every document that overlaps an evaluation example. Each stage is also
timed on its own, in this process without the pipeline (the core: signatures;
scanning), so the pipeline's share shows. Prints Markdown tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import tasks  # noqa: F401  (the SeqIO registrations)
from code_in_pretraining.data import beam_decontaminate, beam_dedup
from code_in_pretraining.data import near_dedup as nd
from code_in_pretraining.data.ngrams import NgramIndex
from code_in_pretraining.data.shards import sharded_source
from code_in_pretraining.data.stats import SourceStats
from code_in_pretraining.eval import contamination

TASKS = ("code", "text", "code_adjacent", "cooldown_instruct")


def _documents(task: str, split: str) -> list[str]:
    source = sharded_source(task)
    return [d["text"] for s in source.list_shards(split) for d in source.documents(split, s, SourceStats(), "skip")]


def _timed(fn):
    """(result, wall seconds, CPU seconds of this process: what contention on a shared machine leaves out)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--split", default="train")
    parser.add_argument("--suite", default="paper")
    parser.add_argument("--out", default=None, help="output directory (default: a fresh temporary one)")
    args, beam_args = parser.parse_known_args(argv)
    names = args.tasks.split(",")
    out = args.out or tempfile.mkdtemp(prefix="cip-hygiene-")
    pipeline = ["--runner=DirectRunner", *beam_args]
    docs = {t: _documents(t, args.split) for t in names}  # read once here, so the core timings exclude reading
    config = nd.DedupConfig()

    dedup_rows = []
    for task in names:
        summary, seconds, cpu = _timed(lambda t=task: beam_dedup.run(t, args.split, out, pipeline_args=pipeline,
                                                                     module_imports=("tasks",)))
        _, core, _ = _timed(lambda t=task: nd.signatures(docs[t], config))
        dedup_rows.append({"task": task, "documents": summary["documents"], "seconds": round(seconds, 2),
                           "docs_per_s": round(summary["documents"] / seconds), "cpu_seconds": round(cpu, 2),
                           "docs_per_cpu_s": round(summary["documents"] / cpu), "core_seconds": round(core, 2),
                           "core_docs_per_s": round(len(docs[task]) / core),
                           "exact_duplicate": summary["exact_duplicate"],
                           "near_duplicate": summary["near_duplicate"], "clusters": summary["clusters"],
                           "largest_clusters": summary["largest_clusters"][:5]})

    (examples, texts, sets), read_s, _ = _timed(lambda: contamination.suite_texts(args.suite))
    (index, _), build_s, _ = _timed(lambda: NgramIndex.build(texts))
    index_fp = index.fingerprint()
    path = beam_decontaminate.index_path(out, index_fp)
    meta = {"examples": examples, "sets": sets, "grams": len(index.hashes)}
    index.save(path, meta)
    shards, scan_s, scan_cpu = _timed(lambda: beam_decontaminate.run(names, args.split, out, path, index_fp,
                                                                     pipeline_args=pipeline, module_imports=("tasks",)))
    report = beam_decontaminate.report(shards, args.split, out, index_fp, {**meta, "n": index.n,
                                                                           "min_words": index.min_words})
    characters = sum(s["characters"] for s in report["sources"].values())
    _, core_scan, _ = _timed(lambda: [index.scan(d) for d in docs.values()])
    core_chars = sum(len(d) for ds in docs.values() for d in ds)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, beam args {beam_args or 'none'}, "
          f"output {out}\n")
    print("| task | documents | pipeline s | docs/s | CPU s | docs per CPU s | core s | core docs/s | exact dups | "
          "near dups | clusters |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in dedup_rows:
        print(f"| {r['task']} | {r['documents']:,} | {r['seconds']} | {r['docs_per_s']:,} | {r['cpu_seconds']} | "
              f"{r['docs_per_cpu_s']:,} | {r['core_seconds']} | {r['core_docs_per_s']:,} | {r['exact_duplicate']:,} | "
              f"{r['near_duplicate']:,} | {r['clusters']:,} |")
    n_docs = sum(r["documents"] for r in dedup_rows)
    total_s, total_cpu, core_s = (sum(r[k] for r in dedup_rows) for k in ("seconds", "cpu_seconds", "core_seconds"))
    print(f"| all | {n_docs:,} | {total_s:.1f} | {n_docs / total_s:,.0f} | {total_cpu:.1f} | {n_docs / total_cpu:,.0f} | "
          f"{core_s:.1f} | {n_docs / core_s:,.0f} | | | |\n")
    print(f"decontamination index: {len(examples):,} examples of {sum(1 for s in sets.values() if s['available'])} "
          f"sets, {len(index.hashes):,} grams (n={index.n}, min_words={index.min_words}); reading the sets "
          f"{read_s:.1f} s, building {build_s:.1f} s")
    print(f"scan: {characters / 1e6:.1f} M characters in {scan_s:.1f} s through the pipeline "
          f"({characters / 1e6 / scan_s:.1f} MB/s; {characters / 1e6 / scan_cpu:.1f} MB per CPU second); "
          f"core {core_chars / 1e6 / core_scan:.1f} MB/s\n")
    for task, s in report["sources"].items():
        for doc in s["examples"]:
            print(f"- {task}: {doc['id']} ~ {', '.join(doc['matches'])}: {doc['overlap_words']} words, "
                  f"\"{doc['snippet'][:120]}\"")
    print(json.dumps({"dedup": dedup_rows, "decontamination": {
        "characters": characters, "seconds": round(scan_s, 2), "mb_per_s": round(characters / 1e6 / scan_s, 1),
        "mb_per_cpu_s": round(characters / 1e6 / scan_cpu, 1),
        "core_mb_per_s": round(core_chars / 1e6 / core_scan, 1), "index_build_s": round(build_s, 2),
        "contaminated": {t: s["contaminated_documents"] for t, s in report["sources"].items()}}, "output": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
