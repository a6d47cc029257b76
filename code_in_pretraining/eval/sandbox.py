"""Run untrusted Python programs (model-written code) one process each, contained.

Every program gets its own process, its own temporary directory, limits on CPU
time, address space, file size, open files and process count (`prlimit`), and a
wall-clock deadline after which its whole process group -- and, where a PID
namespace is available, everything it spawned -- is killed.

Sessions and CI run as root, where RLIMIT_NPROC does not bind and file
permissions do not protect. So, as root, the program runs under a fresh
unprivileged uid (`setpriv`, no capabilities, no_new_privs), inside new network,
PID and mount namespaces (`unshare`): no network, no view of other processes,
its own directory mounted over /tmp and /var/tmp, a private /dev/shm. What
works is probed once on the machine (`isolation()`), degrading step by step:
namespaces without the mount step, then no namespaces with the socket modules
disabled inside the child. `describe()` says which plan is in use.

A program passes only if it runs to the end: the driver prints a per-run token
after the program returns, so `os._exit(0)` or `sys.exit(0)` before the tests
counts as failed. (The token lives in the driver's memory; a program that digs
it out of the interpreter's frames on purpose could forge a pass. Model-written
code that exits early cannot.)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import math
import os
import pathlib
import random
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

STDOUT_KEEP = 64 * 1024  # bytes of each stream kept in the result
UID_RANGE = (200_000, 2**31 - 2)  # fresh uids without a passwd entry, one per run

_DRIVER = r'''
import os, sys
def _run():
    with open("token") as f:
        token = f.read().strip()
    os.unlink("token")
    if DISABLE_SOCKETS:
        for name in ("socket", "_socket", "ssl", "_ssl"):
            sys.modules[name] = None
    me, tried = os.getpid(), []
    def no_signals(event, args):  # an audit hook cannot be removed by the program
        if event in ("os.kill", "os.killpg", "signal.pthread_kill") and args[0] != me:
            tried.append(event)
            raise PermissionError("sandbox: programs may not signal other processes")
    sys.addaudithook(no_signals)
    with open("program.py", encoding="utf-8") as f:
        code = compile(f.read(), "program.py", "exec")
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    sys.stdout.flush()
    if not tried:  # a program that tried to signal another process fails, even if it went on
        os.write(1, ("\n" + token + "\n").encode())
_run()
'''


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: str  # passed | failed | timeout | killed | error
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How programs are contained on this machine (see `isolation()`)."""

    namespaces: tuple[str, ...]  # unshare flags, () if none
    private_tmp: bool  # own directory mounted over /tmp and /var/tmp, private /dev/shm
    drop_uid: bool  # run under a fresh unprivileged uid (needs root)
    disable_sockets: bool  # no network namespace: socket modules removed in the child
    python: str

    def describe(self) -> str:
        parts = []
        parts.append("unshare " + " ".join(self.namespaces) if self.namespaces else "no namespaces")
        if self.private_tmp:
            parts.append("private /tmp")
        parts.append("setpriv to a fresh uid, no capabilities" if self.drop_uid else "same uid")
        if self.disable_sockets:
            parts.append("sockets disabled in the child")
        parts.append("prlimit (cpu, as, fsize, nproc, nofile, core)")
        parts.append(f"python {self.python}")
        return "; ".join(parts)


def _command(iso: Isolation, workdir: pathlib.Path, uid: int, *, timeout_s: float, memory_mb: int,
             file_size_mb: int, max_procs: int) -> list[str]:
    cpu = max(1, math.ceil(timeout_s))
    cmd = ["prlimit", f"--cpu={cpu}:{cpu + 1}", f"--as={memory_mb * 2**20}",
           f"--fsize={file_size_mb * 2**20}", f"--nproc={max_procs}", "--nofile=64", "--core=0", "--"]
    if iso.namespaces:
        cmd += ["unshare", *iso.namespaces, "--fork", "--kill-child", "--"]
    here = "/tmp" if iso.private_tmp else str(workdir)
    python = [iso.python, "-I", "-S", "driver.py"]
    if iso.drop_uid:
        python = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                  "--inh-caps=-all", "--bounding-set=-all", "--", *python]
    script = 'cd "$1" && shift && exec "$@"'
    if iso.private_tmp:
        script = ('mount --bind "$1" /var/tmp && mount --bind "$1" /tmp && '
                  'mount -t tmpfs -o size=1m,mode=1777 tmpfs /dev/shm && cd /tmp && shift && exec "$@"')
    return cmd + ["sh", "-c", script, "sh", str(workdir) if iso.private_tmp else here, *python]


def _kill_uid(uid: int) -> None:
    """Kills every process of `uid` (no PID namespace to tear down)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _run(iso: Isolation, source: str, *, timeout_s: float, memory_mb: int, file_size_mb: int,
         max_procs: int) -> SandboxResult:
    uid = random.randrange(*UID_RANGE)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="cip-sandbox-"))
    outdir = pathlib.Path(tempfile.mkdtemp(prefix="cip-sandbox-out-"))
    token = secrets.token_hex(16)
    t0 = time.perf_counter()
    try:
        (workdir / "program.py").write_text(source, encoding="utf-8")
        (workdir / "driver.py").write_text(f"DISABLE_SOCKETS = {iso.disable_sockets}\n{_DRIVER}")
        (workdir / "token").write_text(token)
        if iso.drop_uid:
            for p in [workdir, *workdir.iterdir()]:
                os.chown(p, uid, uid)
        workdir.chmod(0o700)
        cmd = _command(iso, workdir, uid, timeout_s=timeout_s, memory_mb=memory_mb,
                       file_size_mb=file_size_mb, max_procs=max_procs)
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp" if iso.private_tmp else str(workdir),
               "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        with open(outdir / "stdout", "wb") as out, open(outdir / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                    cwd=workdir, start_new_session=True)
            try:
                timed_out = not _wait(proc, timeout_s)
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                if iso.drop_uid and not iso.namespaces:
                    _kill_uid(uid)
        wall = time.perf_counter() - t0
        stdout, stderr = _read(outdir / "stdout"), _read(outdir / "stderr")
        rc = proc.returncode
        ended = stdout.rstrip("\n").rsplit("\n", 1)[-1] == token
        if timed_out or rc == -signal.SIGXCPU:  # the wall-clock deadline or the CPU-time limit
            status = "timeout"
        elif rc is not None and rc < 0:
            status = "killed"
        elif rc == 0 and ended:
            status = "passed"
        else:
            status = "failed"
        stdout = stdout.replace(f"\n{token}\n", "") if ended else stdout
        return SandboxResult(status == "passed", status, None if timed_out else rc,
                             stdout[:STDOUT_KEEP], stderr[:STDOUT_KEEP], wall)
    except OSError as e:
        return SandboxResult(False, "error", None, "", f"sandbox error: {e}", time.perf_counter() - t0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(outdir, ignore_errors=True)


def _wait(proc: subprocess.Popen, timeout_s: float) -> bool:
    """True if the process exited within the deadline. A pidfd wakes at once on exit;
    Popen.wait(timeout) polls with sleeps that add tens of ms per program."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
        return bool(ready)
    finally:
        os.close(fd)


def _read(path: pathlib.Path) -> str:
    """The head of a stream plus its last line (where the driver's token is)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(STDOUT_KEEP)
        if size <= STDOUT_KEEP:
            return head.decode("utf-8", "replace")
        f.seek(max(size - 4096, 0))
        tail = f.read()
    return (head + b"\n...[truncated]...\n" + tail).decode("utf-8", "replace")


def _candidates_python() -> list[str]:
    env = os.environ.get("CIP_SANDBOX_PYTHON")
    if env:
        return [env]
    out = [sys.executable]
    for p in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(p) and os.path.realpath(p) != os.path.realpath(sys.executable):
            out.append(p)
    return out


def _plans() -> list[Isolation]:
    root = os.geteuid() == 0
    have = {tool: shutil.which(tool) is not None for tool in ("unshare", "setpriv", "prlimit", "mount")}
    plans = []
    for python in _candidates_python():
        if root:
            ns = ("--net", "--pid", "--mount")
            if have["unshare"] and have["setpriv"]:
                if have["mount"]:
                    plans.append(Isolation(ns, True, True, False, python))
                plans.append(Isolation(("--net", "--pid"), False, True, False, python))
            if have["setpriv"]:
                plans.append(Isolation((), False, True, True, python))
        else:
            ns = ("--user", "--map-root-user", "--net", "--pid", "--mount")
            if have["unshare"] and have["mount"]:
                plans.append(Isolation(ns, True, False, False, python))
            if have["unshare"]:
                plans.append(Isolation(("--user", "--map-root-user", "--net", "--pid"), False, False, False,
                                       python))
    # Last resort, weakest: limits only, same uid, sockets disabled.
    plans.append(Isolation((), False, False, True, _candidates_python()[0]))
    return plans


_PROBE = "import os, sys, math, collections\nprint('ok', os.getcwd())\n"


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """The strongest plan that runs a trivial program on this machine (probed once)."""
    if shutil.which("prlimit") is None:
        raise RuntimeError("the sandbox needs `prlimit` (util-linux)")
    for iso in _plans():
        r = _run(iso, _PROBE, timeout_s=20, memory_mb=1024, file_size_mb=8, max_procs=16)
        if r.passed:
            return iso
    raise RuntimeError(f"no sandbox plan works here; last: {r.status} {r.stderr[-500:]}")


def describe() -> str:
    return isolation().describe()


def run_program(source: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, file_size_mb: int = 8,
                max_procs: int = 16) -> SandboxResult:
    """Runs `source` as __main__ in a fresh contained process; passes if it runs to the end."""
    return _run(isolation(), source, timeout_s=timeout_s, memory_mb=memory_mb,
                file_size_mb=file_size_mb, max_procs=max_procs)


def run_programs(sources: list[str], *, workers: int = 2, **limits) -> list[SandboxResult]:
    """`run_program` over many sources, `workers` at a time; results in input order."""
    isolation()  # probe once, before the threads start
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda s: run_program(s, **limits), sources))
