"""The report's win-rates: an experiment's LLM-as-a-judge pairs (DIR/win_rates.json) beside the paper's.

`sections` is the report's table and its note; `findings` measures the paper's two win-rate
findings on the pairs that compare the same models (findings.py adds them to its table).
"""

from __future__ import annotations

from code_in_pretraining.eval import paper_figures as P
from code_in_pretraining.eval.findings import finding
from code_in_pretraining.eval.report_rows import label, phases_of
from code_in_pretraining.eval.report_tables import MISSING, md_table

HEAD = ["model", "against", "judgements", "wins", "ties", "losses", "win rate %", "wins − losses %", "paper"]


def _label(experiment: dict, variant: str, phase: str) -> str:
    return label(variant, phase, phases_of(variant, experiment["results"]))


def _with_se(value, se) -> str:
    return MISSING if value is None else f"{value:.1f}" + ("" if se is None else f" ± {se:.1f}")


def _paper(pair: dict) -> str:
    paper = pair.get("paper") or {}
    cells = [f"win rate {paper['win_rate']:g}"] if "win_rate" in paper else []
    cells += [f"wins − losses {paper['win_minus_loss']:+g}"] if "win_minus_loss" in paper else []
    return ", ".join(cells) or MISSING


def _note(pairs: list[dict]) -> str:
    setup = pairs[0]["setup"]
    prompts, judge = setup["prompts"], setup["judge"]
    if prompts["dolly"]:
        source = (f"{prompts['drawn']} of the {prompts['records']} records of {prompts['file']} (sha256 "
                  f"{prompts['sha256']}), drawn with random.Random({prompts['seed']})")
    else:
        source = (f"the project's own {prompts['drawn']} instructions, not Dolly (`--judge-prompts` takes a copy "
                  f"of databricks-dolly-15k.jsonl)")
    unparsed, total = sum(p["unparsed"] for p in pairs), sum(p["judgements"] for p in pairs)
    return (f"Prompts: {source}. Answers are greedy, up to {setup['max_tokens']} tokens; judge `{judge['model']}` "
            f"at {judge['url']}. Each prompt is judged in both orders, so position bias cancels and judgements are "
            f"twice the prompts; a tie, or a verdict the judge's answer does not state ({unparsed} of {total} "
            f"judgements), is not a win. ± is one standard error over prompts. The paper's figures are its 470M "
            f"models' (PAPER.md; its +6.6 is the abstract's \"improvement in generative win-rates\" over "
            f"text-only, read here as wins − losses).")


def sections(experiment: dict) -> list[str]:
    """The win-rate table and its note; nothing when the experiment has no win-rates."""
    pairs = experiment.get("win_rates") or []
    if not pairs:
        return []
    body = [[_label(experiment, p["variant"], p["phase"]), _label(experiment, p["against"], p["against_phase"]),
             str(p["judgements"]), str(p["wins"]), str(p["ties"]), str(p["losses"]),
             _with_se(p["win_rate"], p["win_rate_se"]), _with_se(p["win_minus_loss"], p["win_minus_loss_se"]),
             _paper(p)] for p in pairs]
    return ["## Win-rates (LLM-as-a-judge)", md_table(HEAD, body, left=2), _note(pairs)]


def _measured(win_rates, key: tuple[str, str, str, str], field: str) -> dict | None:
    pair = next((p for p in win_rates if (p["variant"], p["phase"], p["against"], p["against_phase"]) == key), None)
    return None if pair is None or pair[field] is None else pair


def _finding(text: str, where: str, pair: dict | None, field: str, paper: float, unit: str) -> dict:
    """A findings row (findings.finding) with the measured value's 95% interval (± 1.96 standard errors)."""
    if pair is None:
        return finding(text, where, unit, None, paper, missing=["the judge (--judge-url)"])
    value, se = pair[field], pair[f"{field}_se"]
    interval = None if se is None else (value - 1.96 * se, value + 1.96 * se)
    return finding(text, where, unit, value, paper, interval)


def findings(win_rates) -> list[dict]:
    """The paper's win-rate findings (PAPER.md's 52.3%; the abstract's 6.6%) as findings rows.
    A cooldown with code is cooldown_with_code's, else balanced_to_text's (the same recipe)."""
    cooldown = next((p for p in (_measured(win_rates, (v, "cooldown", v, "continued"), "win_rate")
                                 for v in ("cooldown_with_code", "balanced_to_text")) if p is not None), None)
    gain = _measured(win_rates, ("balanced_to_text", "continued", "text_only", "pretrain"), "win_minus_loss")
    return [_finding("Win-rate gain, balanced→text after phase 2 vs text-only (wins − losses, points of "
                     "judgements)", "abstract", gain, "win_minus_loss", P.WIN_RATE_GAIN_OVER_TEXT_ONLY, "pp"),
            _finding("Win-rate of a cooldown with code vs no cooldown (% of judgements won)", P.WHERE["cooldown"],
                     cooldown, "win_rate",
                     P.COOLDOWN_WIN_RATE, "% won")]
