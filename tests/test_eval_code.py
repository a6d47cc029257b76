"""Code benchmarks through the sandbox: reference solutions pass, empty completions do not."""

import pathlib

import pytest

from code_in_pretraining.eval import benchmarks, code_exec, metrics, offline

SHARED_EVAL = pathlib.Path("/work/shared/data/eval")
pytestmark = pytest.mark.skipif(not (SHARED_EVAL / "humaneval.jsonl.gz").exists(),
                                reason=f"offline evaluation files not found at {SHARED_EVAL}")


def load(name):
    b = benchmarks.BENCHMARKS[name]
    return [b.offline_format(r) for r in offline.read_records(SHARED_EVAL / b.offline_file)]


def pass1(examples, completions):
    results = code_exec.run_completions(examples, completions, workers=2)
    return metrics.pass_at_k(None, [[r.passed for r in rs] for rs in results], ks=(1,))["pass@1"], results


def test_humaneval_canonical_solutions_pass_at_1_is_one():
    examples = load("humaneval")
    assert len(examples) == 164
    score, _ = pass1(examples, [[code_exec.reference(ex)] for ex in examples])
    assert score == 100.0


def test_mbpp_reference_solutions_pass():
    examples = load("mbpp")
    assert len(examples) == 500
    score, results = pass1(examples, [[code_exec.reference(ex)] for ex in examples])
    failed = [ex["id"] for ex, rs in zip(examples, results) if not rs[0].passed]
    assert score >= 99.0, failed


@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_empty_completions_score_zero(name):
    examples = load(name)[:24]
    score, _ = pass1(examples, [[""] for _ in examples])
    assert score == 0.0
