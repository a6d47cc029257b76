"""Sandbox security battery: every hostile program is contained, reported as failed, and the host is unchanged."""

import os
import pathlib
import socket
import subprocess
import time

import pytest

from code_in_pretraining.eval import sandbox

LIMITS = dict(timeout_s=3.0, memory_mb=512)


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


def test_infinite_loop_times_out_quickly():
    t0 = time.perf_counter()
    r = run("while True:\n    pass\n", timeout_s=1.0)
    assert r.status == "timeout" and not r.passed
    assert time.perf_counter() - t0 < 5


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


def test_every_plan_that_runs_here_contains_the_basics():
    """The degraded plans (fewer namespaces, no uid drop) still block network and early exits."""
    for iso in sandbox._plans():
        probe = sandbox._run(iso, "print('ok')", timeout_s=5, memory_mb=512, file_size_mb=8, max_procs=16)
        if not probe.passed:
            continue
        lim = dict(timeout_s=3, memory_mb=512, file_size_mb=8, max_procs=16)
        net = sandbox._run(iso, "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n", **lim)
        assert not net.passed, iso
        assert not sandbox._run(iso, "import os\nos._exit(0)\n", **lim).passed, iso
        assert sandbox._run(iso, "while True:\n    pass\n", **{**lim, "timeout_s": 1}).status == "timeout", iso
        assert not sandbox._run(iso, "x = bytearray(4 * 1024**3)\n", **lim).passed, iso
