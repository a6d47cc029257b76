"""The headline table of an experiment directory, in PAPER.md's layout.

An experiment directory holds `experiment.json` and, per variant (recipe),
`<variant>/results/<phase>.json` as written by `cip eval` plus the keys variant,
phase, phase_index, step, tokens (training tokens seen up to that checkpoint, all
phases so far), mixture and scale. One row per variant and
phase, labelled as in the paper ("balanced→text, after phase 1", "text-only +
cooldown"), with Reason / Know / NL Avg / Code / Total, the relative gain of each
against a text-only baseline, and the paper's 470M figures where it has the row.

Baseline rule (the paper's baseline is text-only at the same token budget): a row
is compared with the text-only result of the same stage (cooldown or not) that saw
the same number of training tokens; text-only results are the phases of
`text_only` and `code_sweep_0` (100% text). Where none saw the same number, the
row falls back to `text_only` at the same stage, and the table marks that baseline
with "*" (e.g. "balanced→text, after phase 1" against the 400B text-only model
when no 200B text-only model was run). A missing result or baseline is "—".
"""

from __future__ import annotations

import csv
import io
import json
import pathlib

from code_in_pretraining.eval import findings, paper_figures
from code_in_pretraining.eval.aggregate import relative_gain
from code_in_pretraining.train.recipes import RECIPES

MAIN_GRID = ("text_only", "balanced_only", "balanced_to_text", "code_to_text")
TEXT_ONLY = ("text_only", "code_sweep_0")  # in order of preference as a baseline
METRICS = (("reason", "Reason"), ("know", "Know"), ("nl_avg", "NL Avg"), ("code", "Code"), ("total_avg", "Total"))
PAPER_METRICS = ("reason", "know", "code")
GROUPS = ("reason", "know", "code")
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
MISSING = "—"


def display_name(variant: str) -> str:
    return NAMES.get(variant, variant)


def is_cooldown(phase: str, variant: str | None = None) -> bool:
    """A phase named "cooldown", or one the recipe table runs on the cooldown schedule."""
    recipe = {ph.name: ph for ph in RECIPES.get(variant, ())}
    return phase == "cooldown" or (phase in recipe and recipe[phase].schedule == "cooldown")


def label(variant: str, phase: str, phases: list[str]) -> str:
    """"X + cooldown", "X, after phase k" when X has several phases before its cooldown, else "X"."""
    name = display_name(variant)
    if is_cooldown(phase, variant):
        return f"{name} + cooldown"
    before = [p for p in phases if not is_cooldown(p, variant)]
    if len(before) > 1 and phase in before:
        return f"{name}, after phase {before.index(phase) + 1}"
    return name


def load_experiment(path) -> dict:
    """{"meta": experiment.json (or {}), "results": {(variant, phase): results JSON}}."""
    root = pathlib.Path(path)
    meta_path = root / "experiment.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    results = {}
    for f in sorted(root.glob("*/results/*.json")):
        r = json.loads(f.read_text())
        if "aggregates" not in r:
            continue
        results[(r.get("variant", f.parents[1].name), r.get("phase", f.stem))] = r
    return {"meta": meta, "root": str(root), "results": results}


def variants_of(experiment: dict) -> list[str]:
    """The main grid, then what experiment.json lists or results exist for (NAMES order, then by name)."""
    named = set(experiment["meta"].get("variants", [])) | {v for v, _ in experiment["results"]}
    known = [v for v in NAMES if v in named and v not in MAIN_GRID]
    return [*MAIN_GRID, *known, *sorted(named - set(NAMES))]


def phases_of(variant: str, results: dict) -> list[str]:
    if variant in RECIPES:
        return [ph.name for ph in RECIPES[variant]]
    found = [(r.get("phase_index", 0), p) for (v, p), r in results.items() if v == variant]
    return [p for _, p in sorted(found)]


def _paper_tokens(variant: str) -> list[int | None]:
    """Cumulative training tokens at the end of each phase at the paper's budgets."""
    if variant not in RECIPES:
        return []
    out, total = [], 0
    for ph in RECIPES[variant]:
        total += ph.tokens
        out.append(total)
    return out


def _base_row(variant: str, index: int, phase: str, phases: list[str], result: dict | None) -> dict:
    agg = result["aggregates"] if result else {}
    row = {"variant": variant, "phase": phase, "phase_index": index, "label": label(variant, phase, phases),
           "stage": "cooldown" if is_cooldown(phase, variant) else "pretrain",
           "tokens": result.get("tokens") if result else None}
    row.update({k: agg.get(k) for k, _ in METRICS})
    row["tasks"] = " ".join(agg.get(f"{g}_available", "?") for g in GROUPS) if result else None
    paper_tokens = _paper_tokens(variant)
    row["paper_tokens"] = paper_tokens[index] if index < len(paper_tokens) else None
    published = paper_figures.published(variant, phase) or {}
    row.update({f"paper_{k}": published.get(k) for k in PAPER_METRICS})
    return row


def _baseline(row: dict, rows: list[dict], prefix: str, keys) -> tuple[dict | None, bool]:
    """The text-only row to compare `row` with, and whether it saw the same tokens."""
    tokens = row[f"{prefix}tokens"]
    stage = [b for b in rows if b["variant"] in TEXT_ONLY and b["stage"] == row["stage"]
             and any(b[f"{prefix}{k}"] is not None for k in keys)]
    stage.sort(key=lambda b: TEXT_ONLY.index(b["variant"]))
    same = [b for b in stage if tokens is not None and b[f"{prefix}tokens"] == tokens]
    if same:
        return same[0], True
    fallback = [b for b in stage if b["variant"] == "text_only"]
    return (fallback[-1], False) if fallback else (None, False)


def _add_gains(rows: list[dict]) -> None:
    for row in rows:
        has_ours = any(row[k] is not None for k, _ in METRICS)
        has_paper = any(row[f"paper_{k}"] is not None for k in PAPER_METRICS)
        base, same = _baseline(row, rows, "", [k for k, _ in METRICS]) if has_ours else (None, False)
        row["baseline"] = base["label"] if base else None
        row["baseline_same_tokens"] = same if base else None
        for k, _ in METRICS:
            row[f"{k}_gain"] = relative_gain(row[k], base[k]) if base else None
        pbase, psame = _baseline(row, rows, "paper_", PAPER_METRICS) if has_paper else (None, False)
        row["paper_baseline"] = pbase["label"] if pbase else None
        row["paper_baseline_same_tokens"] = psame if pbase else None
        for k in PAPER_METRICS:
            row[f"paper_{k}_gain"] = relative_gain(row[f"paper_{k}"], pbase[f"paper_{k}"]) if pbase else None


def table(experiment: dict) -> list[dict]:
    """One flat row per variant and phase; None where a result or a figure is missing."""
    rows = []
    for variant in variants_of(experiment):
        phases = phases_of(variant, experiment["results"])
        for i, phase in enumerate(phases):
            rows.append(_base_row(variant, i, phase, phases, experiment["results"].get((variant, phase))))
    _add_gains(rows)
    return rows


def _num(v) -> str:
    return MISSING if v is None else f"{v:.1f}"


def _pct(v) -> str:
    return MISSING if v is None else f"{v:+.1f}%"


def format_tokens(n) -> str:
    if n is None:
        return MISSING
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def _baseline_cell(row: dict, prefix: str = "") -> str:
    base = row[f"{prefix}baseline"]
    if base is None:
        return MISSING
    return base if row[f"{prefix}baseline_same_tokens"] else base + "*"


def _gain_cell(row: dict, key: str, prefix: str = "") -> str:
    """The gain, with "*" where its baseline saw another number of tokens."""
    cell = _pct(row[f"{prefix}{key}_gain"])
    return cell + "*" if cell != MISSING and row[f"{prefix}baseline_same_tokens"] is False else cell


def _md_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def headline_markdown(rows: list[dict]) -> str:
    head = ["variant and phase", "tokens"] + [t for _, t in METRICS] + [f"{t} gain" for _, t in METRICS]
    head += ["baseline", "tasks (R K C)"]
    body = [[r["label"], format_tokens(r["tokens"])] + [_num(r[k]) for k, _ in METRICS]
            + [_pct(r[f"{k}_gain"]) for k, _ in METRICS] + [_baseline_cell(r), r["tasks"] or MISSING]
            for r in rows]
    return _md_table(head, body)


def paper_markdown(rows: list[dict]) -> str:
    """Ours beside the paper's 470M figures, for the rows the paper has."""
    head = ["variant and phase"]
    for k in PAPER_METRICS:
        title = dict(METRICS)[k]
        head += [title, f"{title} (paper)"]
    for k in PAPER_METRICS:
        title = dict(METRICS)[k]
        head += [f"{title} gain", f"{title} gain (paper)"]
    body = []
    for r in rows:
        if all(r[f"paper_{k}"] is None for k in PAPER_METRICS):
            continue
        cells = [r["label"]]
        for k in PAPER_METRICS:
            cells += [_num(r[k]), _num(r[f"paper_{k}"])]
        for k in PAPER_METRICS:
            cells += [_gain_cell(r, k), _gain_cell(r, k, "paper_")]
        body.append(cells)
    return _md_table(head, body)


def perplexity_markdown(experiment: dict, rows: list[dict]) -> str | None:
    """Held-out perplexity per source and phase, where the results carry it (small models sit near
    chance on the benchmarks, while perplexity still separates the mixtures)."""
    ppl = [(experiment["results"].get((r["variant"], r["phase"])) or {}).get("perplexity") or {} for r in rows]
    tasks = sorted({t for p in ppl for t in p})
    if not tasks:
        return None
    body = [[r["label"], format_tokens(r["tokens"]),
             *(f"{p[t]['perplexity']:.2f}" if t in p else MISSING for t in tasks)] for r, p in zip(rows, ppl)]
    return _md_table(["variant and phase", "tokens", *(f"{t} ppl" for t in tasks)], body)


def markdown(experiment: dict, rows: list[dict]) -> str:
    meta = experiment["meta"]
    done = sum(r["reason"] is not None or r["code"] is not None for r in rows)
    title = (f"# Experiment report: {experiment['root']}\n\ngrid {meta.get('grid', MISSING)}, "
             f"scale {meta.get('scale', MISSING)}; {done} of {len(rows)} rows have results.")
    notes = ("Gains are (variant − baseline) / baseline against text-only at the same stage and token count; "
             "a baseline marked * saw a different number of tokens (no text-only result at this budget). "
             "— : no result yet. Scores over the tasks available (tasks: available/total per group).")
    paper_notes = ("The paper's figures are for 470M models at the full token budgets; its gains use the "
                   "same baseline rule over its own rows (* : against text-only at another token budget).")
    sections = [title, "## Headline table", headline_markdown(rows), notes]
    ppl = perplexity_markdown(experiment, rows)
    if ppl:
        sections += ["## Held-out perplexity (lower is better)", ppl]
    sections += ["## Beside the paper (470M, PAPER.md)", paper_markdown(rows), paper_notes,
                 "## The paper's findings, measured here", findings.markdown(rows)]
    return "\n\n".join(sections)


def to_csv(rows: list[dict]) -> str:
    """All columns; a missing value is an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    return buf.getvalue()


def write(path, out=None, *, plots: bool = True) -> tuple[str, list[pathlib.Path]]:
    """Writes report.md, report.csv and the plots into `out` (default DIR/report)."""
    from code_in_pretraining.eval import plots as plots_mod

    experiment = load_experiment(path)
    rows = table(experiment)
    md = markdown(experiment, rows)
    out = pathlib.Path(out) if out else pathlib.Path(path) / "report"
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.csv"]
    written[0].write_text(md + "\n")
    written[1].write_text(to_csv(rows))
    if plots:
        written += plots_mod.write_all(rows, out)
    return md, written
