"""Figures of a report, from its rows (report_rows).

Each function returns a matplotlib Figure (None when the rows have no data for it)
built without pyplot, so it neither switches the backend of a notebook nor keeps
global state; `write` saves them as PNG (Agg).
"""

from __future__ import annotations

import io
import re

import numpy as np
from etils import epath
from matplotlib.figure import Figure

from code_in_pretraining.eval.report_rows import GROUPS, METRICS

SWEEP = re.compile(r"code_sweep_(\d+)$")


def _has(row: dict, keys=GROUPS) -> bool:
    return any(row[k] is not None for k in keys)


def _v(x) -> float:
    return np.nan if x is None else x


def _grouped_bars(ax, labels: list[str], series: list[tuple[str, list]], axis_label: str, *,
                  horizontal: bool = False, legend: bool = True) -> None:
    at = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series):
        bars = ax.barh if horizontal else ax.bar
        bars(at + (i - (len(series) - 1) / 2) * width, [_v(v) for v in values], width, label=name)
    if horizontal:
        ax.set_yticks(at, labels)
        ax.invert_yaxis()
        ax.set_xlabel(axis_label)
    else:
        ax.set_xticks(at, labels)
        ax.set_ylabel(axis_label)
    if legend:
        ax.legend(fontsize=8)


def scores_figure(rows: list[dict]) -> Figure | None:
    """Each row's Reason / Know / NL Avg / Code / Total side by side: the figure of a report of results files."""
    if not rows:
        return None
    fig = Figure(figsize=(max(6, 4 * len(rows)), 4))
    _grouped_bars(fig.add_subplot(), list(METRICS.values()), [(r["label"], [r[k] for k in METRICS]) for r in rows],
                  "score (%)")
    fig.axes[0].set_title("Reason / Know / Code and averages (Reason over available tasks)")
    fig.tight_layout()
    return fig


def _group_panels(labels: list[str], series_of, title: str) -> Figure:
    """One panel per group (Reason / Know / Code), each with the bars of series_of(group) per label."""
    fig = Figure(figsize=(12, 1.5 + 0.5 * len(labels)))
    for ax, k in zip(fig.subplots(1, len(GROUPS), sharey=True), GROUPS):
        _grouped_bars(ax, labels, series_of(k), f"{METRICS[k]} (%)", horizontal=True, legend=k == "reason")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gains_figure(rows: list[dict]) -> Figure | None:
    """Relative gain (%) of Reason / Know / Code against the text-only baseline, one panel each
    (code gains run to hundreds of percent, so each panel keeps its own scale)."""
    rows = [r for r in rows if r["baseline"] and r["baseline"] != r["label"] and _has(r)]
    if not rows:
        return None
    fig = Figure(figsize=(12, 1.5 + 0.45 * len(rows)))
    axes = fig.subplots(1, len(GROUPS), sharey=True)
    labels = [r["label"] + ("" if r["baseline_same_tokens"] else " *") for r in rows]
    y = np.arange(len(rows))
    for ax, k, color in zip(axes, GROUPS, ("C0", "C1", "C2")):
        ax.barh(y, [_v(r[f"{k}_gain"]) for r in rows], color=color)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{METRICS[k]} gain vs text-only (%)")
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    fig.suptitle("Gains against text-only at the same stage and budget (* : at another budget)")
    fig.tight_layout()
    return fig


def sweep_figure(rows: list[dict]) -> Figure | None:
    """Reason / Know / Code against the share of code in pre-training (code_sweep_*)."""
    points = sorted((int(SWEEP.match(r["variant"]).group(1)), r) for r in rows
                    if SWEEP.match(r["variant"]) and _has(r))
    if not points:
        return None
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for k in GROUPS:
        ax.plot([p for p, _ in points], [_v(r[k]) for _, r in points], marker="o", label=METRICS[k])
    ax.set_xlabel("code in the pre-training mixture (% of tokens)")
    ax.set_ylabel("score (%)")
    ax.set_xticks([p for p, _ in points])
    ax.set_title("Code-proportion sweep")
    ax.legend()
    fig.tight_layout()
    return fig


def _before_after(rows: list[dict]) -> list[tuple[str, dict, dict]]:
    """(variant name, row before the cooldown, row after it) where both have results."""
    out = []
    for r in rows:
        if r["stage"] != "cooldown" or not _has(r):
            continue
        before = [b for b in rows if b["variant"] == r["variant"] and b["phase_index"] == r["phase_index"] - 1]
        if before and _has(before[0]):
            out.append((r["label"].removesuffix(" + cooldown"), before[0], r))
    return out


def cooldown_figure(rows: list[dict]) -> Figure | None:
    """Each variant before and after its cooldown, Reason / Know / Code side by side."""
    pairs = _before_after(rows)
    if not pairs:
        return None
    return _group_panels([name for name, _, _ in pairs], lambda k: [
        ("before cooldown", [b[k] for _, b, _ in pairs]), ("after cooldown", [a[k] for _, _, a in pairs])],
        "Before and after the cooldown")


def cooldown_code_figure(rows: list[dict]) -> Figure | None:
    """Cooldown with 20% code against cooldown without code, after the cooldown."""
    after = {r["variant"]: r for r in rows if r["stage"] == "cooldown" and _has(r)}
    if not {"cooldown_with_code", "cooldown_no_code"} <= set(after):
        return None
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    _grouped_bars(ax, [METRICS[k] for k in GROUPS], [
        ("cooldown with code", [after["cooldown_with_code"][k] for k in GROUPS]),
        ("cooldown without code", [after["cooldown_no_code"][k] for k in GROUPS])], "score (%)", legend=False)
    ax.set_title("Cooldown with and without code")
    ax.legend()
    fig.tight_layout()
    return fig


def paper_figure(rows: list[dict]) -> Figure | None:
    """Ours beside the paper's 470M figures, for the rows that have both."""
    rows = [r for r in rows if _has(r) and _has(r, [f"paper_{k}" for k in GROUPS])]
    if not rows:
        return None
    return _group_panels([r["label"] for r in rows], lambda k: [
        ("this experiment", [r[k] for r in rows]), ("paper (470M)", [r[f"paper_{k}"] for r in rows])],
        "This experiment beside the paper")


FIGURES = {"gains": gains_figure, "code_sweep": sweep_figure, "cooldown": cooldown_figure,
           "cooldown_code": cooldown_code_figure, "paper": paper_figure}


def write(rows: list[dict], out, figures: dict = FIGURES) -> list[epath.Path]:
    """Saves each of `figures` the rows have data for as out/<name>.png (local or gs://); returns the
    paths written."""
    written = []
    for name, make in figures.items():
        fig = make(rows)
        if fig is not None:
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=110)
            written.append(epath.Path(out) / f"{name}.png")
            written[-1].write_bytes(png.getvalue())
    return written
