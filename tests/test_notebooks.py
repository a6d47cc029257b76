"""The notebooks run headless on toy data, in this interpreter, and are committed without outputs."""

from __future__ import annotations

import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the `notebooks` extra")
nbclient = pytest.importorskip("nbclient", reason="needs the `notebooks` extra")
pytest.importorskip("ipykernel", reason="needs the `notebooks` extra")

# tests/ is on sys.path under pytest: the experiment directory fixture of the report tests.
from test_report_experiment import make_experiment

from code_in_pretraining.eval import plots

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
WHICH_PYTHON = "import sys; print(sys.executable)"


def execute(name: str, cwd: pathlib.Path, parameters: str = ""):
    """Runs a notebook with the default "python3" kernel: `parameters` go in a cell after the one tagged
    "parameters", and a last cell prints the kernel's interpreter."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    if parameters:
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(parameters))
    nb.cells.append(nbformat.v4.new_code_cell(WHICH_PYTHON))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_committed_notebooks_have_no_outputs():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {p.name for p in paths} >= {"mixture_inspection.ipynb", "results_analysis.ipynb"}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"


def test_first_code_cell_installs_only_in_colab_and_parameters_are_tagged():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        first = next(c for c in cells if c.cell_type == "code")
        assert '"google.colab" in sys.modules' in first.source and "%pip install" in first.source, path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1, path.name


def test_mixture_inspection_runs_on_the_default_corpus(default_data, tmp_path):
    nb = execute("mixture_inspection.ipynb", tmp_path, "TOKENS, SEQ_LEN, BATCH, HISTOGRAM_DOCS = 4096, 128, 4, 500")
    assert text_of(nb.cells[-1]).strip() == sys.executable
    printed = [text_of(c) for c in nb.cells if c.cell_type == "code"]
    report = next(t for t in printed if "== pretrain: steps [0, 8), mixture balanced," in t)
    assert "== continued: steps [8, 16), mixture continued," in report
    assert "== cooldown: steps [16, 24), mixture cooldown_with_code, cooldown schedule" in report
    assert "fingerprints: vocabulary " in report and "== data hygiene" in report
    assert images(nb) >= 2  # shares and length histograms
    assert "===== slimpajama" in "".join(printed)


def test_results_analysis_runs_on_an_experiment_directory(tmp_path, monkeypatch):
    results = make_experiment(tmp_path / "exp")
    monkeypatch.setenv("CIP_RESULTS_DIR", str(results))
    nb = execute("results_analysis.ipynb", tmp_path)
    assert text_of(nb.cells[-1]).strip() == sys.executable
    markdown = "".join(o["data"].get("text/markdown", "") for c in nb.cells if c.cell_type == "code"
                       for o in c.outputs if o.output_type == "display_data")
    assert "| balanced→text, after phase 2 | 3.28M | 44.0 |" in markdown and "| balanced-only | — |" in markdown
    assert "| balanced→text + cooldown | 46.0 | 54.9 |" in markdown
    assert images(nb) == len(plots.FIGURES) == 7  # every plot has data in this experiment
    assert (results / "report" / "report.md").exists()
