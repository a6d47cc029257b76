"""Figures of a report, from its rows (report_rows).

Each function returns a matplotlib Figure (None when the rows have no data for it)
built without pyplot, so it neither switches the backend of a notebook nor keeps
global state; `write` saves them as PNG (Agg). What every figure keeps to, so that
it reads one way only: a missing result is written "missing" where its bar would
be, a zero bar is labelled 0, each panel has its own scale (scores, BPB, the
paper's 470M figures and this experiment's never share an axis), a group that
scores 0 in every row gets no panel (the title says so), scores carry their
standard error and gains their 95% interval as error bars, a gain whose interval
contains zero is hatched, and legends sit outside the axes.
"""

from __future__ import annotations

import io
import re

import numpy as np
from etils import epath
from matplotlib.figure import Figure

from code_in_pretraining.eval import findings as F
from code_in_pretraining.eval import provenance, uncertainty
from code_in_pretraining.eval.report_rows import BPB, GROUPS, METRICS, SCORES
from code_in_pretraining.eval.report_tables import perplexity_sources, zero_everywhere

SWEEP = re.compile(r"code_sweep_(\d+)$")
NOTE_COLOR = "0.35"


def _has(row: dict, keys=GROUPS) -> bool:
    return any(row[k] is not None for k in keys)


def _v(x) -> float:
    return np.nan if x is None else x


def _panel_keys(rows: list[dict], keys=GROUPS) -> tuple[list[str], str]:
    """The keys worth a panel (some value, not 0 in every row), and a title note on those left out."""
    zero = [k for k in keys if zero_everywhere(rows, k)]
    shown = [k for k in keys if k not in zero and any(r[k] is not None for r in rows)]
    note = f" ({', '.join(SCORES[k] for k in zero)}: 0 in every row, not shown)" if zero else ""
    return shown, note


def _label_values(ax, y, values) -> None:
    """Writes "missing" where a value is None and "0" where it is zero, at the panel's left edge."""
    for yi, v in zip(y, values):
        if v is None or v == 0:
            ax.text(0.01, yi, "missing" if v is None else "0", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=7, color=NOTE_COLOR, style="italic" if v is None else "normal")


def _hbars(ax, at, values, *, height=0.8, err=None, interval=None, color=None, label=None, noise=None,
           dots=False):
    """Horizontal bars at `at`; err: symmetric errors; interval: (lo, hi) per bar; noise: which to hatch;
    dots: points instead of bars, on an axis that need not start at zero (bits per byte)."""
    xerr = None
    if err is not None:
        xerr = [_v(e) for e in err]
    elif interval is not None:
        xerr = np.array([[_v(v) - _v(lo), _v(hi) - _v(v)] for v, (lo, hi) in zip(values, interval)]).T
    if dots:
        ax.errorbar([_v(v) for v in values], at, xerr=xerr, fmt="o", color=color, label=label, capsize=2,
                    elinewidth=0.8, markersize=4)
        ax.grid(axis="x", linewidth=0.3)
        ax.locator_params(axis="x", nbins=5)
        _label_values(ax, at, [v if v is None else 1 for v in values])  # "missing" only
        return None
    bars = ax.barh(at, [_v(v) for v in values], height, xerr=xerr, color=color, label=label,
                   error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.2"})
    for bar, hatch in zip(bars, noise or []):
        if hatch:
            bar.set_hatch("///")
            bar.set_alpha(0.55)
    _label_values(ax, at, values)
    return bars


def _labels_axis(ax, labels) -> None:
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()


def _figure(n_panels: int, n_labels: int, rows_of_panels: int = 1, width: float = 4.2) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(2.5 + width * n_panels, 0.6 + rows_of_panels * (0.9 + 0.32 * n_labels)), layout="constrained")
    axes = fig.subplots(rows_of_panels, n_panels, squeeze=False)
    return fig, axes


def _key_grid(keys: list[str], n_bars: int) -> tuple[Figure, dict, set]:
    """A figure with the score panels on a first line and the BPB panels on a second; {key: axes}, and
    the axes that carry the bar labels (the first of each line)."""
    lines = [line for line in ([k for k in keys if k not in BPB], [k for k in keys if k in BPB]) if line]
    fig, axes = _figure(max(map(len, lines)), n_bars, rows_of_panels=len(lines))
    for i, line in enumerate(lines):
        for ax in axes[i][len(line):]:
            ax.set_visible(False)
    return fig, {k: axes[i][j] for i, line in enumerate(lines) for j, k in enumerate(line)}, {a[0] for a in axes}


def _legend_below(fig: Figure, ax) -> None:
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize=8, frameon=False)


def _panels(rows: list[dict], keys, title: str) -> Figure | None:
    """One panel per key, a bar per row with its standard error."""
    keys, note = _panel_keys(rows, keys)
    if not keys or not rows:
        return None
    fig, axes, first = _key_grid(keys, len(rows))
    for k, ax in axes.items():
        _hbars(ax, np.arange(len(rows)), [r[k] for r in rows], err=[r.get(f"{k}_se") for r in rows],
               color=f"C{GROUPS.index(k.removesuffix('_bpb'))}", dots=k in BPB)
        ax.set_xlabel(f"{SCORES[k]}" + (" (bits per byte, lower is better)" if k in BPB else " (%)"), fontsize=8)
        _labels_axis(ax, [r["label"] for r in rows] if ax in first else [""] * len(rows))
    fig.suptitle(title + note, fontsize=10)
    return fig


def scores_figure(rows: list[dict]) -> Figure | None:
    """Each run's Reason / Know / Code and their BPB, ± standard error: the figure of a report of results files."""
    return _panels(rows, [*GROUPS, *BPB], "Scores ± standard error (Reason over the tasks available)")


def bpb_figure(rows: list[dict]) -> Figure | None:
    """Bits per byte of the gold continuations per row and group, ± standard error."""
    rows = [r for r in rows if _has(r, BPB)]
    return _panels(rows, list(BPB), "Bits per byte of the gold continuations ± standard error (lower is better)")


def perplexity_figure(rows: list[dict]) -> Figure | None:
    """Held-out perplexity per source, as points (a log scale where the values span a factor of ten or more:
    code and text differ by orders of magnitude at small scale)."""
    sources = perplexity_sources(rows)
    rows = [r for r in rows if r["_perplexity"]]
    if not sources:
        return None
    configured = provenance.configured_sources()
    fig, axes = _figure(len(sources), len(rows), width=4.8)
    for i, (ax, t) in enumerate(zip(axes[0], sources)):
        values = [r["_perplexity"].get(t, {}).get("perplexity") for r in rows]
        _hbars(ax, np.arange(len(rows)), values, color=f"C{i + 1}", dots=True)
        known = [v for v in values if v]
        log = max(known) >= 10 * min(known)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(f"{provenance.source_label(t, configured)}\nperplexity" + (" (log scale)" if log else ""),
                      fontsize=8)
        _labels_axis(ax, [r["label"] for r in rows] if i == 0 else [""] * len(rows))
    fig.suptitle("Held-out perplexity per source (lower is better)", fontsize=10)
    return fig


def gains_figure(rows: list[dict]) -> Figure | None:
    """Relative gain (%) against the text-only baseline with 95% intervals, one panel per group and per BPB
    (each panel keeps its own scale: code gains run to hundreds of percent)."""
    rows = [r for r in rows if r["baseline"] and r["baseline"] != r["label"] and _has(r, SCORES)]
    keys = [k for k in (*GROUPS, *BPB) if any(r[f"{k}_gain"] is not None for r in rows)]
    if not rows or not keys:
        return None
    left_out = [METRICS[g] for g in GROUPS if g not in keys and zero_everywhere(rows, g)]
    fig, axes, first = _key_grid(keys, len(rows))
    labels = [r["label"] + ("" if r["baseline_same_tokens"] else " *") for r in rows]
    for i, (k, ax) in enumerate(axes.items()):
        gains = [r[f"{k}_gain"] for r in rows]
        interval = [(r[f"{k}_gain_lo"], r[f"{k}_gain_hi"]) for r in rows]
        noise = [lo is not None and uncertainty.contains_zero((lo, hi)) for lo, hi in interval]
        _hbars(ax, np.arange(len(rows)), gains, interval=interval, noise=noise, color=f"C{i}")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{SCORES[k]} {'change' if k in BPB else 'gain'} vs text-only (%)"
                      + (", negative is better" if k in BPB else ""), fontsize=8)
        _labels_axis(ax, labels if ax in first else [""] * len(rows))
    note = f"; {', '.join(left_out)}: 0 in every row, no gain" if left_out else ""
    fig.suptitle("Gains against text-only at the same stage and budget, 95% intervals (hatched: the interval "
                 f"contains zero; * : baseline at another budget{note})", fontsize=9)
    return fig


def sweep_figure(rows: list[dict]) -> Figure | None:
    """Reason / Know / Code (± standard error) and their BPB against the share of code in pre-training."""
    points = sorted((int(SWEEP.match(r["variant"]).group(1)), r) for r in rows
                    if SWEEP.match(r["variant"]) and _has(r))
    if not points:
        return None
    shares = [p for p, _ in points]
    sweep_rows = [r for _, r in points]
    score_keys, note = _panel_keys(sweep_rows)
    bpb_keys = [k for k in BPB if any(r[k] is not None for r in sweep_rows)]
    panels = [(score_keys, "score (%)"), (bpb_keys, "bits per byte (lower is better)")]
    panels = [(keys, y) for keys, y in panels if keys]
    fig = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (keys, ylabel) in zip(axes, panels):
        for k in keys:
            ax.errorbar(shares, [_v(r[k]) for r in sweep_rows], yerr=[_v(r.get(f"{k}_se")) for r in sweep_rows],
                        marker="o", capsize=3, label=SCORES[k], color=f"C{GROUPS.index(k.removesuffix('_bpb'))}",
                        linestyle="-" if k in METRICS else "--")
        ax.set_xlabel("code in the pre-training mixture (% of tokens)")
        ax.set_ylabel(ylabel)
        ax.set_xticks(shares)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle("Code-proportion sweep, ± standard error" + note, fontsize=10)
    return fig


def _series_panels(labels: list[str], series: list[tuple[str, list[dict | None]]], title: str) -> Figure | None:
    """One panel per group and BPB worth showing, grouped bars of each series per label."""
    present = [r for _, rs in series for r in rs if r is not None]
    keys, note = _panel_keys(present, [*GROUPS, *BPB])
    if not keys:
        return None
    fig, axes, first = _key_grid(keys, len(labels) * len(series))
    height = 0.8 / len(series)
    for k, ax in axes.items():
        for i, (name, rs) in enumerate(series):
            at = np.arange(len(labels)) + (i - (len(series) - 1) / 2) * height
            _hbars(ax, at, [r[k] if r else None for r in rs], height=height, color=f"C{i}", label=name,
                   err=[r.get(f"{k}_se") if r else None for r in rs], dots=k in BPB)
        ax.set_xlabel(SCORES[k] + (" (bits per byte, lower is better)" if k in BPB else " (%)"), fontsize=8)
        _labels_axis(ax, labels if ax in first else [""] * len(labels))
    fig.suptitle(title + ", ± standard error" + note, fontsize=10)
    _legend_below(fig, next(iter(axes.values())))
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
    """Each variant before and after its cooldown."""
    pairs = _before_after(rows)
    if not pairs:
        return None
    return _series_panels([name for name, _, _ in pairs], [("before cooldown", [b for _, b, _ in pairs]),
                                                           ("after cooldown", [a for _, _, a in pairs])],
                          "Before and after the cooldown")


def cooldown_code_figure(rows: list[dict]) -> Figure | None:
    """The paper's cooldown ablation: no cooldown (balanced→text after phase 2), a cooldown without code and
    one with code, a bar each; a model not run is marked missing."""
    models = [("no cooldown", F.NO_COOLDOWN), ("cooldown without code", F.COOLDOWN_NO_CODE),
              ("cooldown with code", F.COOLDOWN_WITH_CODE)]
    found = [(name, F.model_row(rows, names)) for name, names in models]
    if sum(r is not None for _, r in found) < 2:
        return None
    bars = [{**(r or {k: None for k in (*SCORES, *(f"{k}_se" for k in SCORES), "tasks")}), "label": name}
            for name, r in found]
    return _panels(bars, [*GROUPS, *BPB], "Cooldown ablation on balanced→text, ± standard error")


def paper_figure(rows: list[dict]) -> Figure | None:
    """Ours beside the paper's 470M figures, for the rows that have both, on separate axes: scores at
    another scale are compared by their order and gains, not their size."""
    rows = [r for r in rows if _has(r) and _has(r, [f"paper_{k}" for k in GROUPS])]
    if not rows:
        return None
    fig, axes = _figure(len(GROUPS), len(rows), rows_of_panels=2)
    for line, (prefix, who, color) in enumerate((("", "this experiment", "C0"), ("paper_", "paper (470M)", "C1"))):
        for j, (ax, k) in enumerate(zip(axes[line], GROUPS)):
            _hbars(ax, np.arange(len(rows)), [r[f"{prefix}{k}"] for r in rows], color=color,
                   err=[r.get(f"{k}_se") for r in rows] if not prefix else None)
            ax.set_xlabel(f"{METRICS[k]} (%), {who}", fontsize=8)
            _labels_axis(ax, [r["label"] for r in rows] if j == 0 else [""] * len(rows))
    fig.suptitle("This experiment (top) and the paper's 470M models (bottom), each on its own scale", fontsize=10)
    return fig


FIGURES = {"gains": gains_figure, "bpb": bpb_figure, "perplexity": perplexity_figure, "code_sweep": sweep_figure,
           "cooldown": cooldown_figure, "cooldown_code": cooldown_code_figure, "paper": paper_figure}


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
