"""The paper's pre-training sources as SeqIO tasks (PAPER.md, "Data sources").

  slimpajama         text: SlimPajama without its GitHub and StackExchange documents
  stack_code         web code: The Stack, top-25 languages, quality-filtered
  markup             Markdown, HTML, CSS ... files
  code_adjacent      commits, Jupyter notebooks, StackExchange threads
  cooldown_text      high-quality text for the cooldown
  cooldown_math      math text for the cooldown
  cooldown_instruct  instruction data for the cooldown

Each reads what the data config ($CIP_SOURCES, see data/source_config.py) names
for it, else its offline stand-in from the embedded default corpus (`cip data
fetch-default`), so that everything runs on a fresh machine:

  slimpajama -> KJV chapters; stack_code -> the standard library (same filters);
  markup -> the Python docs' reST pages; code_adjacent -> Debian changelog entries;
  cooldown_text -> KJV + Python docs; cooldown_math -> the docs of math, cmath,
  statistics, decimal, fractions, numbers, random; cooldown_instruct -> the
  Python FAQ as question / answer pairs.
"""

from __future__ import annotations

import dataclasses
import functools

import seqio

from code_in_pretraining.data import corpus, paths, source_config, vocabulary
from code_in_pretraining.data import filters as F
from code_in_pretraining.data.sources import Part

MATH_PAGES = tuple(f"pydoc/library/{m}.rst.txt"
                   for m in ("math", "cmath", "statistics", "decimal", "fractions", "numbers", "random"))


@dataclasses.dataclass(frozen=True)
class SourceTask:
    shape: str  # record shape of the real dumps (records.py)
    filters: F.FilterConfig  # applied to the real dumps
    offline_dir: str  # <data_dir>/default/<offline_dir>/{split}.jsonl.gz
    offline_shape: str
    offline_filters: F.FilterConfig


SOURCE_TASKS = {
    "slimpajama": SourceTask("slimpajama", F.SLIMPAJAMA, "text", "slimpajama",
                             dataclasses.replace(F.SLIMPAJAMA, id_prefixes=("kjv/",))),
    "stack_code": SourceTask("stack", F.WEB_CODE, "code", "stack", F.WEB_CODE),
    "markup": SourceTask("markup", F.MARKUP, "text", "markup", dataclasses.replace(F.MARKUP, id_prefixes=("pydoc/",))),
    "code_adjacent": SourceTask("commit", F.FilterConfig(), "changelog", "commit", F.FilterConfig()),
    "cooldown_text": SourceTask("text", F.FilterConfig(), "text", "text", F.FilterConfig()),
    "cooldown_math": SourceTask("text", F.FilterConfig(), "text", "text", F.FilterConfig(id_prefixes=MATH_PAGES)),
    "cooldown_instruct": SourceTask("instruct", F.FilterConfig(), "faq", "instruct", F.FilterConfig()),
}


def source(name: str, config: dict | None = None):
    spec = SOURCE_TASKS[name]
    root = paths.default_corpus_dir() / spec.offline_dir
    offline = [Part(spec.offline_shape, {s: (str(root / f"{s}.jsonl.gz"),) for s in corpus.SPLITS}, format="jsonl")]
    return source_config.task_source(name, spec.shape, spec.filters, offline, spec.offline_filters, config)


def register(name: str, config: dict | None = None) -> None:
    seqio.TaskRegistry.add(
        name,
        source=source(name, config),
        preprocessors=[
            functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text", "id": "id"}),
            seqio.preprocessors.tokenize,
            seqio.preprocessors.append_eos,
        ],
        output_features={"targets": seqio.Feature(vocabulary.default_vocabulary(), add_eos=True)},
    )


_CONFIG = source_config.load()
for _name in SOURCE_TASKS:
    if _name not in seqio.TaskRegistry.names():
        register(_name, _CONFIG)
