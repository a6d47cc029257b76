"""Figures of an experiment report, from the rows of experiment_report.table.

Each function returns a matplotlib Figure (None when the experiment has no data for
it) built without pyplot, so it neither switches the backend of a notebook nor keeps
global state; `write_all` saves them as PNG (Agg).
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
from matplotlib.figure import Figure

GROUPS = (("reason", "Reason"), ("know", "Know"), ("code", "Code"))
SWEEP = re.compile(r"code_sweep_(\d+)$")


def _has(row: dict, keys=("reason", "know", "code")) -> bool:
    return any(row[k] is not None for k in keys)


def _v(x) -> float:
    return np.nan if x is None else x


def _grouped_barh(ax, labels: list[str], series: dict[str, list], xlabel: str, legend: bool = True) -> None:
    y = np.arange(len(labels))
    height = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.barh(y + (i - (len(series) - 1) / 2) * height, [_v(v) for v in values], height, label=name)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if legend:
        ax.legend(fontsize=8)


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
    for ax, (k, t), color in zip(axes, GROUPS, ("C0", "C1", "C2")):
        ax.barh(y, [_v(r[f"{k}_gain"]) for r in rows], color=color)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{t} gain vs text-only (%)")
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
    for k, t in GROUPS:
        ax.plot([p for p, _ in points], [_v(r[k]) for _, r in points], marker="o", label=t)
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
    fig = Figure(figsize=(12, 1.5 + 0.5 * len(pairs)))
    axes = fig.subplots(1, len(GROUPS), sharey=True)
    for ax, (k, t) in zip(axes, GROUPS):
        _grouped_barh(ax, [name for name, _, _ in pairs],
                      {"before cooldown": [b[k] for _, b, _ in pairs], "after cooldown": [a[k] for _, _, a in pairs]},
                      f"{t} (%)", legend=k == "reason")
    fig.suptitle("Before and after the cooldown")
    fig.tight_layout()
    return fig


def cooldown_code_figure(rows: list[dict]) -> Figure | None:
    """Cooldown with 20% code against cooldown without code, after the cooldown."""
    after = {r["variant"]: r for r in rows if r["stage"] == "cooldown" and _has(r)}
    if not {"cooldown_with_code", "cooldown_no_code"} <= set(after):
        return None
    with_code, no_code = after["cooldown_with_code"], after["cooldown_no_code"]
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    x = np.arange(len(GROUPS))
    ax.bar(x - 0.2, [_v(with_code[k]) for k, _ in GROUPS], 0.4, label="cooldown with code")
    ax.bar(x + 0.2, [_v(no_code[k]) for k, _ in GROUPS], 0.4, label="cooldown without code")
    ax.set_xticks(x, [t for _, t in GROUPS])
    ax.set_ylabel("score (%)")
    ax.set_title("Cooldown with and without code")
    ax.legend()
    fig.tight_layout()
    return fig


def paper_figure(rows: list[dict]) -> Figure | None:
    """Ours beside the paper's 470M figures, for the rows that have both."""
    rows = [r for r in rows if _has(r) and _has(r, ("paper_reason", "paper_know", "paper_code"))]
    if not rows:
        return None
    fig = Figure(figsize=(12, 1.5 + 0.5 * len(rows)))
    axes = fig.subplots(1, len(GROUPS), sharey=True)
    for ax, (k, t) in zip(axes, GROUPS):
        _grouped_barh(ax, [r["label"] for r in rows],
                      {"this experiment": [r[k] for r in rows], "paper (470M)": [r[f"paper_{k}"] for r in rows]},
                      f"{t} (%)", legend=k == "reason")
    fig.suptitle("This experiment beside the paper")
    fig.tight_layout()
    return fig


FIGURES = {"gains": gains_figure, "code_sweep": sweep_figure, "cooldown": cooldown_figure,
           "cooldown_code": cooldown_code_figure, "paper": paper_figure}


def write_all(rows: list[dict], out) -> list[pathlib.Path]:
    """Saves every figure the rows have data for as out/<name>.png; returns the paths written."""
    written = []
    for name, make in FIGURES.items():
        fig = make(rows)
        if fig is not None:
            path = pathlib.Path(out) / f"{name}.png"
            fig.savefig(path, dpi=110)
            written.append(path)
    return written
