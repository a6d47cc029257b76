"""Name lookups over the SeqIO registries, with errors that name what is known."""

from __future__ import annotations

import random
from collections.abc import Iterator

import seqio


def _registry() -> None:
    import tasks  # noqa: F401  (registers every task and mixture)


def get_task(name: str) -> seqio.Task:
    _registry()
    if name not in seqio.TaskRegistry.names():
        raise KeyError(f"unknown task {name!r}; registered tasks: {sorted(seqio.TaskRegistry.names())}")
    return seqio.get_mixture_or_task(name)


def mixture_weights(name: str) -> dict[str, float]:
    """Task name -> token fraction for a mixture (weights normalised) or a single task."""
    _registry()
    if name in seqio.TaskRegistry.names():
        return {name: 1.0}
    if name not in seqio.MixtureRegistry.names():
        raise KeyError(f"unknown mixture or task {name!r}; registered mixtures: "
                       f"{sorted(seqio.MixtureRegistry.names())}")
    mixture = seqio.get_mixture_or_task(name)
    rates = {t.name: float(mixture.get_rate(t)) for t in mixture.tasks}
    total = sum(rates.values())
    return {t: r / total for t, r in rates.items() if r > 0}


def sample_documents(mixture: str, total_bytes: int, *, seed: int = 0, split: str = "train") -> list[str]:
    """Raw documents from each task in proportion to its weight (by bytes, before any vocabulary exists)."""
    out: list[str] = []
    for task_name, weight in mixture_weights(mixture).items():
        docs = [ex["text"].decode() for ex in get_task(task_name).source.get_dataset(split).as_numpy_iterator()]
        random.Random(f"{seed}/{task_name}").shuffle(docs)
        budget = weight * total_bytes
        taken = 0
        for doc in docs:
            if taken >= budget:
                break
            out.append(doc)
            taken += len(doc.encode())
    return out
