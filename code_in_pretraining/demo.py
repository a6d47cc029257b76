"""`cip demo`: does code in the mixture change what a model learns? A few minutes on a CPU.

Builds the embedded default corpus and its code-safe vocabulary, trains one tiny
model on text only and one on a 50/50 text+code mixture (same steps, same
tokens), and prints each model's held-out perplexity on text and on code.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

DEMO_GIN = "demo.gin"
VARIANTS = ("demo_text_only", "demo_balanced")


def prepare_data(progress: bool = True) -> None:
    from code_in_pretraining.data import corpus, mixtures, vocab, vocabularies

    corpus.build_default()
    path = vocabularies.default_vocab_path()
    if not path.exists():
        docs = mixtures.sample_documents("demo_balanced", 4_000_000, seed=0)
        vocab.train_vocab(docs, path.with_suffix(""), vocabularies.DEFAULT_VOCAB_SIZE)
        if progress:
            print(f"trained vocabulary {path}")


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    sources = sorted({s for r in results.values() for s in r}, key=lambda s: (s != "text", s))
    head = "| model | " + " | ".join(f"{s} ppl" for s in sources) + " |"
    rule = "|---|" + "---:|" * len(sources)
    rows = [f"| {name} | " + " | ".join(f"{r[s]['perplexity']:.2f}" for s in sources) + " |"
            for name, r in results.items()]
    return "\n".join([head, rule, *rows])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="runs/demo")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="extra gin bindings for both runs, e.g. TrainConfig.steps=20")
    parser.add_argument("--eval-tokens", type=int, default=65536, help="held-out tokens per source")
    args = parser.parse_args(argv)

    from code_in_pretraining.eval import perplexity
    from code_in_pretraining.train import main as train_main

    t0 = time.perf_counter()
    prepare_data()
    workdir = pathlib.Path(args.workdir)
    results = {}
    for variant in VARIANTS:
        out = train_main.run([DEMO_GIN], [f"TrainConfig.mixture = '{variant}'", *args.gin_bindings],
                             str(workdir / variant))
        seq_len = out["train_config"].seq_len
        results[variant] = perplexity.evaluate(out["graphdef"], out["params"], ("text", "code"),
                                               seq_len=seq_len, batch=16, max_tokens=args.eval_tokens,
                                               progress=True)
    table = format_table(results)
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    print("\nHeld-out perplexity (lower is better), same vocabulary, same training tokens:\n")
    print(table)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; results in {workdir / 'results.json'}")
    return 0
