"""The demo's pre-training tasks, `text` and `code`, over the embedded default corpus, and their mixtures.

Mixture rates are TOKEN fractions: the project's loader mixes by tokens.
"""

from __future__ import annotations

import functools

import seqio

from code_in_pretraining.data import corpus, paths, sources, vocabulary

DEFAULT_SOURCES = ("text", "code")


def _register_default(name: str) -> None:
    root = paths.default_corpus_dir() / name
    seqio.TaskRegistry.add(
        name,
        source=sources.jsonl_source({s: [str(root / f"{s}.jsonl.gz")] for s in corpus.SPLITS}),
        preprocessors=[
            functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text", "id": "id"}),
            seqio.preprocessors.tokenize,
            seqio.preprocessors.append_eos,
        ],
        output_features={"targets": seqio.Feature(vocabulary.default_vocabulary(), add_eos=True)},
    )


for _name in DEFAULT_SOURCES:
    if _name not in seqio.TaskRegistry.names():
        _register_default(_name)

DEMO_MIXTURES = {
    "demo_text_only": {"text": 1.0},
    "demo_balanced": {"text": 0.5, "code": 0.5},
}
for _name, _weights in DEMO_MIXTURES.items():
    if _name not in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.add(_name, list(_weights.items()))
