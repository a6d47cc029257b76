"""The rows of a report: one per results JSON, with its scores and gains against a baseline.

Results files are rows named by their run, compared with the run named as baseline.
An experiment directory (`experiment.json`, `<variant>/results/<phase>.json` as the
experiment runner writes them: `cip eval`'s keys plus variant, phase, phase_index,
step, tokens seen so far, mixture, scale) has a row per variant and phase of its
recipe, results or not, labelled as in the paper ("balanced→text, after phase 1"),
with the paper's 470M figures where it has the row.

An experiment's baseline is the paper's: text-only at the same stage (cooldown or
not) and token count; text-only results are the phases of `text_only` and
`code_sweep_0`. Where none saw the same number of tokens, the row falls back to
`text_only` at the same stage, with baseline_same_tokens False (e.g. "balanced→text,
after phase 1" against the 400B text-only model when no 200B one was run). The
paper's own gains follow the same rule over its rows.

Every score carries its bootstrap standard error (`<key>_se`, from the results), and
every gain its 95% interval (`<key>_gain_lo`, `<key>_gain_hi`), bootstrapped over
the examples of both results alike (uncertainty.py); None where the results keep no
per-example values. Keys starting with "_" hold what the intervals are computed
from and are left out of the CSV.
"""

from __future__ import annotations

import itertools
import json

from etils import epath

from code_in_pretraining.eval import paper_figures, uncertainty
from code_in_pretraining.eval.aggregate import relative_gain
from code_in_pretraining.train import recipes

METRICS = {"reason": "Reason", "know": "Know", "nl_avg": "NL Avg", "code": "Code", "total_avg": "Total"}
GROUPS = ("reason", "know", "code")  # the paper's groups, and the figures it publishes
BPB = {f"{g}_bpb": f"{METRICS[g]} BPB" for g in GROUPS}  # bits per byte of the gold continuations
SCORES = {**METRICS, **BPB}
MAIN_GRID = ("text_only", "balanced_only", "balanced_to_text", "code_to_text")
TEXT_ONLY = ("text_only", "code_sweep_0")  # in order of preference as a baseline
NAMES = {  # display names, in the order rows are listed
    "text_only": "text-only",
    "balanced_only": "balanced-only",
    "balanced_to_text": "balanced→text",
    "code_to_text": "code→text",
    **{f"code_sweep_{p}": f"{p}% code" for p in (0, 25, 50, 75, 90, 100)},
    "code_quality_web": "code only: web code",
    "code_quality_markup": "code only: web + markup",
    "code_quality_adjacent": "code only: + code-adjacent",
    "code_quality_synth": "code only: + synthetic",
    "balanced_synth_to_text": "balanced+synth→text",
    "cooldown_with_code": "balanced→text (cooldown with code)",
    "cooldown_no_code": "balanced→text (cooldown without code)",
}


def _read(path: epath.Path, required: tuple[str, ...]) -> dict:
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not a results JSON: {e}") from None
    missing = [k for k in required if not isinstance(result, dict) or k not in result]
    if missing:
        raise ValueError(f"{path} is not a results JSON of `cip eval`: no {missing[0]!r} key")
    return result


def load_results(paths) -> list[dict]:
    """Results JSONs of `cip eval`, each named by its "name" or else its file name."""
    return [{"name": p.stem, **_read(p, ("tasks", "aggregates"))} for p in map(epath.Path, paths)]


def load_experiment(path) -> dict:
    """{"meta": experiment.json (or {}), "root", "results": {(variant, phase): results JSON}, "win_rates":
    win_rates.json's pairs (or [])}; results files without aggregates (an evaluation in progress) are
    left out. Local or gs://."""
    root = epath.Path(path)
    meta_path = root / "experiment.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    results = {}
    for f in sorted(root.glob("*/results/*.json")):
        r = _read(f, ())
        if "aggregates" in r:
            results[(r.get("variant", f.parents[1].name), r.get("phase", f.stem))] = r
    win_rates = json.loads((root / "win_rates.json").read_text()) if (root / "win_rates.json").exists() else []
    if not isinstance(win_rates, list) or not all(isinstance(w, dict) and "win_rate" in w for w in win_rates):
        raise ValueError(f"{root / 'win_rates.json'} is not a list of win-rate pairs (`cip experiment --judge-url`)")
    return {"meta": meta, "root": str(root), "results": results, "win_rates": win_rates}


def _recipe(variant: str) -> tuple:
    try:
        return recipes.get_recipe(variant)
    except KeyError:
        return ()


def is_cooldown(phase: str, variant: str | None = None) -> bool:
    """A phase named "cooldown", or one the recipe runs on the cooldown schedule."""
    return phase == "cooldown" or any(ph.name == phase and ph.schedule == "cooldown" for ph in _recipe(variant))


def label(variant: str, phase: str, phases: list[str]) -> str:
    """"X + cooldown", "X, after phase k" when X has several phases before its cooldown, else "X"."""
    name = NAMES.get(variant, variant)
    if is_cooldown(phase, variant):
        return f"{name} + cooldown"
    before = [p for p in phases if not is_cooldown(p, variant)]
    if len(before) > 1 and phase in before:
        return f"{name}, after phase {before.index(phase) + 1}"
    return name


def variants_of(experiment: dict) -> list[str]:
    """The main grid, then what experiment.json lists or results exist for (NAMES order, then by name)."""
    named = set(experiment["meta"].get("variants", [])) | {v for v, _ in experiment["results"]}
    known = [v for v in NAMES if v in named and v not in MAIN_GRID]
    return [*MAIN_GRID, *known, *sorted(named - set(NAMES))]


def phases_of(variant: str, results: dict) -> list[str]:
    if recipe := _recipe(variant):
        return [ph.name for ph in recipe]
    found = [(r.get("phase_index", 0), p) for (v, p), r in results.items() if v == variant]
    return [p for _, p in sorted(found)]


def scores(result: dict | None) -> dict:
    """Training tokens seen, the aggregates with their standard errors and the tasks they cover
    ("7/11 2/2 2/2"); None without a result."""
    agg = result["aggregates"] if result else {}
    row = {"tokens": result.get("tokens") if result else None,
           **{key: agg.get(key) for k in SCORES for key in (k, f"{k}_se")}}
    row["tasks"] = " ".join(agg.get(f"{g}_available", "?") for g in GROUPS) if result else None
    row["_tasks"], row["_draws"] = (result or {}).get("tasks"), {}
    row["_perplexity"] = (result or {}).get("perplexity") or {}  # held-out source -> {"perplexity", ...}
    return row


def draws(row: dict, key: str):
    """Bootstrap draws of one of the row's SCORES (None without per-example values), computed once."""
    if key not in row["_draws"]:
        row["_draws"][key] = uncertainty.draws(row["_tasks"], key) if row["_tasks"] else None
    return row["_draws"][key]


def gain_interval(row: dict, base: dict, key: str, ratio: bool = False) -> tuple[float, float] | None:
    """The 95% interval of row's gain (or ratio) over base in `key`."""
    return uncertainty.interval(uncertainty.gain_draws(draws(row, key), draws(base, key), ratio))


def set_gains(row: dict, base: dict | None, same_tokens: bool | None, prefix: str = "", keys=SCORES) -> None:
    """The baseline's label, whether it saw the same tokens, and the relative gain of each of `keys`
    (with its interval, for this experiment's own rows)."""
    row[f"{prefix}baseline"] = base["label"] if base else None
    row[f"{prefix}baseline_same_tokens"] = same_tokens if base else None
    for k in keys:
        row[f"{prefix}{k}_gain"] = relative_gain(row[f"{prefix}{k}"], base[f"{prefix}{k}"]) if base else None
        if not prefix:
            iv = gain_interval(row, base, k) if base and row[f"{k}_gain"] is not None else None
            row[f"{k}_gain_lo"], row[f"{k}_gain_hi"] = iv or (None, None)


def run_rows(runs: list[dict], baseline: str | None = None) -> list[dict]:
    """One row per run; with a baseline (a run's name), gains against it."""
    rows = [{"variant": r["name"], "label": r["name"], **scores(r)} for r in runs]
    if baseline is not None:
        base = next((r for r in rows if r["variant"] == baseline), None)
        if base is None:
            raise ValueError(f"unknown baseline {baseline!r}; the runs are {[r['variant'] for r in rows]}")
        for row in rows:
            set_gains(row, base, None)
    return rows


def _paper_tokens(variant: str) -> list[int]:
    """Cumulative training tokens at the end of each phase at the paper's budgets."""
    return list(itertools.accumulate(ph.tokens for ph in _recipe(variant)))


def _phase_row(variant: str, index: int, phase: str, phases: list[str], result: dict | None) -> dict:
    row = {"variant": variant, "phase": phase, "phase_index": index, "label": label(variant, phase, phases),
           "stage": "cooldown" if is_cooldown(phase, variant) else "pretrain", **scores(result)}
    paper_tokens = _paper_tokens(variant)
    row["paper_tokens"] = paper_tokens[index] if index < len(paper_tokens) else None
    published = paper_figures.published(variant, phase) or {}
    row.update({f"paper_{k}": published.get(k) for k in GROUPS})
    return row


def _text_only_baseline(row: dict, rows: list[dict], prefix: str, keys) -> tuple[dict | None, bool]:
    """The text-only row to compare `row` with, and whether it saw the same tokens."""
    if all(row[f"{prefix}{k}"] is None for k in keys):
        return None, False
    tokens = row[f"{prefix}tokens"]
    stage = [b for b in rows if b["variant"] in TEXT_ONLY and b["stage"] == row["stage"]
             and any(b[f"{prefix}{k}"] is not None for k in keys)]
    stage.sort(key=lambda b: TEXT_ONLY.index(b["variant"]))
    same = [b for b in stage if tokens is not None and b[f"{prefix}tokens"] == tokens]
    if same:
        return same[0], True
    fallback = [b for b in stage if b["variant"] == "text_only"]
    return (fallback[-1], False) if fallback else (None, False)


def experiment_rows(experiment: dict) -> list[dict]:
    """One row per variant and phase; None where a result or a figure is missing."""
    rows = []
    for variant in variants_of(experiment):
        phases = phases_of(variant, experiment["results"])
        rows += [_phase_row(variant, i, phase, phases, experiment["results"].get((variant, phase)))
                 for i, phase in enumerate(phases)]
    for row in rows:
        set_gains(row, *_text_only_baseline(row, rows, "", SCORES))
        set_gains(row, *_text_only_baseline(row, rows, "paper_", GROUPS), "paper_", GROUPS)
    return rows
