"""The paper's stated findings (paper_figures), measured on an experiment's rows.

Each finding compares two of this experiment's rows the way the paper compares its
models, with a 95% interval bootstrapped over both rows' examples alike
(report_rows.gain_interval), and says where the paper states it. Where a model was
not run the finding says which ("not run: 25% code"). A model that two grids share
is looked up under each name it has: no cooldown is balanced→text after phase 2,
whether the cooldown grid or the paper grid trained it.

Findings measured elsewhere (the judge's win-rates) join through
`findings(rows, extra)`, as dicts made by `finding`.
"""

from __future__ import annotations

import numpy as np

from code_in_pretraining.eval import paper_figures as P
from code_in_pretraining.eval import report_rows
from code_in_pretraining.eval.aggregate import relative_gain
from code_in_pretraining.eval.report_rows import METRICS
from code_in_pretraining.eval.report_tables import MISSING, NOISE, interval_cell, md_table

SWEEP = (0, 25, 50, 75, 90, 100)
# (variant, phase) names of one model, in order of preference.
TEXT_ONLY = (("text_only", "pretrain"),)
B2T = (("balanced_to_text", "continued"), ("cooldown_with_code", "continued"), ("cooldown_no_code", "continued"))
NO_COOLDOWN = (("cooldown_with_code", "continued"), ("cooldown_no_code", "continued"),
               ("balanced_to_text", "continued"))
COOLDOWN_WITH_CODE = (("cooldown_with_code", "cooldown"), ("balanced_to_text", "cooldown"))
COOLDOWN_NO_CODE = (("cooldown_no_code", "cooldown"),)
B_SYNTH2T = (("balanced_synth_to_text", "continued"),)
WEB_CODE = (("code_quality_web", "pretrain"),)
WEB_CODE_SYNTH = (("code_quality_synth", "pretrain"),)


def sweep(percent: int) -> tuple:
    return ((f"code_sweep_{percent}", "pretrain"),)


def finding(text: str, where: str, unit: str, ours, paper, interval=None, missing=(), support=None,
            why: str | None = None) -> dict:
    """One row of the findings table. unit: "%" (a relative gain), "x" (a ratio) or "% code"; interval: the
    95% interval of `ours`; missing: the models not run; support: the share of bootstrap draws that agree;
    why: what stands in the table where `ours` is None although both models ran."""
    lo, hi = interval or (None, None)
    return {"finding": text, "where": where, "unit": unit, "ours": ours, "lo": lo, "hi": hi, "paper": paper,
            "missing": list(missing), "support": support, "why": why}


def model_row(rows: list[dict], names) -> dict | None:
    """The first of the names of one model (variant, phase) that has a result."""
    return next((r for v, p in names for r in rows if (r["variant"], r["phase"]) == (v, p)
                 and r["tasks"] is not None), None)


def _name(names) -> str:
    variant, phase = names[0]
    return report_rows.label(variant, phase, report_rows.phases_of(variant, {}))


def _compare(rows, text, where, key, names, base_names, paper, ratio=False) -> dict:
    a, b = model_row(rows, names), model_row(rows, base_names)
    missing = [_name(n) for n, r in ((names, a), (base_names, b)) if r is None]
    if missing:
        return finding(text, where, "x" if ratio else "%", None, paper, missing=missing)
    if ratio:
        value = None if a[key] is None or not b[key] else a[key] / b[key]
    else:
        value = relative_gain(a[key], b[key])
    interval = report_rows.gain_interval(a, b, key, ratio) if value is not None else None
    why = None if value is not None else "baseline 0.0: undefined" if b[key] == 0 else "not measured"
    return finding(text, where, "x" if ratio else "%", value, paper, interval, why=why)


def _reason_peak(rows) -> dict:
    """The sweep's code share with the best Reason, and the share of bootstrap draws that peak there."""
    text, paper = "Code share where Reason peaks in the sweep", P.SWEEP_FINDINGS["reason_peak_code_percent"]
    found = {p: r for p in SWEEP if (r := model_row(rows, sweep(p))) is not None and r["reason"] is not None}
    if len(found) < 2:
        missing = [_name(sweep(p)) for p in SWEEP if p not in found] if found else ["the code_sweep grid"]
        return finding(text, P.WHERE["sweep"], "% code", None, paper, missing=missing)
    peak = max(found, key=lambda p: found[p]["reason"])
    draws = [report_rows.draws(r, "reason") for r in found.values()]
    support = None
    if all(d is not None for d in draws):
        support = float(np.mean(np.argmax(np.stack(draws), axis=0) == list(found).index(peak)))
    return finding(text, P.WHERE["sweep"], "% code", peak, paper, support=support)


def findings(rows: list[dict], extra=()) -> list[dict]:
    """Each finding the paper states (see paper_figures), measured on this experiment's rows, then `extra`."""
    head, sw, q, cool = P.HEADLINE_GAINS, P.SWEEP_FINDINGS, P.SYNTH_GAINS, P.COOLDOWN_WITH_CODE_GAINS
    at = P.WHERE
    out = [
        _compare(rows, "Reason gain, balanced→text after phase 2 vs text-only", at["headline"], "reason", B2T,
                 TEXT_ONLY, head["reason"]),
        _compare(rows, "Know gain, balanced→text after phase 2 vs text-only", at["headline"], "know", B2T,
                 TEXT_ONLY, head["know"]),
        _compare(rows, "Code, balanced→text after phase 2 over text-only", at["headline"], "code", B2T, TEXT_ONLY,
                 head["code_ratio"], ratio=True),
        _reason_peak(rows),
        _compare(rows, "Reason gain at 25% code vs 0% code", at["sweep"], "reason", sweep(25), sweep(0),
                 sw["reason_gain_at_25_percent_code"]),
        _compare(rows, "Reason gain at 100% code vs 0% code", at["sweep"], "reason", sweep(100), sweep(0),
                 sw["reason_gain_at_100_percent_code"]),
        _compare(rows, "Know gain at 25% code vs 0% code", at["sweep"], "know", sweep(25), sweep(0),
                 sw["know_gain_at_25_percent_code"]),
        _compare(rows, "Know gain at 75% code vs 0% code", at["sweep"], "know", sweep(75), sweep(0),
                 sw["know_gain_at_75_percent_code"]),
        _compare(rows, "Know gain at 100% code vs 0% code", at["sweep"], "know", sweep(100), sweep(0),
                 sw["know_gain_at_100_percent_code"]),
        _compare(rows, "Code at 100% code over 25% code", at["sweep"], "code", sweep(100), sweep(25),
                 sw["code_ratio_100_vs_25_percent_code"], ratio=True),
        _compare(rows, "Reason gain of code only + synthetic vs web code only", at["quality"], "reason",
                 WEB_CODE_SYNTH, WEB_CODE, q["reason"]),
        _compare(rows, "Code gain of code only + synthetic vs web code only", at["quality"], "code",
                 WEB_CODE_SYNTH, WEB_CODE, q["code"]),
    ]
    out += [_compare(rows, f"{METRICS[k]} gain, balanced+synth→text vs balanced→text after phase 2",
                     at["quality"], k, B_SYNTH2T, B2T, None) for k in ("reason", "know", "code")]
    out += [_compare(rows, f"{METRICS[k]} gain of a cooldown with code vs no cooldown", at["cooldown"], k,
                     COOLDOWN_WITH_CODE, NO_COOLDOWN, cool[k]) for k in ("reason", "know", "code")]
    out.append(_compare(rows, "Know gain of a cooldown without code vs no cooldown", at["cooldown"], "know",
                        COOLDOWN_NO_CODE, NO_COOLDOWN, P.COOLDOWN_NO_CODE_GAINS["know"]))
    return out + list(extra)


def ours_cell(f: dict) -> str:
    if f["missing"]:
        return "not run: " + ", ".join(f["missing"])
    if f["ours"] is None:
        return f.get("why") or MISSING
    if f["unit"] == "% code":
        support = f" (in {100 * f['support']:.0f}% of resamples)" if f["support"] is not None else ""
        return f"{f['ours']:g}{support}"
    return interval_cell(f["ours"], f["lo"], f["hi"], f["unit"])


def paper_cell(f: dict) -> str:
    if f["paper"] is None:
        return "not stated"
    return f"{f['paper']:g}" if f["unit"] == "% code" else interval_cell(f["paper"], None, None, f["unit"])


NOTE = (f"Relative gains (ours − baseline) / baseline, ratios ours / baseline, each with its 95% interval "
        f"bootstrapped over both models' examples; {NOISE} marks an interval that contains no change (0% or 0 points, 1x for "
        f"a ratio); a value without one comes from results that keep no per-example values. The paper's values "
        f"are for 470M models at its full budgets; \"not stated\": the paper gives no figure this project records.")


def markdown(rows: list[dict], extra=()) -> str:
    body = [[f["finding"], f["where"], ours_cell(f), paper_cell(f)] for f in findings(rows, extra)]
    return md_table(["finding", "paper", "this experiment", "paper (470M)"], body, left=2) + "\n\n" + NOTE
