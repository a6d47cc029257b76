"""`cip inspect`: run the real loader over a mixture (or each phase of a recipe) and report it.

Per source: target weight, realised token fraction, documents read, mean document
length, epochs used and one sample; and the packing fill. `--json` prints the same
as one object for notebooks and scripts.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from code_in_pretraining.data import materialize, mixtures, vocabularies
from code_in_pretraining.data.loader import DataPhase, MixingLoader

SAMPLE_CHARS = 240


def _shards(task_names, progress):
    return {t: materialize.materialize_shards(t, "train", progress=progress) for t in task_names}


def _source_stats(path) -> dict:
    return json.loads(path.with_name("train.stats.json").read_text())


def inspect_phases(phases: list[tuple[str, str]], tokens: int, seq_len: int, *, batch: int = 8,
                   seed: int = 0, progress: bool = False) -> dict:
    """Runs the loader through `phases` [(phase name, mixture)], `tokens` tokens each."""
    steps = max(1, -(-tokens // (batch * seq_len)))
    weights = [mixtures.mixture_weights(m) for _, m in phases]
    shards = _shards(sorted({t for w in weights for t in w}), progress)
    loader = MixingLoader(shards, [DataPhase(w, steps) for w in weights], seq_len=seq_len,
                          global_batch=batch, seed=seed)
    vocab = vocabularies.default_vocabulary()
    report = []
    for (name, mixture), w in zip(phases, weights):
        before_tokens, before_docs = loader.tokens.sum(axis=0).copy(), loader.next_doc.sum(axis=0).copy()
        filled = 0.0
        for _ in range(steps):
            filled += next(loader).fill()
        got = loader.tokens.sum(axis=0) - before_tokens
        docs = loader.next_doc.sum(axis=0) - before_docs
        epochs = loader.epochs()
        sources = {}
        for i, src in enumerate(loader.names):
            if w.get(src, 0) <= 0 and got[i] == 0:
                continue
            stats = _source_stats(shards[src][0])
            sample = vocab.decode(loader.sources[i][0][:200].tolist())[:SAMPLE_CHARS]
            sources[src] = {"target": w.get(src, 0.0), "realized": float(got[i]) / max(1, got.sum()),
                            "documents": int(docs[i]), "mean_doc_tokens": stats["tokens"] / max(1, stats["documents"]),
                            "epochs": epochs[src], "sample": sample}
        report.append({"phase": name, "mixture": mixture, "tokens": int(got.sum()), "fill": filled / steps,
                       "sources": sources})
    return {"seq_len": seq_len, "tokens_per_phase": steps * batch * seq_len, "phases": report}


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
    docs, vocab = _documents(task), vocabularies.default_vocabulary()
    picks = np.linspace(0, len(docs) - 1, num=min(n, len(docs)), dtype=int)
    return [vocab.decode(materialize.decode_record(docs[int(i)])[: 2 * chars].tolist())[:chars] for i in picks]


def format_report(result: dict) -> str:
    lines = []
    for ph in result["phases"]:
        lines.append(f"\n== {ph['phase']}: mixture {ph['mixture']}, {ph['tokens']:,} tokens, "
                     f"packing fill {ph['fill']:.4f}")
        lines.append(f"{'source':<20} {'target':>8} {'realized':>9} {'docs':>8} {'mean len':>9} {'epochs':>7}")
        for name, s in ph["sources"].items():
            lines.append(f"{name:<20} {s['target']:>8.4f} {s['realized']:>9.4f} {s['documents']:>8,} "
                         f"{s['mean_doc_tokens']:>9,.0f} {s['epochs']:>7.3f}")
        for name, s in ph["sources"].items():
            lines.append(f"-- sample of {name}: {s['sample']!r}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip inspect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixture", help="a registered mixture or task")
    parser.add_argument("--recipe", help="a recipe: inspect each of its phases")
    parser.add_argument("--tokens", type=float, required=True, help="tokens to draw (per phase)")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if bool(args.mixture) == bool(args.recipe):
        parser.error("give exactly one of --mixture and --recipe")
    if args.recipe:
        from code_in_pretraining.train.recipes import get_recipe
        phases = [(ph.name, ph.mixture) for ph in get_recipe(args.recipe)]
    else:
        phases = [("mixture", args.mixture)]
    try:
        result = inspect_phases(phases, int(args.tokens), args.seq_len, batch=args.batch, seed=args.seed,
                                progress=not args.json)
    except KeyError as e:
        print(f"cip inspect: {e.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        out = dict(result)
        if len(result["phases"]) == 1:  # a single mixture: its fields at the top level
            out.update({k: result["phases"][0][k] for k in ("fill", "sources", "mixture", "tokens")})
        print(json.dumps(out, indent=2, default=lambda x: x.item() if isinstance(x, np.generic) else str(x)))
    else:
        print(format_report(result))
    return 0
