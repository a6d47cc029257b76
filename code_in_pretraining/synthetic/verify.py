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

import concurrent.futures
import dataclasses
import random
from concurrent.futures import Future

from code_in_pretraining.eval import sandbox
from code_in_pretraining.synthetic import mutants as mutants_lib
from code_in_pretraining.synthetic import parsing, programs, render
from code_in_pretraining.synthetic.problem import Problem

REASONS = ("spec_error", "trivial_tests", "tests_fail", "differential", "few_mutants", "weak_tests", "sandbox_error")


@dataclasses.dataclass(frozen=True)
class Config:
    min_kill: float = 0.8          # share of viable mutants the tests must kill
    min_viable: int = 3            # fewer viable mutants than this: the tests cannot be judged
    max_mutants: int = 30          # mutants run per problem (a deterministic sample)
    spec_batch: int = 24           # specifications per sandbox process (fewer when their inputs are large)
    seconds: float = 5.0           # CPU-time deadline of one specification / of the solution's run
    # CPU-time deadline of one mutant (tests + probes). A mutant that outlives it counts as killed by
    # the tests (or as differing, in the probes), as mutation testers count timeouts. Solutions need
    # milliseconds: of 4,363 mutants that finished (220 problems, seed 1) the slowest took 16 ms, while
    # every mutant that loops forever costs the whole deadline (117 of them there).
    mutant_seconds: float = 0.03
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


def _groups(todo: list[int], problems: dict[int, Problem], batch: int, max_chars: int = 16_000) -> list[list[int]]:
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


def _literal_outputs(outs: list[str]) -> list[str] | str:
    try:
        for text in outs:
            parsing.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return "spec output is not a literal"
    return outs


class Verifier:
    """Problems on their way through verification, each step submitted to the sandbox as soon as
    the one before it ends, so that the workers never wait for a whole batch.

    A problem's specification runs first, in a program with others (`spec_batch`; one that stays
    silent there runs again alone); then its candidate program; a program that a mutant stalled
    runs again for the mutants that did not report. `wait()` hands back the verdicts as they come.
    """

    def __init__(self, submit, config: Config = Config()):
        self.submit, self.config = submit, config
        self.problems: dict[int, Problem] = {}
        self.jobs: dict[int, dict] = {}
        self.running: dict[Future, tuple] = {}
        self.finished: list[tuple[int, Verdict]] = []
        # The wall-clock bound of any candidate's program: solution, probes and every mutant at their deadlines.
        self.candidate_timeout = 2 * config.seconds + 2 * config.mutant_seconds * config.max_mutants + 10

    def add(self, problems: dict[int, Problem]) -> None:
        """Starts verifying these problems (keys: the caller's ids, ints: they travel through JSON)."""
        self.problems.update(problems)
        for group in _groups(list(problems), self.problems, self.config.spec_batch):
            self._run_specs(group, self.config.spec_batch)

    def busy(self) -> int:
        """Problems without a verdict yet."""
        return len(self.problems)

    def wait(self) -> list[tuple[int, Verdict]]:
        """Blocks until a program ends; (id, verdict) of the problems that it settled (maybe none)."""
        done, _ = concurrent.futures.wait(list(self.running), return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            kind, *what = self.running.pop(future)
            (self._specs_ran if kind == "specs" else self._candidate_ran)(future.result(), *what)
        out, self.finished = self.finished, []
        return out

    def _settle(self, j: int, verdict: Verdict) -> None:
        del self.problems[j]
        self.jobs.pop(j, None)
        self.finished.append((j, verdict))

    def _run_specs(self, group: list[int], batch: int) -> None:
        source = programs.expected_program(
            [(j, f"{self.problems[j].imports}\n{self.problems[j].spec}",
              list(self.problems[j].tests + self.problems[j].probes)) for j in group], self.config.seconds)
        future = self.submit(source, timeout_s=self.config.seconds * batch + 10, memory_mb=self.config.memory_mb)
        self.running[future] = ("specs", group, batch)

    def _specs_ran(self, res: sandbox.SandboxResult, group: list[int], batch: int) -> None:
        outputs = {}
        for job, outs, err in programs.reports(res.stdout).get("E", []):
            outputs[job] = _literal_outputs(outs) if err is None else f"spec raised {err}"
        silent = []
        for j in group:
            if j in outputs:
                self._after_spec(j, outputs[j])
            elif res.status == "error":
                self._after_spec(j, f"sandbox error: {res.stderr[-200:]}")
            elif batch > 1:
                silent.append(j)
            else:  # alone and still silent: the specification itself hangs or crashes
                self._after_spec(j, "spec produced no output (deadline or crash)")
        for one in silent:
            self._run_specs([one], 1)

    def _after_spec(self, j: int, outs: list[str] | str) -> None:
        p = self.problems[j]
        if not isinstance(outs, list):
            return self._settle(j, Verdict(False, "sandbox_error" if "sandbox" in outs else "spec_error", outs))
        want_tests, want_probes = outs[:len(p.tests)], outs[len(p.tests):]
        if len(set(want_tests)) < 2 or all(w == repr(a[0]) for a, w in zip(p.tests, want_tests)):
            return self._settle(j, Verdict(False, "trivial_tests",
                                           "every test expects the same value, or its input back"))
        prompt, solution, tests = render.prompt(p, want_tests), render.solution(p), render.tests(p, want_tests)
        n_all, sampled = _sampled_mutants(p, self.config)
        self.jobs[j] = dict(prompt=prompt, solution=solution, tests=tests, text=render.text(prompt, solution, tests),
                            want=want_probes, n_all=n_all, sampled=sampled, probes=programs.probe_data(list(p.probes)),
                            mutants=[(k, f"{p.imports}\n{m.source}") for k, m in enumerate(sampled)],
                            solution_report=None, diff_report=None, mutant_reports={})
        self._run_candidate(j, run_solution=True)

    def _run_candidate(self, j: int, run_solution: bool) -> None:
        job, p = self.jobs[j], self.problems[j]
        left = [m for m in job["mutants"] if m[0] not in job["mutant_reports"]]
        source = programs.candidate_program(
            text=job["text"], tests=job["tests"], entry=p.entry, probes=job["probes"], want=job["want"],
            mutants=left, seconds=self.config.seconds, mutant_seconds=self.config.mutant_seconds,
            run_solution=run_solution)
        future = self.submit(source, timeout_s=self.candidate_timeout, memory_mb=self.config.memory_mb)
        self.running[future] = ("candidate", j, run_solution)

    def _candidate_ran(self, res: sandbox.SandboxResult, j: int, ran_solution: bool) -> None:
        job = self.jobs[j]
        rep = programs.reports(res.stdout)
        if ran_solution:
            if res.status == "error":
                return self._settle(j, Verdict(False, "sandbox_error", res.stderr[-200:]))
            if not rep.get("S"):
                return self._settle(j, Verdict(False, "tests_fail", f"solution run ended: {res.status}"))
            job["solution_report"] = rep["S"][0]
            if not rep["S"][0][0]:
                return self._settle(j, _decide(self.problems[j], job, self.config))
            if not rep.get("D"):
                return self._settle(j, Verdict(False, "differential", "solution did not finish the probes"))
            job["diff_report"] = rep["D"][0]
            if not rep["D"][0][0]:
                return self._settle(j, _decide(self.problems[j], job, self.config))
        for k, killed, differs in rep.get("M", []):
            job["mutant_reports"][k] = (killed, differs)
        left = [k for k, _ in job["mutants"] if k not in job["mutant_reports"]]
        if left:
            # The first silent mutant stalled the process: judge it from its partial report, rerun the rest.
            stalled = left[0]
            t_reports = {k: killed for k, killed in rep.get("T", [])}
            job["mutant_reports"][stalled] = (t_reports.get(stalled, True), True)
            if len(left) > 1:
                return self._run_candidate(j, run_solution=False)
        self._settle(j, _decide(self.problems[j], job, self.config))


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
    verdicts: dict[int, Verdict] = {}
    with sandbox.session(workers) as submit:
        verifier = Verifier(submit, config)
        verifier.add(dict(enumerate(problems)))
        while verifier.busy():
            verdicts.update(verifier.wait())
    return [verdicts[j] for j in range(len(problems))]
