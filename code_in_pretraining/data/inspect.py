"""Run the real loader through a phase plan and report what it drew (`cip inspect`, the notebooks).

Per phase and source: target weight, realised token fraction, documents read, mean
document length, epochs used and one sample; the packing fill; the fingerprints of
the vocabulary and of every source's token shards; and per source its data hygiene:
duplicates and contaminated documents left out of the shards (`cip dedup`,
`cip decontaminate --remove`), and the overlapping documents that a decontamination
report next to the shards found.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from code_in_pretraining.data import files, materialize, mixtures, vocabulary
from code_in_pretraining.data.loader import MixingLoader
from code_in_pretraining.data.phase_plan import Phase, PhasePlan

SAMPLE_CHARS = 240


def _shards(task_names, progress):
    return {t: materialize.materialize_shards(t, "train", progress=progress) for t in task_names}


def inspection_plan(phases: Sequence[Phase], tokens: float, *, seq_len: int, batch: int) -> PhasePlan:
    """The phases cut to `tokens` each (whole batches of `batch` x `seq_len`, at least one): what an
    inspection draws, since a recipe's own budgets are far too long to read here."""
    steps = max(1, -(-int(tokens) // (batch * seq_len)))
    return PhasePlan(tuple(phases), (steps,) * len(phases), batch * seq_len)


def inspect_plan(plan: PhasePlan, *, batch: int, seed: int = 0, progress: bool = False) -> dict:
    """Runs the loader through every step of `plan` (its tokens per step: `batch` rows of one length)."""
    seq_len = plan.tokens_per_step // batch
    weights = [mixtures.mixture_weights(ph.mixture) for ph in plan.phases]
    shards = _shards(sorted({t for w in weights for t in w}), progress)
    loader = MixingLoader(shards, weights, plan=plan, seq_len=seq_len, global_batch=batch, seed=seed)
    vocab = vocabulary.default_vocabulary()
    stats = {src: materialize.shard_set_stats(paths) for src, paths in shards.items()}
    samples = {src: vocab.decode(source[0][:200].tolist())[:SAMPLE_CHARS]
               for src, source in zip(loader.names, loader.sources)}
    rows, report = plan.rows(), []
    for i, w in enumerate(weights):
        before_tokens, before_docs = loader.tokens.sum(axis=0).copy(), loader.next_doc.sum(axis=0).copy()
        filled = sum(next(loader).fill() for _ in range(plan.steps[i]))
        got = loader.tokens.sum(axis=0) - before_tokens
        docs = loader.next_doc.sum(axis=0) - before_docs
        epochs = loader.epochs()
        sources = {}
        for j, src in enumerate(loader.names):
            if w.get(src, 0) <= 0 and got[j] == 0:
                continue
            sources[src] = {"target": w.get(src, 0.0), "realized": float(got[j]) / max(1, got.sum()),
                            "documents": int(docs[j]),
                            "mean_doc_tokens": stats[src]["tokens"] / max(1, stats[src]["documents"]),
                            "epochs": epochs[src], "sample": samples[src]}
        report.append({**rows[i], "tokens": int(got.sum()), "fill": filled / plan.steps[i],
                       "sources": sources})
    return {"seq_len": seq_len, "batch": batch, "steps": plan.total_steps, "phases": report,
            "fingerprints": materialize.fingerprints(shards), "hygiene": hygiene(shards, stats)}


def hygiene(shards: dict[str, list], stats: dict[str, dict]) -> dict[str, dict]:
    """Per source: documents in its shards, duplicates and contaminated documents left out, clusters of
    duplicates, and the documents a decontamination report next to the shards found overlapping
    (None where no report covers the source)."""
    out = {}
    for src, paths in shards.items():
        report_path = files.join(os.path.dirname(os.path.dirname(str(paths[0]))), "decontamination.json")
        found = files.read_json(report_path)["sources"].get(src) if files.exists(report_path) else None
        dropped, dedup = stats[src]["dropped"], stats[src].get("dedup") or {}
        out[src] = {"documents": stats[src]["documents"], "exact_duplicates": dropped.get("exact_duplicate", 0),
                    "near_duplicates": dropped.get("near_duplicate", 0), "clusters": dedup.get("clusters"),
                    "contaminated_found": found["contaminated_documents"] if found else None,
                    "contaminated_removed": dropped.get("contaminated", 0)}
    return out


def _documents(task: str):
    import grain

    paths = materialize.materialize_shards(task, "train", progress=False)
    return grain.sources.ArrayRecordDataSource([str(p) for p in paths])


def document_lengths(task: str, limit: int = 5000) -> np.ndarray:
    """Tokens per document over the first `limit` documents of a task's train shards (for histograms)."""
    docs = _documents(task)
    return np.array([len(materialize.decode_record(docs[i])) for i in range(min(len(docs), limit))])


def sample_documents(task: str, n: int = 3, chars: int = 400) -> list[str]:
    """The first `chars` characters of `n` documents spread evenly over a task's train shards."""
    docs, vocab = _documents(task), vocabulary.default_vocabulary()
    picks = np.linspace(0, len(docs) - 1, num=min(n, len(docs)), dtype=int)
    return [vocab.decode(materialize.decode_record(docs[int(i)])[: 2 * chars].tolist())[:chars] for i in picks]


def format_report(result: dict) -> str:
    fp = result["fingerprints"]
    lines = [f"fingerprints: vocabulary {fp['vocabulary']}, tokens "
             + ", ".join(f"{task} {f}" for task, f in fp["tokens"].items())]
    for ph in result["phases"]:
        lines.append(f"\n== {ph['phase']}: steps [{ph['start_step']}, {ph['end_step']}), mixture {ph['mixture']}, "
                     f"{ph['schedule']} schedule, {ph['tokens']:,} tokens, packing fill {ph['fill']:.4f}")
        lines.append(f"{'source':<20} {'target':>8} {'realized':>9} {'docs':>8} {'mean len':>9} {'epochs':>7}")
        for name, s in ph["sources"].items():
            lines.append(f"{name:<20} {s['target']:>8.4f} {s['realized']:>9.4f} {s['documents']:>8,} "
                         f"{s['mean_doc_tokens']:>9,.0f} {s['epochs']:>7.3f}")
        for name, s in ph["sources"].items():
            lines.append(f"-- sample of {name}: {s['sample']!r}")
    lines.append("\n== data hygiene (`cip dedup`, `cip decontaminate`)")
    widths = [20] + [max(9, len(c)) for c in HYGIENE_COLUMNS[1:]]
    for row in [HYGIENE_COLUMNS, *hygiene_rows(result)]:
        lines.append(" ".join(f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


HYGIENE_COLUMNS = ("source", "documents", "exact duplicates", "near duplicates", "clusters", "contamination found",
                   "removed as contaminated")


def hygiene_rows(result: dict) -> list[tuple[str, ...]]:
    """The data hygiene of `inspect_plan`'s result, one row of formatted cells per source (HYGIENE_COLUMNS)."""
    rows = []
    for name, h in result["hygiene"].items():
        rows.append((name, f"{h['documents']:,}", f"{h['exact_duplicates']:,}", f"{h['near_duplicates']:,}",
                     "-" if h["clusters"] is None else f"{h['clusters']:,}",
                     "not scanned" if h["contaminated_found"] is None else f"{h['contaminated_found']:,}",
                     f"{h['contaminated_removed']:,}"))
    return rows
