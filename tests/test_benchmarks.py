"""The data-pipeline and train-step benchmarks run end to end in their small modes."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_train_step_benchmark_smoke():
    proc = _run("benchmarks/train_step.py", "--smoke")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| 128 x 2 |" in proc.stdout


def test_data_pipeline_benchmark_smoke(default_data, tmp_path):
    out = tmp_path / "dp.json"
    proc = _run("benchmarks/data_pipeline.py", "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ours (grain, token mixing)" in proc.stdout and out.exists()
