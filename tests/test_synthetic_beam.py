"""`cip synth --beam`: the Beam pipeline makes the in-process generator's problems, for any number of
workers, and an interrupted run resumes without redoing or duplicating work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from code_in_pretraining.cli import main
from code_in_pretraining.synthetic import beam_synth, generate, verify

pytest.importorskip("apache_beam")

N, SEED, FAMILIES = 6, 7, ("arithmetic", "lists", "strings")


def _pipeline(workers: int) -> list[str]:
    return ["--runner=DirectRunner", f"--direct_num_workers={workers}", "--direct_running_mode=multi_threading"]


@pytest.fixture(scope="module")
def in_process():
    return generate.generate(N, SEED, workers=2, families=FAMILIES)


def _same(a, b) -> bool:
    (ra, oa), (rb, ob) = a, b
    return json.dumps(ra) == json.dumps(rb) and [(o.family, o.j, o.reason) for o in oa] == \
        [(o.family, o.j, o.reason) for o in ob]


@pytest.mark.parametrize("workers", [1, 2])
def test_beam_makes_the_in_process_problems_whatever_the_workers(in_process, tmp_path, workers):
    made = beam_synth.generate(N, SEED, tmp_path, families=FAMILIES, pipeline_args=_pipeline(workers))
    assert _same(made, in_process)
    ids = [r["id"] for r in made[0]]
    assert len(ids) == N == len(set(ids))
    shards = beam_synth.write_shards(made[0], tmp_path)
    assert [p.name for p in shards] == ["synthetic_code-00000-of-00001.jsonl.gz"]


def test_an_interrupted_run_resumes_without_redoing_or_duplicating(in_process, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "code_in_pretraining.cli", "synth", "--beam", "--n", str(N), "--seed", str(SEED),
           "--out", str(out), "--workers", "2", "--no-progress", "--families", *FAMILIES]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    verdicts = out / "work" / "verdicts"
    deadline = time.monotonic() + 120
    while not list(verdicts.glob("*/*.jsonl")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # mid-round: some chunks verified, no output written
    proc.wait()
    before = {p: p.stat().st_mtime_ns for p in verdicts.glob("*/*.jsonl")}
    assert before and not list(out.glob("synthetic_code-*.jsonl.gz"))
    made = beam_synth.generate(N, SEED, out, families=FAMILIES, pipeline_args=_pipeline(2))
    assert _same(made, in_process)
    for p, mtime in before.items():  # what the killed run finished was read back, not redone
        assert p.stat().st_mtime_ns == mtime
    files = list(verdicts.glob("*/*.jsonl"))
    js = [(p.parent.name, json.loads(line)["j"]) for p in files for line in p.read_text().splitlines()]
    assert len(js) == len(set(js)), "a candidate verified twice"


def test_work_made_for_other_settings_is_refused(tmp_path):
    beam_synth._check_work(tmp_path, SEED, verify.Config())
    with pytest.raises(ValueError, match="use another output directory"):
        beam_synth._check_work(tmp_path, SEED + 1, verify.Config())
    with pytest.raises(ValueError, match="use another output directory"):
        beam_synth._check_work(tmp_path, SEED, verify.Config(min_kill=0.5))


def test_pipeline_options_without_beam_are_a_usage_error(tmp_path, capsys):
    assert main(["synth", "--n", "3", "--out", str(tmp_path / "x.jsonl"), "--direct_num_workers=2"]) == 2
    assert "--beam" in capsys.readouterr().err
    assert main(["synth", "--beam", "--n", "3", "--out", str(tmp_path / "x.jsonl.gz")]) == 2
