"""The demo: does code in the mixture change what a model learns? A few minutes on a CPU.

Builds the embedded default corpus and its code-safe vocabulary, trains one tiny
model on text only and one on a 50/50 text+code mixture (same steps, same
tokens), and measures each model's held-out perplexity on text and on code.
"""

from __future__ import annotations

import json
import pathlib

DEMO_GIN = "demo.gin"
VARIANTS = ("demo_text_only", "demo_balanced")


def prepare_data(progress: bool = True) -> None:
    """The default corpus and its 4k vocabulary, built where missing (the `demo_*` tasks registered)."""
    from code_in_pretraining.data import corpus, mixtures, vocabulary

    corpus.build_default()
    path = vocabulary.default_vocab_path()
    if not path.exists():
        docs = mixtures.sample_documents("demo_balanced", 4_000_000, seed=0)
        vocabulary.train_vocab(docs, path.with_suffix(""), vocabulary.DEFAULT_VOCAB_SIZE)
        if progress:
            print(f"trained vocabulary {path}")


def run(workdir: str | pathlib.Path, bindings: list[str] = (), eval_tokens: int = 65536
        ) -> dict[str, dict[str, dict[str, float]]]:
    """Trains both variants in workdir/<variant>; returns their held-out perplexity per source
    (also written to workdir/results.json)."""
    from code_in_pretraining.eval import perplexity
    from code_in_pretraining.train import launch

    prepare_data()
    workdir = pathlib.Path(workdir)
    results = {}
    for variant in VARIANTS:
        out = launch.run([DEMO_GIN], [f"TrainConfig.mixture = '{variant}'", *bindings], str(workdir / variant))
        results[variant] = perplexity.evaluate(out["graphdef"], out["params"], ("text", "code"),
                                               seq_len=out["train_config"].seq_len, batch=16,
                                               max_tokens=eval_tokens, progress=True)
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    sources = sorted({s for r in results.values() for s in r}, key=lambda s: (s != "text", s))
    head = "| model | " + " | ".join(f"{s} ppl" for s in sources) + " |"
    rule = "|---|" + "---:|" * len(sources)
    rows = [f"| {name} | " + " | ".join(f"{r[s]['perplexity']:.2f}" for s in sources) + " |"
            for name, r in results.items()]
    return "\n".join([head, rule, *rows])
