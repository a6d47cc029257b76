"""The host's end of one fork server: start it, hand it programs one at a time, replace it if it dies."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import select
import subprocess
import tempfile
import time

from code_in_pretraining.eval import sandbox_server
from code_in_pretraining.eval.sandbox_plan import Isolation

SERVER = pathlib.Path(sandbox_server.__file__)
START_TIMEOUT_S = 60.0  # start-up: namespaces, the view, the preloaded modules
GRACE_S = 10.0  # beyond a program's deadline before the host gives up on its server


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: str  # passed | failed | timeout | killed | error
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float


class WorkerError(RuntimeError):
    pass


class Worker:
    """One fork server. Not thread-safe: one caller at a time (the pool hands it out)."""

    def __init__(self, plan: Isolation):
        self.plan = plan
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([plan.python, "-I", "-S", "-B", str(SERVER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, env={"LANG": "C.UTF-8"},
                                     cwd="/", start_new_session=True)
        self.programs = 0
        try:
            sandbox_server.write_message(self.proc.stdin.fileno(), plan.message())
            ready = self._read(START_TIMEOUT_S)
        except OSError as e:
            ready = {"error": str(e)}
        if not ready or not ready.get("ready"):
            why = (ready or {}).get("error") or self.log() or "no answer"
            self.close()
            raise WorkerError(f"sandbox worker did not start under plan {plan.describe()!r}: {why}")
        self.server_pid = ready["host_pid"]  # the server itself, as the host numbers it

    def _read(self, timeout_s: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout_s)
        return sandbox_server.read_message(fd) if ready else None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read()[-2000:].decode("utf-8", "replace")

    def run(self, source: str, *, timeout_s: float, memory_mb: int, file_size_mb: int,
            max_procs: int) -> SandboxResult:
        """Runs one program. If the server dies or stalls, it is killed and the result says so;
        the caller replaces the worker (alive() is then False)."""
        request = {"source": source, "timeout_s": timeout_s, "memory_mb": memory_mb,
                   "file_size_mb": file_size_mb, "max_procs": max_procs}
        t0 = time.perf_counter()
        try:
            sandbox_server.write_message(self.proc.stdin.fileno(), request)
            answer = self._read(timeout_s + GRACE_S)
        except OSError:
            answer = None
        self.programs += 1
        if answer is None:
            stalled = self.alive()
            self.close()
            status = "timeout" if stalled else "error"
            return SandboxResult(False, status, None, "", f"sandbox: worker {'stalled' if stalled else 'died'}"
                                 f" ({self.log()[-500:]})", time.perf_counter() - t0)
        if answer["retire"]:  # the server could not clean up after this program: it has ended
            self.close()
        return SandboxResult(answer["status"] == "passed", answer["status"], answer["returncode"],
                             answer["stdout"], answer["stderr"], answer["wall_s"])

    def close(self) -> None:
        """Ends the server: closing its stdin is enough for a healthy one; killing it ends the whole
        PID namespace with it."""
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def footprint(self) -> dict:
        """What the server holds now, read from the host's /proc: open fds, mounts, and the
        processes in its PID namespace besides itself (None where the plan has no PID namespace)."""
        proc = pathlib.Path(f"/proc/{self.server_pid}")
        fds = len(os.listdir(proc / "fd"))
        mounts = len((proc / "mountinfo").read_text().splitlines())
        others = None
        if "pid" in self.plan.namespaces:
            ns = os.readlink(proc / "ns" / "pid")
            others = 0
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) != self.server_pid:
                    try:
                        others += os.readlink(f"/proc/{entry}/ns/pid") == ns
                    except OSError:
                        pass
        return {"fds": fds, "mounts": mounts, "processes": others}
