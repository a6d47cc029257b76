"""Benchmark metrics: accuracy, SQuAD-style exact match over aliases, unbiased pass@k.

Each metric follows SeqIO's convention `fn(targets, predictions) -> {name: value}`
so that the evaluation tasks can list them as `metric_fns`. Values are percentages.
"""

from __future__ import annotations

import re
import string

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lowercase, strip punctuation and articles, collapse whitespace (SQuAD's normalisation)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match_one(prediction: str, answers: list[str]) -> bool:
    """True when the normalised prediction equals any normalised alias."""
    pred = normalize_answer(prediction)
    return any(pred == normalize_answer(a) for a in answers)


def exact_match(targets: list[list[str]], predictions: list[str]) -> dict[str, float]:
    hits = [exact_match_one(p, t) for t, p in zip(targets, predictions, strict=True)]
    return {"exact_match": 100.0 * float(np.mean(hits)) if hits else 0.0}


def accuracy(targets: list[int], predictions: list[int]) -> dict[str, float]:
    hits = [int(t) == int(p) for t, p in zip(targets, predictions, strict=True)]
    return {"accuracy": 100.0 * float(np.mean(hits)) if hits else 0.0}


def pass_at_k_one(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k).

    Computed as a product, 1 - prod_{i=n-c+1}^{n} (1 - k / i), which never forms
    the (huge) binomial coefficients.
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k(targets: list[int], predictions: list[list[bool]], ks=(1,)) -> dict[str, float]:
    """predictions[i] are the pass/fail results of problem i's samples; targets are unused ids."""
    del targets
    out = {}
    for k in ks:
        vals = [pass_at_k_one(len(p), int(sum(p)), k) for p in predictions if len(p) >= k]
        out[f"pass@{k}"] = 100.0 * float(np.mean(vals)) if vals else 0.0
    return out
