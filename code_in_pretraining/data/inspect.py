"""Run the real loader through a phase plan and report what it drew (`cip inspect`, the notebooks).

Per phase and source: target weight, realised token fraction, documents read, mean
document length, epochs used and one sample; the packing fill; and the fingerprints
of the vocabulary and of every source's token shards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from code_in_pretraining.data import materialize, mixtures, vocabulary
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
            "fingerprints": materialize.fingerprints(shards)}


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
    return "\n".join(lines)
