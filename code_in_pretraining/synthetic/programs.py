"""The programs that verification runs in the sandbox, as source text.

Two kinds, both printing one `@@TAG [json]` line per finished unit so that a
program cut short by its deadline still reports what it finished:

expected_program   runs the specifications of several problems (the generator's
                   own reference code, not a candidate) on their inputs and prints
                   the repr of every output: `@@E [job, [reprs] | null, error]`.
candidate_program  for ONE problem, in a fresh process: runs the emitted text
                   (prompt + solution + asserts) as a module, `@@S [ok, error]`;
                   compares the solution with the specification's outputs on the
                   probe inputs, `@@D [agreed, first_bad]`; then each mutant in its
                   own namespace against the same asserts, `@@T [k, killed]`, and, when
                   the asserts did not kill it, on the probes, `@@M [k, killed, differs]`.
A deadline in CPU time (ITIMER_VIRTUAL, so that a loaded machine does not
change verdicts) bounds each unit; a unit stuck inside one C call (a huge
power, say) outlives it, the sandbox's wall-clock limit ends the process, and the
caller reruns whatever did not report.
"""

from __future__ import annotations

import json
import marshal

_PRELUDE = '''import copy as _copy
import json as _json
import marshal as _marshal
import signal as _signal


class _Deadline(BaseException):
    pass


def _alarm(*_):
    raise _Deadline()


_signal.signal(_signal.SIGVTALRM, _alarm)


def _report(tag, *values):
    print("@@" + tag + " " + _json.dumps(list(values)), flush=True)


def _limit(seconds):
    _signal.setitimer(_signal.ITIMER_VIRTUAL, seconds)


def _error(e):
    return type(e).__name__ + ": " + str(e)[:200]
'''

_EXPECTED = '''
for _job, _src, _inputs in _JOBS:
    _out, _err = [], None
    _limit(_SECONDS)
    try:
        _ns = {"__name__": "__spec__"}
        exec(_src, _ns)
        for _args in _inputs:
            _out.append(repr(_ns["spec"](*_copy.deepcopy(_args))))
    except BaseException as _e:
        _err = _error(_e)
    finally:
        _limit(0)
    _report("E", _job, None if _err else _out, _err)
'''

_CANDIDATE = '''
_PROBES = _marshal.loads(_PROBES)


def _probe(fn):
    """Index of the first probe where fn disagrees with the specification, or None."""
    for _i, (_args, _want) in enumerate(zip(_PROBES, _WANT)):
        try:
            if not fn(*_marshal.loads(_args)) == _want:
                return _i
        except _Deadline:
            raise
        except BaseException:
            return _i
    return None


if _RUN_SOLUTION:
    _ns = {"__name__": "__main__"}
    _limit(_SECONDS)
    try:
        exec(_TEXT, _ns)
        _report("S", True, None)
    except BaseException as _e:
        _report("S", False, _error(_e))
        raise SystemExit(0)
    finally:
        _limit(0)
    _limit(_SECONDS)
    try:
        _bad = _probe(_ns[_ENTRY])
    except _Deadline:
        _bad = -1
    finally:
        _limit(0)
    _report("D", _bad is None, _bad)

for _k, _src in _MUTANTS:
    _ns = {"__name__": "__mutant__"}
    _killed = None
    _limit(_MUTANT_SECONDS)
    try:
        exec(_src, _ns)
        try:
            exec(_TESTS, _ns)
            _killed = False
        except _Deadline:
            raise
        except BaseException:
            _killed = True
        _report("T", _k, _killed)
        _differs = _killed or _probe(_ns[_ENTRY]) is not None
    except _Deadline:
        _killed = True if _killed is None else _killed
        _differs = True
    finally:
        _limit(0)
    _report("M", _k, _killed, _differs)
'''


def expected_program(jobs: list[tuple[int, str, list[tuple]]], seconds: float) -> str:
    """jobs: (job id, spec source defining `spec`, argument tuples)."""
    return f"{_PRELUDE}\n_SECONDS = {seconds!r}\n_JOBS = {jobs!r}\n{_EXPECTED}"


def probe_data(probes: list[tuple]) -> bytes:
    """The probes' argument tuples for candidate_program, one marshal record each inside one: every
    call unmarshals a fresh copy of its arguments, much faster than deepcopy. Version 2 keeps no
    references, so no two arguments share an object: the same values a literal would give."""
    return marshal.dumps([marshal.dumps(tuple(args), 2) for args in probes], 2)


def candidate_program(*, text: str, tests: str, entry: str, probes: bytes, want: list[str],
                      mutants: list[tuple[int, str]], seconds: float, mutant_seconds: float,
                      run_solution: bool = True) -> str:
    """probes: probe_data(); want: reprs of the specification's outputs on them (pasted in as literals)."""
    return (f"{_PRELUDE}\n_SECONDS = {seconds!r}\n_MUTANT_SECONDS = {mutant_seconds!r}\n"
            f"_RUN_SOLUTION = {run_solution!r}\n_ENTRY = {entry!r}\n_TEXT = {text!r}\n_TESTS = {tests!r}\n"
            f"_PROBES = {probes!r}\n_WANT = [{', '.join(want)}]\n_MUTANTS = {mutants!r}\n{_CANDIDATE}")


def reports(stdout: str) -> dict[str, list[list]]:
    """tag -> list of reported value lists, in order; malformed or cut lines are skipped."""
    out: dict[str, list[list]] = {}
    for line in stdout.splitlines():
        if not line.startswith("@@") or " " not in line:
            continue
        tag, _, payload = line[2:].partition(" ")
        try:
            out.setdefault(tag, []).append(json.loads(payload))
        except json.JSONDecodeError:
            continue
    return out
