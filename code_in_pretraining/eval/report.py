"""The report of results JSONs or of one experiment directory: Markdown, CSV and plots.

Results files give the headline table (Reason / Know / NL Avg / Code / Total, with
each one's gain against a baseline run when one is named), a per-task table and a
bar plot. An experiment directory gives the headline table of every variant and
phase with gains against text-only (report_rows), held-out perplexities, the
paper's figures and findings beside them (paper_figures, findings) and its plots.
"""

from __future__ import annotations

import os

from etils import epath

from code_in_pretraining.eval import findings, report_rows, report_tables, win_rate_report
from code_in_pretraining.eval.provenance import provenance
from code_in_pretraining.eval.plots import FIGURES, scores_figure, write

NOTES = ("— : no result yet. Scores over the tasks available (tasks: available/total per group; n per task "
         "under Tasks).")
GAIN_NOTES = ("Gains are (variant − baseline) / baseline against text-only at the same stage and token count; "
              "a baseline marked * saw a different number of tokens (no text-only result at this budget).")
PAPER_NOTES = ("The paper's figures are for 470M models at the full token budgets; its gains use the "
               "same baseline rule over its own rows (* : against text-only at another token budget).")
PAPER_2P8B_NOTES = ("PAPER.md gives no 2.8B figures: the paper repeated balanced-only, balanced→text and code→text "
                    "at 2.8B, without a text-only model, so the paper's columns here are its 470M models and a "
                    "gain against text-only needs a text-only run at this scale.")


def experiment_markdown(experiment: dict, rows: list[dict]) -> str:
    meta = experiment["meta"]
    done = sum(r["reason"] is not None or r["code"] is not None for r in rows)
    title = (f"# Experiment report: {experiment['root']}\n\ngrid {meta.get('grid', report_tables.MISSING)}, "
             f"scale {meta.get('scale', report_tables.MISSING)}; {done} of {len(rows)} rows have results.")
    results = list(experiment["results"].values())
    zero = report_tables.zero_note(rows)
    sections = [title, provenance(results, experiment["root"]), "## Headline table",
                report_tables.headline_markdown(rows), NOTES + (" " + zero if zero else ""),
                "## Gains against text-only", report_tables.gains_markdown(rows),
                GAIN_NOTES + " " + report_tables.uncertainty_note(rows)]
    if results:
        sections += ["## Tasks", report_tables.tasks_markdown(results)]
    ppl = report_tables.perplexity_markdown(rows)
    if ppl:
        sections += ["## Held-out perplexity (lower is better)", ppl]
    sections += ["## Beside the paper (470M, PAPER.md)", report_tables.paper_markdown(rows),
                 PAPER_NOTES + (" " + PAPER_2P8B_NOTES if meta.get("scale") == "2p8b" else ""),
                 "## The paper's findings, measured here",
                 findings.markdown(rows, win_rate_report.findings(experiment["win_rates"]))]
    sections += win_rate_report.sections(experiment)
    return "\n\n".join(sections)


def write_report(inputs: list[str | os.PathLike], out_dir: str | os.PathLike | None = None, *,
                 baseline: str | None = None, plots: bool = True) -> tuple[str, list[epath.Path]]:
    """The report's Markdown, and the files written into out_dir: report.md, report.csv and the plots.

    `inputs` is one experiment directory (out_dir defaults to DIR/report) or results JSON files of
    `cip eval` (without out_dir nothing is written; `baseline` names the run to compare with). Paths
    are local or gs://.
    """
    paths = [epath.Path(p) for p in inputs]
    if not paths:
        raise ValueError("no inputs: give results JSON files or one experiment directory")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"no such results file or experiment directory: {p}")
    if any(p.is_dir() for p in paths) and len(paths) > 1:
        raise ValueError(f"an experiment directory is reported alone, got {[str(p) for p in paths]}")
    if paths[0].is_dir():
        if baseline is not None:
            raise ValueError(f"{paths[0]} is an experiment directory: its baseline is text-only, not {baseline!r}")
        experiment = report_rows.load_experiment(paths[0])
        rows = report_rows.experiment_rows(experiment)
        md, figures = experiment_markdown(experiment, rows), FIGURES
        out_dir = paths[0] / "report" if out_dir is None else out_dir
    else:
        runs = report_rows.load_results(paths)
        rows = report_rows.run_rows(runs, baseline)
        notes = [report_tables.uncertainty_note(rows), report_tables.zero_note(rows)]
        tables = [report_tables.headline_markdown(rows), " ".join(n for n in notes if n)]
        tables += [report_tables.gains_markdown(rows)] if baseline is not None else []
        md = "\n\n".join([*tables, report_tables.per_task_markdown(runs)])
        figures = {"report": scores_figure}
    if out_dir is None:
        return md, []
    out = epath.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.csv"]
    written[0].write_text(md + "\n")
    written[1].write_text(report_tables.to_csv(rows))
    return md, written + (write(rows, out, figures) if plots else [])
