"""An installed wheel (not the editable checkout) finds its own gin configuration from any directory."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv*", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache")


def _run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installed_elsewhere_trains_from_its_packaged_gin_files(default_data, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist",
          src])
    (wheel,) = (tmp_path / "dist").glob("code_in_pretraining-*.whl")
    target = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = _run([sys.executable, "-c", "import code_in_pretraining, tasks; print(code_in_pretraining.__file__)"],
                 cwd=elsewhere, env=env).stdout.strip()
    assert where.startswith(str(target)), where  # the wheel's copy, not the checkout
    cip = target / "bin" / "cip"
    assert "--gin-file" in _run([cip, "train", "--help"], cwd=elsewhere, env=env).stdout
    _run([cip, "train", "--gin_file=models/tiny.gin", "--gin_file=runtime/cpu.gin",
          "--gin_bindings=TrainConfig.mixture = 'demo_text_only'", "--gin_bindings=TrainConfig.steps = 2",
          "--gin_bindings=TrainConfig.seq_len = 64", "--gin_bindings=TrainConfig.global_batch = 2",
          "--gin_bindings=TrainConfig.warmup_steps = 1", "--gin_bindings=TrainConfig.progress = False",
          "--workdir=run"], cwd=elsewhere, env=env)
    plan = json.loads((elsewhere / "run" / "plan.json").read_text())
    assert plan["steps"] == 2 and plan["phases"][0]["mixture"] == "demo_text_only"
    # the recipes ship too
    code = "from code_in_pretraining.train import recipes; print(len(recipes.recipe_names()))"
    assert int(_run([sys.executable, "-c", code], cwd=elsewhere, env=env).stdout) == 17
    # and the offline lm-eval tasks
    code = "from code_in_pretraining.eval import lmeval_tasks as t; print(t.TEMPLATES, len(t.task_names()))"
    where, n = _run([sys.executable, "-c", code], cwd=elsewhere, env=env).stdout.split()
    assert where.startswith(str(target)) and int(n) == len(list((ROOT / "code_in_pretraining/eval/lmeval_yaml")
                                                               .glob("*.yaml"))) > 10
