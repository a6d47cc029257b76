"""The paper's aggregates from per-task scores.

Reason = mean accuracy over the NL-reasoning tasks, Know = mean exact match of
TriviaQA and NQ-Open, Code = mean pass@1 of HumanEval and MBPP;
NL Avg = (Reason + Know) / 2, Total Avg = (Reason + Know + Code) / 3.

Where a group's tasks are not all available, `<group>` is the mean over those
that are (with `<group>_available` = "k/n") and `<group>_paper` is None: the
paper's own average needs all of them. Both are reported, never silently mixed.
"""

from __future__ import annotations

import statistics

from code_in_pretraining.eval.benchmarks import GROUPS, PAPER_GROUPS


def aggregates(tasks: dict[str, dict]) -> dict:
    out: dict = {}
    for group in GROUPS:
        names = PAPER_GROUPS[group]
        scores = [tasks[n]["score"] for n in names if tasks.get(n, {}).get("available")]
        out[group] = statistics.fmean(scores) if scores else None
        out[f"{group}_available"] = f"{len(scores)}/{len(names)}"
        out[f"{group}_paper"] = out[group] if len(scores) == len(names) else None
        out[f"{group}_missing"] = [n for n in names if not tasks.get(n, {}).get("available")]
    r, k, c = out["reason"], out["know"], out["code"]
    out["nl_avg"] = (r + k) / 2 if None not in (r, k) else None
    out["total_avg"] = (r + k + c) / 3 if None not in (r, k, c) else None
    return out


def relative_gain(value: float | None, baseline: float | None) -> float | None:
    """(value - baseline) / baseline in percent; None when undefined."""
    if value is None or baseline is None or baseline == 0:
        return None
    return 100.0 * (value - baseline) / baseline
