"""Benchmark metrics: accuracy, SQuAD-style exact match and token F1 over aliases, unbiased pass@k.

Each metric follows SeqIO's convention `fn(targets, predictions) -> {name: value}`
so that the evaluation tasks can list them as `metric_fns`. Values are percentages,
the mean of the per-example values that `per_example` gives (what the report's
bootstrap resamples).
"""

from __future__ import annotations

import collections
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


def token_f1_one(prediction: str, answers: list[str]) -> float:
    """The best F1 over the answers of the normalised words' overlap (SQuAD's and QuAC's F1), in [0, 1]."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        if not pred or not gold:
            best = max(best, float(pred == gold))
            continue
        common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


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


_EACH = {  # metric -> (target, prediction) -> the example's value in [0, 1]
    "accuracy": lambda t, p: float(int(t) == int(p)),
    "exact_match": lambda t, p: float(exact_match_one(p, t)),
    "f1": lambda t, p: token_f1_one(p, t),
    "pass@1": lambda t, p: pass_at_k_one(len(p), int(sum(p)), 1),
}


def per_example(metric: str, targets: list, predictions: list) -> list[float]:
    """Each example's value of `metric` in percent (accuracy_norm: accuracy of the normalised predictions)."""
    each = _EACH["accuracy" if metric == "accuracy_norm" else metric]
    return [100.0 * each(t, p) for t, p in zip(targets, predictions, strict=True)]


def _mean(metric: str, targets, predictions) -> dict[str, float]:
    values = per_example(metric, targets, predictions)
    return {metric: float(np.mean(values)) if values else 0.0}


def exact_match(targets: list[list[str]], predictions: list[str]) -> dict[str, float]:
    return _mean("exact_match", targets, predictions)


def f1(targets: list[list[str]], predictions: list[str]) -> dict[str, float]:
    return _mean("f1", targets, predictions)


def accuracy(targets: list[int], predictions: list[int]) -> dict[str, float]:
    return _mean("accuracy", targets, predictions)


def pass_at_k(targets: list[int], predictions: list[list[bool]], ks=(1,)) -> dict[str, float]:
    """predictions[i] are the pass/fail results of problem i's samples; targets are unused ids."""
    del targets
    out = {}
    for k in ks:
        vals = [pass_at_k_one(len(p), int(sum(p)), k) for p in predictions if len(p) >= k]
        out[f"pass@{k}"] = 100.0 * float(np.mean(vals)) if vals else 0.0
    return out
