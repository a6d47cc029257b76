"""The report's tables, in Markdown and CSV, from the rows of report_rows.

A missing value prints "—" (a phase not run yet, a gain without a baseline); the
tokens of a result that does not record them (a `cip eval` run outside an
experiment) print "n/a".
"""

from __future__ import annotations

import csv
import io

from code_in_pretraining.eval.report_rows import GROUPS, METRICS

MISSING = "—"


def num(v) -> str:
    return MISSING if v is None else f"{v:.1f}"


def pct(v) -> str:
    return MISSING if v is None else f"{v:+.1f}%"


def tokens_cell(row: dict) -> str:
    n = row["tokens"]
    if n is None:
        return MISSING if row["tasks"] is None else "n/a"  # every result says which tasks it covers
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def _baseline_cell(row: dict, prefix: str = "") -> str:
    """The baseline, with "*" where it saw another number of tokens."""
    base = row[f"{prefix}baseline"]
    if base is None:
        return MISSING
    return base + "*" if row[f"{prefix}baseline_same_tokens"] is False else base


def _gain_cell(row: dict, key: str, prefix: str = "") -> str:
    cell = pct(row[f"{prefix}{key}_gain"])
    return cell + "*" if cell != MISSING and row[f"{prefix}baseline_same_tokens"] is False else cell


def md_table(head: list[str], body: list[list[str]], left: int = 1) -> str:
    """A Markdown table, its first `left` columns left-aligned and the rest right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * left + "---:|" * (len(head) - left)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def headline_markdown(rows: list[dict]) -> str:
    """Scores per row, and where the rows have a baseline each score's gain against it."""
    gains = any("baseline" in r for r in rows)
    head = ["variant and phase", "tokens", *METRICS.values()]
    head += [*(f"{t} gain" for t in METRICS.values()), "baseline"] if gains else []
    body = []
    for r in rows:
        cells = [r["label"], tokens_cell(r), *(num(r[k]) for k in METRICS)]
        cells += [*(pct(r[f"{k}_gain"]) for k in METRICS), _baseline_cell(r)] if gains else []
        body.append([*cells, r["tasks"] or MISSING])
    return md_table([*head, "tasks (R K C)"], body)


def per_task_markdown(runs: list[dict]) -> str:
    """Each task's score per run (results JSONs of `cip eval`)."""
    names = list(dict.fromkeys(n for r in runs for n in r["tasks"]))
    body = []
    for n in names:
        t0 = next(r["tasks"][n] for r in runs if n in r["tasks"])
        cells = ["not available" if not t or not t.get("available") else f"{t['score']:.1f} (n={t['n']})"
                 for t in (r["tasks"].get(n) for r in runs)]
        body.append([n, t0["group"], t0["metric"], *cells])
    return md_table(["task", "group", "metric", *(r["name"] for r in runs)], body, left=3)


def paper_markdown(rows: list[dict]) -> str:
    """Ours beside the paper's 470M figures, for the rows the paper has."""
    head = ["variant and phase", *(f"{METRICS[k]}{paper}" for k in GROUPS for paper in ("", " (paper)")),
            *(f"{METRICS[k]} gain{paper}" for k in GROUPS for paper in ("", " (paper)"))]
    body = [[r["label"], *(num(r[f"{p}{k}"]) for k in GROUPS for p in ("", "paper_")),
             *(_gain_cell(r, k, p) for k in GROUPS for p in ("", "paper_"))]
            for r in rows if any(r[f"paper_{k}"] is not None for k in GROUPS)]
    return md_table(head, body)


def perplexity_markdown(experiment: dict, rows: list[dict]) -> str | None:
    """Held-out perplexity per source and phase, where the results carry it (small models sit near
    chance on the benchmarks, while perplexity still separates the mixtures)."""
    ppl = [(experiment["results"].get((r["variant"], r["phase"])) or {}).get("perplexity") or {} for r in rows]
    tasks = sorted({t for p in ppl for t in p})
    if not tasks:
        return None
    body = [[r["label"], tokens_cell(r), *(f"{p[t]['perplexity']:.2f}" if t in p else MISSING for t in tasks)]
            for r, p in zip(rows, ppl)]
    return md_table(["variant and phase", "tokens", *(f"{t} ppl" for t in tasks)], body)


def to_csv(rows: list[dict]) -> str:
    """Every field of the rows; a missing value is an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
