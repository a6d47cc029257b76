"""Standard errors and 95% intervals by bootstrap over a benchmark's examples.

A task's per-example values (results JSON: tasks[name]["per_example"], the
primary metric's "score" and "bpb") are resampled with replacement DRAWS times.
The resampled indices depend only on the task's name and number of examples
(fixed seed), so every run gives the same intervals, and two models evaluated on
the same examples are resampled alike: their difference is a paired bootstrap.
An aggregate (Reason = mean over its available tasks, ...) is computed on each
draw from the tasks' draws, so its error carries every task's.
"""

from __future__ import annotations

import zlib

import numpy as np

from code_in_pretraining.eval.benchmarks import GROUPS, PAPER_GROUPS

DRAWS = 1000
SEED = 0
LEVEL = 95.0  # percent, of every interval


def _indices(task: str, n: int) -> np.ndarray:
    rng = np.random.default_rng([SEED, zlib.crc32(task.encode())])
    return rng.integers(0, n, size=(DRAWS, n), dtype=np.int32)


def task_draws(task: str, values) -> np.ndarray | None:
    """The mean of `values` (NaN: no value, left out) on each bootstrap draw; None without values."""
    v = np.asarray(values, np.float64)
    if v.size == 0 or np.isnan(v).all():
        return None
    resampled = v[_indices(task, v.size)]
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(resampled)).sum(axis=1)
        return np.where(counts > 0, np.nansum(resampled, axis=1) / np.maximum(counts, 1), np.nan)


def _group_draws(tasks: dict, group: str, field: str) -> np.ndarray | None:
    """Draws of a group's mean over its available tasks; None unless each of them has per-example values."""
    draws = []
    for name in PAPER_GROUPS[group]:
        t = tasks.get(name) or {}
        if t.get("available"):
            d = task_draws(name, (t.get("per_example") or {}).get(field, []))
            if d is None:
                return None
            draws.append(d)
    return np.mean(draws, axis=0) if draws else None


def draws(tasks: dict, key: str) -> np.ndarray | None:
    """Bootstrap draws of an aggregate of aggregate.py: reason, know, code, nl_avg, total_avg, or
    <group>_bpb; None where a task lacks per-example values (results written before they were kept)."""
    if key.endswith("_bpb"):
        return _group_draws(tasks, key.removesuffix("_bpb"), "bpb")
    if key in GROUPS:
        return _group_draws(tasks, key, "score")
    parts = [_group_draws(tasks, g, "score") for g in (("reason", "know") if key == "nl_avg" else GROUPS)]
    return None if any(p is None for p in parts) else np.mean(parts, axis=0)


def standard_error(d: np.ndarray | None) -> float | None:
    if d is None or not np.isfinite(d).all():
        return None
    return float(np.std(d, ddof=1))


def interval(d: np.ndarray | None) -> tuple[float, float] | None:
    """The central LEVEL% of the draws; None when more than its tails are undefined (a zero baseline)."""
    if d is None:
        return None
    finite = d[np.isfinite(d)]
    tail = (100.0 - LEVEL) / 2
    if finite.size < d.size * (1 - tail / 100):
        return None
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def gain_draws(value: np.ndarray | None, base: np.ndarray | None, ratio: bool = False) -> np.ndarray | None:
    """Draws of the relative gain 100 (value - base) / base in percent, or of value / base."""
    if value is None or base is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return value / base if ratio else 100.0 * (value - base) / base


def contains_zero(iv: tuple[float, float] | None, at: float = 0.0) -> bool:
    """True when the interval holds `at` (0 for a gain, 1 for a ratio): no change is not excluded."""
    return iv is not None and iv[0] <= at <= iv[1]
