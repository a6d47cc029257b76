"""`cip report`: results JSONs -> the paper's headline table (Markdown, CSV) and plots.

Columns follow PAPER.md's headline table (Reason / Know / Code) plus NL Avg and
Total Avg, and, with --baseline, each aggregate's relative gain over that run.
Given one experiment directory instead of files, it writes that experiment's
report (experiment_report.py): one row per variant and phase, gains against
text-only, the paper's figures beside them, and its plots, into DIR/report.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import pathlib

from code_in_pretraining.eval.aggregate import relative_gain

COLUMNS = (("reason", "Reason"), ("know", "Know"), ("code", "Code"), ("nl_avg", "NL Avg"),
           ("total_avg", "Total Avg"))


def load(paths) -> list[dict]:
    runs = []
    for p in paths:
        r = json.loads(pathlib.Path(p).read_text())
        r.setdefault("name", pathlib.Path(p).stem)
        runs.append(r)
    return runs


def rows(runs: list[dict], baseline: str | None = None) -> list[dict]:
    base = None
    if baseline is not None:
        matches = [r for r in runs if r["name"] == baseline]
        if not matches:
            raise ValueError(f"baseline {baseline!r} not among {[r['name'] for r in runs]}")
        base = matches[0]["aggregates"]
    out = []
    for r in runs:
        a = r["aggregates"]
        row = {"variant": r["name"], "reason_tasks": a["reason_available"], "reason_paper11": a["reason_paper"]}
        for key, _ in COLUMNS:
            row[key] = a[key]
            if base is not None:
                row[f"{key}_gain"] = relative_gain(a[key], base[key])
        out.append(row)
    return out


def _fmt(v, pct=False):
    if v is None:
        return "n/a"
    return f"{v:+.1f}%" if pct else f"{v:.1f}"


def markdown(table: list[dict], baseline: str | None = None) -> str:
    head = ["variant", "Reason (paper 11)", "Reason (available)"] + [t for k, t in COLUMNS[1:]]
    if baseline:
        head += [f"{t} vs {baseline}" for _, t in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in table:
        cells = [r["variant"], _fmt(r["reason_paper11"]), f"{_fmt(r['reason'])} ({r['reason_tasks']})"]
        cells += [_fmt(r[k]) for k, _ in COLUMNS[1:]]
        if baseline:
            cells += [_fmt(r[f"{k}_gain"], pct=True) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_task_markdown(runs: list[dict]) -> str:
    names = list(dict.fromkeys(n for r in runs for n in r["tasks"]))
    lines = ["| task | group | metric | " + " | ".join(r["name"] for r in runs) + " |",
             "|---|---|---|" + "---:|" * len(runs)]
    for n in names:
        t0 = next(r["tasks"][n] for r in runs if n in r["tasks"])
        cells = []
        for r in runs:
            t = r["tasks"].get(n)
            cells.append("not available" if not t or not t.get("available") else f"{t['score']:.1f} (n={t['n']})")
        lines.append(f"| {n} | {t0['group']} | {t0['metric']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()


def plot(table: list[dict], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(COLUMNS) * max(1, len(table)) / 2), 4))
    width = 0.8 / max(1, len(table))
    x = np.arange(len(COLUMNS))
    for i, r in enumerate(table):
        vals = [r[k] if r[k] is not None else 0.0 for k, _ in COLUMNS]
        ax.bar(x + i * width, vals, width, label=r["variant"])
    ax.set_xticks(x + width * (len(table) - 1) / 2, [t for _, t in COLUMNS])
    ax.set_ylabel("score (%)")
    ax.set_title("Reason / Know / Code and averages (Reason over available tasks)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip report", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results JSON files from `cip eval`, or one experiment directory")
    parser.add_argument("--baseline", default=None, help="run name to compute relative gains against")
    parser.add_argument("--out-dir", "--out", dest="out_dir", default=None,
                        help="write report.md, report.csv and the plots here (an experiment's: DIR/report)")
    args = parser.parse_args(argv)
    if len(args.results) == 1 and pathlib.Path(args.results[0]).is_dir():
        return _experiment(args.results[0], args.out_dir)
    runs = load(args.results)
    table = rows(runs, args.baseline)
    md = markdown(table, args.baseline) + "\n\n" + per_task_markdown(runs)
    print(md)
    if args.out_dir:
        out = pathlib.Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(md + "\n")
        (out / "report.csv").write_text(to_csv(table))
        plot(table, out / "report.png")
        print(f"\nwrote {out}/report.md, report.csv, report.png")
    return 0


def _experiment(path: str, out: str | None) -> int:
    from code_in_pretraining.eval import experiment_report

    md, written = experiment_report.write(path, out)
    print(md)
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0
