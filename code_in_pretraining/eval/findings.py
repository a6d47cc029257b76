"""The paper's stated findings (PAPER.md, via paper_figures), measured on an experiment's rows.

Each finding compares two of this experiment's rows the way the paper compares its
models; where a row is missing the measured value is None. The synthetic-code
finding's comparison model is not named in PAPER.md: here it is the ablation step
that adds synthetic code (code_quality_adjacent -> code_quality_synth).
"""

from __future__ import annotations

from code_in_pretraining.eval import paper_figures as P
from code_in_pretraining.eval import win_rate_report
from code_in_pretraining.eval.aggregate import relative_gain
from code_in_pretraining.eval.report_rows import GROUPS, METRICS
from code_in_pretraining.eval.report_tables import md_table, pct

SWEEP = (0, 25, 50, 75, 90, 100)


def _get(rows: list[dict], variant: str, phase: str, key: str):
    return next((r[key] for r in rows if r["variant"] == variant and r["phase"] == phase), None)


def _gain(rows, key, variant, phase, base_variant, base_phase):
    return relative_gain(_get(rows, variant, phase, key), _get(rows, base_variant, base_phase, key))


def _ratio(value, base):
    return None if value is None or not base else value / base


def _reason_peak(rows):
    """The sweep's code share with the best Reason; None with fewer than two sweep results."""
    scores = {p: _get(rows, f"code_sweep_{p}", "pretrain", "reason") for p in SWEEP}
    scores = {p: v for p, v in scores.items() if v is not None}
    return max(scores, key=scores.get) if len(scores) > 1 else None


def findings(rows: list[dict], win_rates=()) -> list[dict]:
    """[{"finding", "unit", "ours", "paper"}] for each finding PAPER.md states (win-rates: DIR/win_rates.json)."""
    b2t = ("balanced_to_text", "continued", "text_only", "pretrain")
    sweep = ("code_sweep_100", "pretrain", "code_sweep_0", "pretrain")
    synth = ("code_quality_synth", "pretrain", "code_quality_adjacent", "pretrain")
    cool = ("cooldown_with_code", "cooldown", "cooldown_no_code", "cooldown")
    b2t_code = _ratio(_get(rows, b2t[0], b2t[1], "code"), _get(rows, b2t[2], b2t[3], "code"))
    out = [
        ("Reason gain, balanced→text after phase 2 vs text-only", "%", _gain(rows, "reason", *b2t),
         P.HEADLINE_GAINS["reason"]),
        ("Know gain, balanced→text after phase 2 vs text-only", "%", _gain(rows, "know", *b2t),
         P.HEADLINE_GAINS["know"]),
        ("Code, balanced→text after phase 2 over text-only", "x", b2t_code, P.HEADLINE_GAINS["code_ratio"]),
        ("Code share where Reason peaks in the sweep", "% code", _reason_peak(rows),
         P.SWEEP_FINDINGS["reason_peak_code_percent"]),
        ("Know at 100% code vs 0% code", "%", _gain(rows, "know", *sweep),
         P.SWEEP_FINDINGS["know_gain_at_100_percent_code"]),
        ("Reason gain of 10% synthetic code (code only)", "%", _gain(rows, "reason", *synth), P.SYNTH_GAINS["reason"]),
        ("Code gain of 10% synthetic code (code only)", "%", _gain(rows, "code", *synth), P.SYNTH_GAINS["code"]),
    ]
    for key in GROUPS:
        out.append((f"{METRICS[key]} gain of a cooldown with code vs without", "%", _gain(rows, key, *cool),
                    P.COOLDOWN_WITH_CODE_GAINS[key]))
    out += win_rate_report.findings(win_rates)
    return [{"finding": f, "unit": u, "ours": o, "paper": p} for f, u, o, p in out]


def _cell(v, unit: str) -> str:
    if v is None or unit == "%":
        return pct(v)
    return f"{v:.1f}x" if unit == "x" else f"{v:g}"


def markdown(rows: list[dict], win_rates=()) -> str:
    body = [[f["finding"], _cell(f["ours"], f["unit"]), _cell(f["paper"], f["unit"])] for f in findings(rows, win_rates)]
    return md_table(["finding", "this experiment", "paper (470M)"], body)
