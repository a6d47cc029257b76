"""Verification by execution, every program in the sandbox (code_in_pretraining.eval.sandbox).

For each candidate problem:
1. expected outputs: the family's independent specification (`spec`, written
   differently from the solution, often brute force) runs on the test inputs and
   on the probe inputs. Specifications are the generator's own code, so several
   problems share one sandbox process (each in its own namespace, with a deadline).
2. one fresh sandbox process per candidate runs
   - the emitted text (prompt + solution + asserts) as a module: the solution must
     pass every test;
   - the differential check: the solution must agree with the specification on
     every probe input (random inputs not shown in the tests);
   - the mutants of the solution (mutants.py) against the same asserts. A mutant
     that also agrees with the specification on every probe is presumed
     equivalent and left out; of the others (the viable ones) the tests must kill
     at least `min_kill`, and there must be at least `min_viable` of them.
Before step 2, a problem whose tests all expect one value, or each its own first
argument back, is dropped as trivial (no run could tell such tests apart).
Mutants share their candidate's process: they are single-site edits of the
generator's own solution, each in its own namespace under its own deadline.
"""

from __future__ import annotations

import ast
import dataclasses
import random
from collections.abc import Iterable

from code_in_pretraining.eval import sandbox
from code_in_pretraining.synthetic import mutants as mutants_lib
from code_in_pretraining.synthetic import programs, render
from code_in_pretraining.synthetic.problem import Problem

REASONS = ("spec_error", "trivial_tests", "tests_fail", "differential", "few_mutants", "weak_tests", "sandbox_error")


@dataclasses.dataclass(frozen=True)
class Config:
    min_kill: float = 0.8          # share of viable mutants the tests must kill
    min_viable: int = 3            # fewer viable mutants than this: the tests cannot be judged
    max_mutants: int = 30          # mutants run per problem (a deterministic sample)
    spec_batch: int = 24           # specifications per sandbox process (fewer when their inputs are large)
    seconds: float = 5.0           # CPU-time deadline of one specification / of the solution's run
    mutant_seconds: float = 0.1    # CPU-time deadline of one mutant (tests + probes); solutions need milliseconds
    memory_mb: int = 1024


@dataclasses.dataclass(frozen=True)
class Verdict:
    kept: bool
    reason: str                    # "ok" or one of REASONS
    detail: str = ""
    prompt: str = ""
    solution: str = ""
    tests: str = ""
    text: str = ""
    verification: dict = dataclasses.field(default_factory=dict)


def _run(sources: Iterable[str], workers: int, config: Config, timeout_s: float) -> list[sandbox.SandboxResult]:
    return sandbox.run_programs(sources, workers=workers, timeout_s=timeout_s, memory_mb=config.memory_mb)


def expected_outputs(problems: list[Problem], *, workers: int = 2, config: Config = Config()) -> list:
    """Per problem: the reprs of spec's outputs on tests + probes, or an error string."""
    results: list = [None] * len(problems)
    todo = list(range(len(problems)))
    batch = config.spec_batch
    while todo:
        groups = _groups(todo, problems, batch)
        sources = [programs.expected_program(
            [(j, f"{problems[j].imports}\n{problems[j].spec}", list(problems[j].tests + problems[j].probes))
             for j in g], config.seconds) for g in groups]
        timeout = config.seconds * batch + 10
        for g, res in zip(groups, _run(sources, workers, config, timeout)):
            for job, outs, err in programs.reports(res.stdout).get("E", []):
                results[job] = outs if err is None else f"spec raised {err}"
            if res.status == "error":
                for j in g:
                    results[j] = results[j] or f"sandbox error: {res.stderr[-200:]}"
        left = [j for j in todo if results[j] is None]
        if batch == 1:  # alone and still silent: the specification itself hangs or crashes
            for j in left:
                results[j] = "spec produced no output (deadline or crash)"
            break
        todo, batch = left, 1
    for j, outs in enumerate(results):
        if isinstance(outs, list):
            try:
                for text in outs:
                    ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                results[j] = "spec output is not a literal"
    return results


def _groups(todo: list[int], problems: list[Problem], batch: int, max_chars: int = 16_000) -> list[list[int]]:
    """Consecutive groups of at most `batch` problems whose inputs are small enough that their
    outputs fit the sandbox's captured stdout."""
    groups, cur, size = [], [], 0
    for j in todo:
        n = len(repr(problems[j].tests + problems[j].probes))
        if cur and (len(cur) == batch or size + n > max_chars):
            groups.append(cur)
            cur, size = [], 0
        cur.append(j)
        size += n
    return groups + [cur] if cur else groups


def _sampled_mutants(problem: Problem, config: Config) -> tuple[int, list[mutants_lib.Mutant]]:
    source = problem.function_source()
    return mutants_lib.sample(source, config.max_mutants, random.Random(source))


def check(problems: list[Problem], expected: list, *, workers: int = 2, config: Config = Config()) -> list[Verdict]:
    """Runs the candidate programs (step 2) for problems whose expected outputs are known."""
    verdicts: list[Verdict | None] = [None] * len(problems)
    jobs = {}
    for j, (p, outs) in enumerate(zip(problems, expected)):
        if not isinstance(outs, list):
            verdicts[j] = Verdict(False, "sandbox_error" if "sandbox" in outs else "spec_error", outs)
            continue
        want_tests, want_probes = outs[:len(p.tests)], outs[len(p.tests):]
        if len(set(want_tests)) < 2 or all(w == repr(a[0]) for a, w in zip(p.tests, want_tests)):
            verdicts[j] = Verdict(False, "trivial_tests", "every test expects the same value, or its input back")
            continue
        prompt = render.prompt(p, want_tests)
        solution = render.solution(p)
        tests = render.tests(p, want_tests)
        jobs[j] = dict(prompt=prompt, solution=solution, tests=tests, text=render.text(prompt, solution, tests),
                       want=want_probes, solution_report=None, diff_report=None, mutant_reports={})
    # The wall-clock bound of any candidate's program: solution, probes and every mutant at their deadlines.
    timeout = 2 * config.seconds + 2 * config.mutant_seconds * config.max_mutants + 10
    pending = {j: True for j in jobs}  # j -> must the solution still run

    def sources(order: list[int], run_solution: dict[int, bool]):
        """Each candidate's program, made as the workers ask for it (its mutants on first use)."""
        for j in order:
            job, p = jobs[j], problems[j]
            if "mutants" not in job:
                job["n_all"], job["sampled"] = _sampled_mutants(p, config)
                job["mutants"] = [(k, f"{p.imports}\n{m.source}") for k, m in enumerate(job["sampled"])]
                job["probes"] = programs.probe_data(list(p.probes))
            left = [m for m in job["mutants"] if m[0] not in job["mutant_reports"]]
            yield programs.candidate_program(
                text=job["text"], tests=job["tests"], entry=p.entry, probes=job["probes"], want=job["want"],
                mutants=left, seconds=config.seconds, mutant_seconds=config.mutant_seconds,
                run_solution=run_solution[j])

    while pending:
        order = sorted(pending)
        results = _run(sources(order, pending), workers, config, timeout)
        next_pending = {}
        for j, res in zip(order, results):
            job = jobs[j]
            rep = programs.reports(res.stdout)
            if pending[j]:
                if res.status == "error":
                    verdicts[j] = Verdict(False, "sandbox_error", res.stderr[-200:])
                    continue
                if not rep.get("S"):
                    verdicts[j] = Verdict(False, "tests_fail", f"solution run ended: {res.status}")
                    continue
                job["solution_report"] = rep["S"][0]
                if not rep["S"][0][0]:
                    continue
                if not rep.get("D"):
                    verdicts[j] = Verdict(False, "differential", "solution did not finish the probes")
                    continue
                job["diff_report"] = rep["D"][0]
                if not rep["D"][0][0]:
                    continue
            for k, killed, differs in rep.get("M", []):
                job["mutant_reports"][k] = (killed, differs)
            left = [k for k, _ in job["mutants"] if k not in job["mutant_reports"]]
            if left:
                # The first silent mutant stalled the process: judge it from its partial report, rerun the rest.
                stalled = left[0]
                t_reports = {k: killed for k, killed in rep.get("T", [])}
                job["mutant_reports"][stalled] = (t_reports.get(stalled, True), True)
                if len(left) > 1:
                    next_pending[j] = False
        pending = next_pending
    for j, job in jobs.items():
        if verdicts[j] is None:
            verdicts[j] = _decide(problems[j], job, config)
    return verdicts


def _decide(p: Problem, job: dict, config: Config) -> Verdict:
    s_ok, s_err = job["solution_report"]
    if not s_ok:
        return Verdict(False, "tests_fail", s_err or "")
    agreed, first_bad = job["diff_report"]
    if not agreed:
        return Verdict(False, "differential", f"disagrees with the specification on probe {first_bad}: "
                                              f"{p.entry}{tuple(p.probes[first_bad]) if first_bad >= 0 else ''}")
    reports = [job["mutant_reports"][k] for k, _ in job["mutants"]]
    viable = [killed for killed, differs in reports if killed or differs]
    killed = sum(viable)
    by_op: dict[str, list[int]] = {}
    survivors = []
    for m, (k, d) in zip(job["sampled"], reports):
        if k or d:
            by_op.setdefault(m.operator, [0, 0])
            by_op[m.operator][0] += int(k)
            by_op[m.operator][1] += 1
        if d and not k:
            survivors.append(f"{m.operator}@{m.line}")
    verification = {
        "sandbox": "code_in_pretraining.eval.sandbox, one process per candidate",
        "tests": {"asserts": len(p.tests), "solution_passed": True},
        "differential": {"against": "independent specification", "inputs_checked": len(p.tests) + len(p.probes),
                         "probe_inputs": len(p.probes), "agreed": True},
        "mutants": {"generated": job["n_all"], "run": len(reports), "viable": len(viable), "killed": killed,
                    "presumed_equivalent": len(reports) - len(viable),
                    "kill_rate": round(killed / len(viable), 4) if viable else None,
                    "by_operator": {op: {"killed": v[0], "viable": v[1]} for op, v in sorted(by_op.items())},
                    "survivors": survivors},
        "thresholds": {"min_kill": config.min_kill, "min_viable": config.min_viable},
    }
    common = dict(prompt=job["prompt"], solution=job["solution"], tests=job["tests"], text=job["text"],
                  verification=verification)
    if len(viable) < config.min_viable:
        return Verdict(False, "few_mutants", f"{len(viable)} viable mutants", **common)
    if killed < config.min_kill * len(viable):
        return Verdict(False, "weak_tests", f"tests kill {killed}/{len(viable)} viable mutants", **common)
    return Verdict(True, "ok", "", **common)


def verify(problems: list[Problem], *, workers: int = 2, config: Config = Config()) -> list[Verdict]:
    """All checks for a batch of candidates; verdicts in input order."""
    expected = expected_outputs(problems, workers=workers, config=config)
    return check(problems, expected, workers=workers, config=config)
