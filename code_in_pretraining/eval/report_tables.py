"""The report's tables, in Markdown and CSV, from the rows of report_rows.

A missing value prints "—" (a phase not run yet, a gain without a baseline); the
tokens of a result that does not record them (a `cip eval` run outside an
experiment) print "n/a". A score prints with its standard error ("33.4 ±2.1"), a
gain with its 95% interval and a dagger where that interval contains zero
("+5.6% [-8.1, +19.3]†"): a difference the examples cannot tell from none.
"""

from __future__ import annotations

import csv
import io

from code_in_pretraining.eval import benchmarks, provenance, uncertainty
from code_in_pretraining.eval.report_rows import BPB, GROUPS, METRICS, SCORES

MISSING = "—"
NOISE = "†"
UNCERTAINTY_NOTE = (f"Scores are ± one bootstrap standard error over the examples; gains show their 95% interval, "
                    f"and {NOISE} marks a gain whose interval contains zero (not told apart from no change at "
                    f"this number of examples). BPB: bits per UTF-8 byte of each task's gold continuation (the "
                    f"correct choice, the reference answer, the canonical solution), lower is better; its change "
                    f"is relative, negative is better.")
NO_UNCERTAINTY = ("No result here keeps per-example values (written before they were kept): no standard error or "
                  "interval can be given, and no difference shown is known to exceed noise.")


def uncertainty_note(rows: list[dict]) -> str:
    """UNCERTAINTY_NOTE, and a warning where the rows' results carry no standard errors, and how many gains
    are indistinguishable from none."""
    if not any(r.get(f"{k}_se") is not None for r in rows for k in SCORES):
        return UNCERTAINTY_NOTE + " " + NO_UNCERTAINTY
    keys = gain_keys(rows)
    spans = [(r[f"{k}_gain_lo"], r[f"{k}_gain_hi"]) for r in rows for k in keys
             if r.get("baseline") not in (None, r["label"]) and r.get(f"{k}_gain_lo") is not None]
    noise = sum(map(uncertainty.contains_zero, spans))
    return UNCERTAINTY_NOTE + (f" Here {noise} of {len(spans)} gains with an interval are marked {NOISE}." if spans
                               else "")


def num(v, digits: int = 1) -> str:
    return MISSING if v is None else f"{v:.{digits}f}"


def pct(v) -> str:
    return MISSING if v is None else f"{v:+.1f}%"


def _digits(key: str) -> int:
    return 3 if key.endswith("_bpb") else 1


def score_cell(row: dict, key: str) -> str:
    """The value, with ± its standard error where known."""
    v, se = row[key], row.get(f"{key}_se")
    if v is None or se is None:
        return num(v, _digits(key))
    return f"{v:.{_digits(key)}f} ±{se:.{_digits(key)}f}"


def interval_cell(value, lo, hi, unit: str = "%") -> str:
    """"+5.6% [-8.1, +19.3]" (a relative gain), "+6.6pp [...]" (a difference in points) or "3.0x [1.2, 5.1]" (a
    ratio), with NOISE where the interval holds no change (0 for a gain or a difference, 1x for a ratio)."""
    if value is None:
        return MISSING
    signed = unit in ("%", "pp")

    def fmt(v):
        return f"{v:+.1f}" if signed else f"{v:.1f}"

    if lo is None:
        return fmt(value) + unit
    null = 0.0 if signed else 1.0 if unit == "x" else None
    noise = null is not None and uncertainty.contains_zero((lo, hi), at=null)
    return f"{fmt(value)}{unit} [{fmt(lo)}, {fmt(hi)}]" + (NOISE if noise else "")


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


def gain_cell(row: dict, key: str, prefix: str = "") -> str:
    """The gain with its interval (this experiment's rows), "*" where the baseline saw other tokens."""
    g = row[f"{prefix}{key}_gain"]
    if prefix or row[f"{prefix}baseline"] == row["label"]:  # the paper's figures; a baseline against itself
        cell = pct(g)
    else:
        cell = interval_cell(g, row.get(f"{key}_gain_lo"), row.get(f"{key}_gain_hi"))
    return cell + "*" if cell != MISSING and row[f"{prefix}baseline_same_tokens"] is False else cell


def md_table(head: list[str], body: list[list[str]], left: int = 1) -> str:
    """A Markdown table, its first `left` columns left-aligned and the rest right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * left + "---:|" * (len(head) - left)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _run(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["tasks"] is not None]


def zero_everywhere(rows: list[dict], key: str) -> bool:
    """Every row with a result scores 0 in `key` (no question answered, no test passed)."""
    values = [r[key] for r in _run(rows) if r[key] is not None]
    return bool(values) and all(v == 0 for v in values)


def _shown_scores(rows: list[dict]) -> list[str]:
    """METRICS, and the BPB aggregates where some result has them."""
    return [*METRICS, *(k for k in BPB if any(r[k] is not None for r in rows))]


def headline_markdown(rows: list[dict]) -> str:
    """Scores (± standard error) per row, with the bits per byte of the gold continuations."""
    keys = _shown_scores(rows)
    body = [[r["label"], tokens_cell(r), *(score_cell(r, k) for k in keys), r["tasks"] or MISSING] for r in rows]
    return md_table(["variant and phase", "tokens", *(SCORES[k] for k in keys), "tasks (R K C)"], body)


def zero_note(rows: list[dict]) -> str | None:
    """Says which groups score 0 in every row, and what that does to the averages' gains."""
    zero = [METRICS[g] for g in GROUPS if zero_everywhere(rows, g)]
    if not zero:
        return None
    return (f"{' and '.join(zero)} {'is' if len(zero) == 1 else 'are'} 0.0 in every row: no model got one "
            f"example right at this scale, so {'its' if len(zero) == 1 else 'their'} gains are undefined and "
            f"the averages' gains would only repeat the others'; those gain columns are left out. The BPB columns "
            f"still compare the models on these tasks.")


def gain_keys(rows: list[dict]) -> list[str]:
    """The gain columns worth printing: none that is undefined in every row, and no average whose gain only
    repeats Reason's (Know, or Know and Code, 0 everywhere)."""
    zero = {g for g in GROUPS if zero_everywhere(rows, g)}
    repeats = {"nl_avg"} if zero & {"reason", "know"} else set()
    repeats |= {"total_avg"} if len(zero) >= 2 else set()
    return [k for k in _shown_scores(rows) if k not in repeats and any(r.get(f"{k}_gain") is not None for r in rows)]


def gains_markdown(rows: list[dict]) -> str:
    """Each row's relative gain against its baseline, with 95% intervals."""
    keys = gain_keys(rows)
    body = [[r["label"], _baseline_cell(r), *(gain_cell(r, k) for k in keys)]
            for r in rows if r["baseline"] is not None and r["baseline"] != r["label"]]
    head = ["variant and phase", "baseline", *(f"{SCORES[k]} {'change' if k in BPB else 'gain'}" for k in keys)]
    return md_table(head, body)


def tasks_markdown(results: list[dict]) -> str:
    """Each task: its group, the metric its benchmark defines, the gold text its BPB is of, its number of
    examples, and in how many results it ran (or why not)."""
    body = []
    for name in dict.fromkeys(n for r in results for n in r["tasks"]):
        runs = [r["tasks"][name] for r in results if name in r["tasks"]]
        ran = [t for t in runs if t.get("available")]
        ns = sorted({t["n"] for t in ran})
        bench = benchmarks.BENCHMARKS.get(name)
        gold = next((t["gold"] for t in ran if t.get("bpb") is not None), None)  # results that measured BPB
        gold = gold or (benchmarks.GOLD[bench.kind] if bench and not ran else None)
        n = MISSING if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
        status = f"{len(ran)} of {len(runs)}" if ran else runs[0].get("reason", "not available")
        body.append([name, runs[0]["group"], runs[0]["metric"], gold or MISSING, n, status])
    return md_table(["task", "group", "metric", "BPB of", "n", "results"], body, left=4)


def per_task_markdown(runs: list[dict]) -> str:
    """Each task's score (± standard error), BPB and n per run (results JSONs of `cip eval`)."""
    names = list(dict.fromkeys(n for r in runs for n in r["tasks"]))
    body = []
    for n in names:
        t0 = next(r["tasks"][n] for r in runs if n in r["tasks"])
        cells = ["not available" if not t or not t.get("available") else _task_cell(t)
                 for t in (r["tasks"].get(n) for r in runs)]
        body.append([n, t0["group"], t0["metric"], *cells])
    return md_table(["task", "group", "metric", *(r["name"] for r in runs)], body, left=3)


def _task_cell(t: dict) -> str:
    score = f"{t['score']:.1f}" + (f" ±{t['score_se']:.1f}" if t.get("score_se") is not None else "")
    bpb = f", {t['bpb']:.3f} bpb" if t.get("bpb") is not None else ""
    return f"{score}{bpb} (n={t['n']})"


def paper_markdown(rows: list[dict]) -> str:
    """Ours beside the paper's 470M figures, for the rows the paper has."""
    head = ["variant and phase", *(f"{METRICS[k]}{paper}" for k in GROUPS for paper in ("", " (paper)")),
            *(f"{METRICS[k]} gain{paper}" for k in GROUPS for paper in ("", " (paper)"))]
    body = [[r["label"], *(num(r[f"{p}{k}"]) for k in GROUPS for p in ("", "paper_")),
             *(gain_cell(r, k, p) for k in GROUPS for p in ("", "paper_"))]
            for r in rows if any(r[f"paper_{k}"] is not None for k in GROUPS)]
    return md_table(head, body)


def perplexity_sources(rows: list[dict]) -> list[str]:
    """The held-out sources whose perplexity some row's result carries."""
    return sorted({t for r in rows for t in r["_perplexity"]})


def perplexity_markdown(rows: list[dict]) -> str | None:
    """Held-out perplexity per source and phase, where the results carry it (small models sit near
    chance on the benchmarks, while perplexity still separates the mixtures)."""
    tasks = perplexity_sources(rows)
    if not tasks:
        return None
    body = [[r["label"], tokens_cell(r), *(num(r["_perplexity"].get(t, {}).get("perplexity"), 2) for t in tasks)]
            for r in rows]
    configured = provenance.configured_sources()
    return md_table(["variant and phase", "tokens",
                     *(f"{provenance.source_label(t, configured)} ppl" for t in tasks)], body)


def to_csv(rows: list[dict]) -> str:
    """Every field of the rows but those starting with "_"; a missing value is an empty cell."""
    fields = [k for k in rows[0] if not k.startswith("_")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
