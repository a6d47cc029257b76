"""The paper's aggregates from per-task scores, with their bits per byte and standard errors.

Reason = mean score over the NL-reasoning tasks, Know = mean exact match of
TriviaQA and NQ-Open, Code = mean pass@1 of HumanEval and MBPP;
NL Avg = (Reason + Know) / 2, Total Avg = (Reason + Know + Code) / 3.
`<group>_bpb` is the mean over the same tasks of their gold continuations' bits per
byte (lower is better). `<key>_se` is each one's bootstrap standard error
(uncertainty.py), None for results without per-example values.

Where a group's tasks are not all available, `<group>` is the mean over those
that are (with `<group>_available` = "k/n") and `<group>_paper` is None: the
paper's own average needs all of them. Both are reported, never silently mixed.
"""

from __future__ import annotations

import statistics

from code_in_pretraining.eval import uncertainty
from code_in_pretraining.eval.benchmarks import GROUPS, PAPER_GROUPS


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def aggregates(tasks: dict[str, dict]) -> dict:
    out: dict = {}
    for group in GROUPS:
        names = PAPER_GROUPS[group]
        available = [tasks[n] for n in names if tasks.get(n, {}).get("available")]
        out[group] = _mean([t["score"] for t in available])
        out[f"{group}_available"] = f"{len(available)}/{len(names)}"
        out[f"{group}_paper"] = out[group] if len(available) == len(names) else None
        out[f"{group}_missing"] = [n for n in names if not tasks.get(n, {}).get("available")]
        out[f"{group}_bpb"] = _mean([t.get("bpb") for t in available])
    r, k, c = out["reason"], out["know"], out["code"]
    out["nl_avg"] = (r + k) / 2 if None not in (r, k) else None
    out["total_avg"] = (r + k + c) / 3 if None not in (r, k, c) else None
    for key in (*GROUPS, "nl_avg", "total_avg", *(f"{g}_bpb" for g in GROUPS)):
        out[f"{key}_se"] = uncertainty.standard_error(uncertainty.draws(tasks, key))
    return out


def relative_gain(value: float | None, baseline: float | None) -> float | None:
    """(value - baseline) / baseline in percent; None when undefined."""
    if value is None or baseline is None or baseline == 0:
        return None
    return 100.0 * (value - baseline) / baseline
