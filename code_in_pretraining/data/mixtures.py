"""Name lookups over the SeqIO registries, with errors that name what is known.

The registries are filled by importing the modules that register tasks and mixtures
(the project's are in `tasks/`); entry points import them, the library does not.
"""

from __future__ import annotations

import random

import seqio


def _known(registry) -> str:
    names = sorted(registry.names())
    return f"registered: {names}" if names else "nothing is registered (import the task modules, e.g. `import tasks`)"


def get_task(name: str) -> seqio.Task:
    if name not in seqio.TaskRegistry.names():
        raise KeyError(f"unknown task {name!r}; {_known(seqio.TaskRegistry)}")
    return seqio.get_mixture_or_task(name)


def mixture_weights(name: str) -> dict[str, float]:
    """Task name -> token fraction for a mixture (weights normalised) or a single task."""
    if name in seqio.TaskRegistry.names():
        return {name: 1.0}
    if name not in seqio.MixtureRegistry.names():
        raise KeyError(f"unknown mixture or task {name!r}; mixtures {_known(seqio.MixtureRegistry)}")
    mixture = seqio.get_mixture_or_task(name)
    rates = {t.name: float(mixture.get_rate(t)) for t in mixture.tasks}
    total = sum(rates.values())
    return {t: r / total for t, r in rates.items() if r > 0}


def _shuffled_documents(task_name: str, split: str, seed: int) -> list[str]:
    docs = [ex["text"].decode() for ex in get_task(task_name).source.get_dataset(split).as_numpy_iterator()]
    random.Random(f"{seed}/{task_name}").shuffle(docs)
    return docs


def _take(docs: list[str], budget_bytes: float) -> list[str]:
    out, taken = [], 0
    for doc in docs:
        if taken >= budget_bytes:
            break
        out.append(doc)
        taken += len(doc.encode())
    return out


def sample_documents(mixture: str, total_bytes: int, *, seed: int = 0, split: str = "train",
                     bytes_per_token: dict[str, float] | None = None) -> list[str]:
    """Raw documents from each task in proportion to its TOKEN weight.

    A task's byte budget is weight x total tokens x its bytes per token, so that a
    source that tokenizes into more tokens per byte gets fewer bytes. Without
    `bytes_per_token` the sample is proportional to bytes.
    """
    weights = mixture_weights(mixture)
    bpt = bytes_per_token or dict.fromkeys(weights, 1.0)
    mean_bpt = sum(weights[t] * bpt[t] for t in weights)
    total_tokens = total_bytes / mean_bpt
    return [doc for t, w in weights.items()
            for doc in _take(_shuffled_documents(t, split, seed), w * total_tokens * bpt[t])]


def token_proportional_sample(mixture: str, total_bytes: int, *, seed: int = 0,
                              pilot_vocab_size: int = 2048) -> list[str]:
    """A sample whose TOKEN shares follow the mixture: bytes per token per task come from
    a small pilot vocabulary trained on a byte-proportional sample."""
    from code_in_pretraining.data import vocabulary

    pilot_docs = sample_documents(mixture, min(total_bytes, 2_000_000), seed=seed + 1)
    sp = vocabulary.load_proto(vocabulary.train_vocab_proto(pilot_docs, pilot_vocab_size))
    bpt = {}
    for t in mixture_weights(mixture):
        docs = _take(_shuffled_documents(t, "train", seed + 2), 200_000)
        bpt[t] = sum(len(d.encode()) for d in docs) / max(1, sum(len(sp.encode(d)) for d in docs))
    return sample_documents(mixture, total_bytes, seed=seed, bytes_per_token=bpt)
