"""Synthetic problems through the sandbox: emitted problems pass, planted faults are caught, runs repeat."""

from __future__ import annotations

import dataclasses

import pytest

from code_in_pretraining.eval import sandbox
from code_in_pretraining.synthetic import families, generate, output, streams, verify
from code_in_pretraining.synthetic.problem import Problem

N = 2 * 11  # two problems of each family


@pytest.fixture(scope="module")
def small_run():
    return generate.generate(N, seed=11, workers=2)


def test_run_is_balanced_over_families_and_distinct(small_run):
    records, outcomes = small_run
    assert len(records) == N
    fams = [r["family"] for r in records]
    assert {f: fams.count(f) for f in families.FAMILIES} == dict.fromkeys(families.FAMILIES, 2)
    assert len({r["id"] for r in records}) == N and len({r["text"] for r in records}) == N
    assert sum(o.reason == "ok" for o in outcomes) == N
    for r in records:
        v = r["verification"]
        assert r["text"] == r["prompt"] + r["solution"] + "\n\n" + r["tests"]
        assert v["tests"]["solution_passed"] and v["differential"]["agreed"]
        assert v["differential"]["inputs_checked"] > v["tests"]["asserts"]
        m = v["mutants"]
        assert m["viable"] >= 3 and m["killed"] >= 0.8 * m["viable"]


def test_emitted_problems_pass_their_tests_in_a_fresh_sandbox(small_run):
    records, _ = small_run
    results = sandbox.run_programs([r["text"] for r in records], workers=2, timeout_s=20, memory_mb=1024)
    assert all(res.passed for res in results), [(r["id"], res.stderr[-300:]) for r, res in zip(records, results)
                                                if not res.passed]
    # The asserts really run: one wrong expected value makes the same program fail.
    r = records[0]
    first = r["tests"].splitlines()[0]
    broken = r["text"].replace(first, first.rsplit("==", 1)[0] + "== 'not the answer'")
    assert not sandbox.run_program(broken, timeout_s=20, memory_mb=1024).passed


def test_same_seed_same_bytes_whatever_the_workers(small_run, tmp_path):
    records, _ = small_run
    again, _ = generate.generate(N, seed=11, workers=1)
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    output.write_jsonl(records, a)
    output.write_jsonl(again, b)
    assert a.read_bytes() == b.read_bytes()


def _increment(body: str, tests=((1,), (2,), (5,))) -> Problem:
    return Problem(family="planted", template="increment", entry="inc", signature="def inc(x: int) -> int:",
                   statement="Return x plus one.", body=body, spec="def spec(x):\n    return x + 1\n",
                   tests=tests, probes=tuple((i,) for i in range(-20, 20)))


def test_planted_wrong_solutions_are_rejected():
    good, fails_tests, fools_tests = verify.verify([
        _increment("return x + 1"),
        _increment("return x + 2"),
        _increment("return {1: 2, 2: 3, 5: 6}.get(x, 0)"),  # passes its tests, wrong elsewhere
    ], workers=2)
    assert fails_tests.reason == "tests_fail" and not fails_tests.kept
    assert fools_tests.reason == "differential" and not fools_tests.kept
    assert good.reason in ("ok", "few_mutants")  # a one-liner may have too few mutants to judge


def test_planted_weak_tests_are_rejected_by_the_mutant_check():
    p = next(q for j in range(50) if (q := streams.candidate(0, "lists", j)).template == "window_sum")
    weak = dataclasses.replace(p, tests=(([],), ([0] * 5,)))  # the loop never runs
    strong_v, weak_v = verify.verify([p, weak], workers=2)
    assert strong_v.kept, strong_v.detail
    assert weak_v.reason == "weak_tests", (weak_v.reason, weak_v.detail)
    m = weak_v.verification["mutants"]
    assert m["killed"] < 0.8 * m["viable"]


def test_trivial_tests_are_rejected():
    same = _increment("return x + 1", tests=((1,), (1,)))
    (v,) = verify.verify([same], workers=1)
    assert v.reason == "trivial_tests"


def test_a_hanging_specification_is_reported_not_waited_for():
    p = _increment("return x + 1")
    hang = dataclasses.replace(p, spec="def spec(x):\n    while True:\n        x += 1\n")
    (v,) = verify.verify([hang], workers=1, config=verify.Config(seconds=0.5))
    assert v.reason == "spec_error" and not v.kept
