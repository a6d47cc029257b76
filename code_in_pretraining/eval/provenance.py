"""What data a report's results were trained on, said on its first lines and in its column names.

A paper source (slimpajama, stack_code, ...) reads the data that the data config
($CIP_SOURCES, data/source_config.py) names for it, else its stand-in from the
embedded default corpus (tasks/sources.py): the report says which, as the machine
writing it is configured. The fingerprints (plan.json of each run: the vocabulary
and each task's token shards) identify the data exactly: equal fingerprints, equal
batches; a task that shows two fingerprints was read from different shards by
different runs.
"""

from __future__ import annotations

import json

from etils import epath


STAND_INS = {  # the default corpus's stand-in for each paper source, as tasks/sources.py reads it
    "slimpajama": "KJV chapters",
    "stack_code": "the Python standard library",
    "markup": "the Python docs' reST pages",
    "code_adjacent": "Debian changelog entries",
    "cooldown_text": "KJV + the Python docs",
    "cooldown_math": "the Python docs of math, cmath, statistics, ...",
    "cooldown_instruct": "the Python FAQ",
}


def configured_sources() -> set[str]:
    """The sources the data config names (their real data is read, not a stand-in)."""
    from code_in_pretraining.data import source_config  # here: its readers start TensorFlow, a report needs none

    return set(source_config.load())


def source_label(task: str, configured: set[str] | None = None) -> str:
    """"slimpajama [stand-in: KJV chapters]" unless the data config names the task's real data."""
    configured = configured_sources() if configured is None else configured
    if task in configured or task not in STAND_INS:
        return task
    return f"{task} [stand-in: {STAND_INS[task]}]"


def _vocab_sizes(results, root) -> set[int]:
    sizes = {(r.get("model_config") or {}).get("vocab_size") for r in results}
    if root is not None:
        for f in epath.Path(root).glob("*/train/model_config.json"):
            sizes.add(json.loads(f.read_text()).get("vocab_size"))
    return {s for s in sizes if s}


def provenance(results, root=None) -> str:
    """One paragraph: the sources and what stood in for them, the vocabulary (fingerprint and the models'
    vocabulary size), each task's token-shard fingerprints."""
    results = list(results)
    vocab, tokens = set(), {}
    for r in results:
        fp = r.get("fingerprints") or {}
        vocab.update([fp["vocabulary"]] if isinstance(fp.get("vocabulary"), str) else fp.get("vocabulary", []))
        for task, f in fp.get("tokens", {}).items():
            tokens.setdefault(task, set()).add(str(f))
    if not tokens:
        return "Data: no fingerprints recorded."
    configured = configured_sources()
    sources = [source_label(t, configured) for t in sorted(tokens)]
    stand_in = any("stand-in" in s for s in sources)
    sizes = ", ".join(f"{s:,}" for s in sorted(_vocab_sizes(results, root)))
    return (f"Data: {'; '.join(sources)}"
            + (" ([stand-in: ...]: the embedded default corpus stands in for the paper's source, as no data config, "
               "$CIP_SOURCES, names its real data on the machine writing this report)" if stand_in else "")
            + f". Vocabulary {' / '.join(f'`{v}`' for v in sorted(vocab))}"
            + (f" ({sizes} pieces in the models)" if sizes else "")
            + "; token shards " + ", ".join(f"{task} {' / '.join(f'`{f}`' for f in sorted(fs))}"
                                            for task, fs in sorted(tokens.items())) + ".")
