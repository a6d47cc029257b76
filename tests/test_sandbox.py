"""Sandbox security battery: every hostile program is contained, reported as failed, and the host is unchanged."""

import functools
import os
import pathlib
import socket
import subprocess
import time

import pytest

from code_in_pretraining.data import paths
from code_in_pretraining.eval import sandbox, sandbox_plan, sandbox_worker

LIMITS = {"timeout_s": 3.0, "memory_mb": 512}


@pytest.fixture(scope="module", autouse=True)
def plan():
    iso = sandbox.isolation()
    print("sandbox plan:", iso.describe())
    return iso


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary.txt"
    path.write_text("canary")
    return path


def run(source, **kw):
    return sandbox.run_program(source, **{**LIMITS, **kw})


def test_clean_program_passes_and_output_is_captured():
    r = run("print('hello')\nimport sys\nprint('oops', file=sys.stderr)\n")
    assert r.passed and r.status == "passed" and r.returncode == 0
    assert r.stdout == "hello\n" and r.stderr == "oops\n"


def test_a_program_runs_as_a_script_would():
    """__main__, annotations evaluated (no __future__ of the server's leaks in), tracebacks with source."""
    r = run("import sys\nassert __name__ == '__main__' and sys.modules['__main__'].__dict__ is globals()\n"
            "def f(x: int) -> 'str':\n    return str(x)\nassert f.__annotations__['x'] is int\n")
    assert r.passed, r
    r = run("def f() -> undefined_name:\n    pass\n")
    assert not r.passed and "NameError" in r.stderr
    r = run("def g():\n    raise ValueError('deep')\ng()\n")
    assert r.stderr.splitlines()[1:] == ['  File "program.py", line 3, in <module>', "    g()",
                                         '  File "program.py", line 2, in g', "    raise ValueError('deep')",
                                         "ValueError: deep"], r.stderr


def test_exception_fails():
    r = run("assert 1 == 2, 'wrong'\n")
    assert not r.passed and r.status == "failed" and "AssertionError: wrong" in r.stderr


@pytest.mark.parametrize("exit_call", ["import os; os._exit(0)", "import sys; sys.exit(0)", "raise SystemExit"])
def test_early_exit_before_tests_counts_as_failed(exit_call):
    r = run(f"{exit_call}\nassert False\n")
    assert not r.passed and r.status == "failed"


def test_forged_sentinel_in_output_is_not_a_pass():
    r = run("import os\nprint('ok')\nos._exit(0)\n")
    assert not r.passed


def test_not_root_inside(plan):
    r = run("import os\nprint(os.getuid(), os.geteuid())\n")
    assert r.passed
    if os.geteuid() == 0 and plan.drop_uid:
        assert "0" not in r.stdout.split()


@pytest.mark.parametrize("source", ["while True:\n    pass\n", "import time\ntime.sleep(60)\n"],
                         ids=["cpu-loop", "sleep-past-deadline"])
def test_a_program_past_its_deadline_times_out_on_time(source):
    t0 = time.perf_counter()
    r = run(source, timeout_s=1.0)
    assert r.status == "timeout" and not r.passed
    assert time.perf_counter() - t0 < 4


def test_fork_bomb_is_contained():
    t0 = time.perf_counter()
    r = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", timeout_s=2.0)
    assert not r.passed
    assert time.perf_counter() - t0 < 10
    assert run("print('still works')").passed


def test_memory_bomb_is_contained():
    r = run("x = bytearray(8 * 1024**3)\n")
    assert not r.passed and "MemoryError" in r.stderr
    r = run("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024**2))\n")
    assert not r.passed


def test_files_outside_its_directory_are_untouched(canary):
    before = canary.read_text(), canary.stat().st_mtime_ns
    escape = pathlib.Path("/work/main/SANDBOX_ESCAPE")  # a root-owned tree
    src = f"""
import os, shutil
for attempt in (lambda: open({str(canary)!r}, "w").write("pwned"),
                lambda: os.unlink({str(canary)!r}),
                lambda: shutil.rmtree({str(canary.parent)!r}),
                lambda: open({str(escape)!r}, "w").write("x"),
                lambda: open("/etc/passwd", "a").write("x")):
    try:
        attempt()
    except OSError:
        pass
with open("mine.txt", "w") as f:
    f.write("own directory is writable")
print(open("mine.txt").read())
"""
    r = run(src)
    assert r.passed and "own directory is writable" in r.stdout
    assert canary.exists() and (canary.read_text(), canary.stat().st_mtime_ns) == before
    assert not escape.exists()


def test_own_directory_is_private_and_removed():
    r = run("import os\nprint(os.getcwd())\nopen('left.txt', 'w').write('x')\n")
    assert r.passed
    first = r.stdout.strip()
    assert run("import os\nprint(sorted(os.listdir('.')))\n").stdout.count("left.txt") == 0
    if first != "/tmp":  # no mount namespace: the directory itself is deleted afterwards
        assert not pathlib.Path(first).exists()


def test_sockets_cannot_reach_the_host():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        r = run(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'hi')\n")
        assert not r.passed
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    r = run("import urllib.request\nurllib.request.urlopen('http://localhost:9', timeout=2)\n")
    assert not r.passed


def test_signalling_the_parent_or_everyone_is_contained():
    """Signals reach nothing outside: the harness and a host process survive.

    A program that tries to signal another process is refused and fails, even if
    it catches the error and goes on.
    """
    host = subprocess.Popen(["sleep", "30"])
    try:
        r = run(f"import os, signal\nos.kill({host.pid}, signal.SIGKILL)\n")
        assert not r.passed and ("ProcessLookupError" in r.stderr or "PermissionError" in r.stderr)
        for call in ("os.kill(os.getppid(), signal.SIGKILL)", "os.kill(-1, signal.SIGKILL)",
                     "os.killpg(0, signal.SIGKILL)", "signal.pthread_kill(threading.main_thread().ident, 9)"):
            src = f"import os, signal, threading\ntry:\n    {call}\nexcept Exception:\n    pass\nprint('after')\n"
            r = run(src)
            assert not r.passed and r.status == "failed", (src, r)
        assert host.poll() is None, "a host process was killed"
        assert run("print('harness alive')").passed
    finally:
        host.kill()
        host.wait()


def test_stdout_flood_is_capped():
    t0 = time.perf_counter()
    r = run("while True:\n    print('x' * 1000)\n", timeout_s=3.0)
    assert not r.passed
    assert len(r.stdout) <= sandbox.STDOUT_KEEP + 8192
    assert time.perf_counter() - t0 < 8


def test_run_programs_keeps_going_and_keeps_order():
    sources = ["print(1)", "raise ValueError", "import os; os._exit(0)", "while True: pass", "print(2)"]
    results = sandbox.run_programs(sources, workers=2, timeout_s=1.0, memory_mb=512)
    assert [r.passed for r in results] == [True, False, False, False, True]
    assert results[3].status == "timeout"
    assert results[0].stdout == "1\n" and results[4].stdout == "2\n"


def _run_on(worker, source, **kw):
    return worker.run(source, **{**sandbox.DEFAULT_LIMITS, **LIMITS, **kw})


def test_every_plan_that_runs_here_contains_the_basics():
    """The degraded plans (fewer namespaces, no uid drop) still block network and early exits."""
    for plan in sandbox_plan.plans():
        try:
            worker = sandbox_worker.Worker(plan)
        except sandbox_worker.WorkerError:
            continue
        try:
            run_on = functools.partial(_run_on, worker)
            if not run_on("print('ok')").passed:
                continue
            net = run_on("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n")
            assert not net.passed, plan
            assert not run_on("import os\nos._exit(0)\n").passed, plan
            assert run_on("while True:\n    pass\n", timeout_s=1).status == "timeout", plan
            assert not run_on("x = bytearray(4 * 1024**3)\n").passed, plan
        finally:
            worker.close()


# -- through the fork server: what a program sees, what it can break --------------------------------
PROJECT = pathlib.Path(__file__).resolve().parents[1]


def _needs(plan, what):
    if not getattr(plan, what):
        pytest.skip(f"the plan in use here has no {what}: {plan.describe()}")


def _a_data_file() -> pathlib.Path | None:
    for d in (paths.data_dir() / "evals", paths.data_dir()):
        files = sorted(f for f in d.glob("*") if f.is_file()) if d.is_dir() else []
        if files:
            return files[0]
    return None


def test_project_tree_and_evaluation_data_are_not_visible(plan, canary):
    _needs(plan, "minimal_root")
    targets = [PROJECT / "README.md", pathlib.Path(__file__), canary]
    data = _a_data_file()
    if data is not None:
        targets.append(data)
    for target in targets:
        assert target.exists()
        r = run(f"print(open({str(target)!r}).read()[:100])\n")
        assert not r.passed and ("FileNotFoundError" in r.stderr or "PermissionError" in r.stderr), (target, r)
    r = run(f"import os\nprint(os.path.exists({str(PROJECT)!r}), os.path.exists('/work'))\n")
    assert r.passed and r.stdout.split() == ["False", "False"]


def test_root_and_home_are_not_listable_or_empty():
    for d in ("/root", "/home"):
        r = run(f"import os\nprint(sorted(os.listdir({d!r})))\n")
        assert not r.passed or r.stdout.strip() == "[]", (d, r)


def test_nothing_outside_its_directory_is_writable(plan):
    _needs(plan, "minimal_root")
    src = """
import os, sys
written = []
for path in ("/x", "/python/x", sys.path[0] + "/x.py", "/usr/lib/x", "/dev/x", "/proc/x", "/etc/x"):
    try:
        open(path, "w").write("x")
        written.append(path)
    except OSError:
        pass
for path in ("/tmp/a", "/var/tmp/b", "/dev/shm/c"):
    open(path, "w").write("mine")
print(written, sorted(os.listdir("/tmp")), os.listdir("/dev/shm"))
"""
    r = run(src)
    assert r.passed and r.stdout.strip() == "[] ['a', 'b'] ['c']", r


def test_killing_the_worker_or_parent_by_pid_fails_and_the_worker_survives():
    p = sandbox.pool()
    worker = p.acquire()
    try:
        for call in (f"os.kill({worker.server_pid}, 9)", "os.kill(1, 9)", "os.kill(os.getppid(), 9)",
                     "ctypes.CDLL(None).kill(1, 9) == 0 or os._exit(0)",  # below the audit hook: EPERM
                     f"ctypes.CDLL(None).kill({worker.server_pid}, 9) == 0 or os._exit(0)"):
            r = _run_on(worker, f"import ctypes, os\n{call}\n")
            assert not r.passed, (call, r)
            assert worker.alive(), call
        assert _run_on(worker, "print('alive')").passed
    finally:
        p.release(worker)


def test_a_daemonised_grandchild_is_dead_when_the_result_returns(plan):
    _needs(plan, "namespaces")
    src = """
import os, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, b"up")
        time.sleep(60)
    os._exit(0)
assert os.read(r, 2) == b"up"
print("daemon started")
"""
    p = sandbox.pool()
    worker = p.acquire()
    try:
        r = _run_on(worker, src)
        assert r.passed and "daemon started" in r.stdout
        assert worker.footprint()["processes"] == 0
    finally:
        p.release(worker)


def test_a_segfault_ends_only_its_own_program():
    p = sandbox.pool()
    worker = p.acquire()
    try:
        r = _run_on(worker, "import ctypes\nctypes.string_at(0)\n")
        assert r.status == "killed" and r.returncode == -11 and not r.passed
        assert worker.alive()
        assert _run_on(worker, "print('next')").passed
    finally:
        p.release(worker)


def test_a_worker_that_dies_is_replaced_and_others_results_stand():
    p = sandbox.pool()
    worker = p.acquire()
    os.kill(worker.server_pid, 9)  # from the host: the worker's death is no program's doing
    time.sleep(0.1)
    r = _run_on(worker, "print('lost')")
    assert r.status == "error" and not worker.alive()
    p.release(worker)  # a dead worker is dropped, not pooled
    results = sandbox.run_programs(["print(1)", "print(2)", "raise SystemExit(3)"], workers=2, **LIMITS)
    assert [r.status for r in results] == ["passed", "passed", "failed"]


def test_after_a_thousand_programs_the_worker_holds_nothing_extra(plan):
    """Programs that fork, leave daemons, open files, mount-point writes, shared memory and crash."""
    hostile = ["import os\nif os.fork() == 0:\n    os.setsid()\n    import time; time.sleep(30)\n",
               "f = open('/tmp/x', 'w')\nimport os\nr, w = os.pipe()\n",
               "import os\nfd = os.open('/dev/shm/s', os.O_CREAT | os.O_RDWR)\nos.write(fd, b'x' * 4096)\n",
               "import ctypes\nctypes.string_at(0)\n",
               "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"]
    sources = [hostile[i // 5 % len(hostile)] if i % 5 == 0 else f"assert {i} + 1 == {i + 1}\n"
               for i in range(1000)]
    p = sandbox.pool()
    worker = p.acquire()
    try:
        _run_on(worker, "pass")
        before = worker.footprint()
        results = [_run_on(worker, s) for s in sources]
        assert sum(r.passed for r in results) >= 800
        assert worker.alive() and worker.programs >= 1000
        after = worker.footprint()
        assert after["fds"] == before["fds"], (before, after)
        if "mount" in plan.namespaces:  # else the mount table is the host's, which others change
            assert after["mounts"] == before["mounts"], (before, after)
        if "pid" in plan.namespaces:
            assert after["processes"] == 0
    finally:
        p.release(worker)
