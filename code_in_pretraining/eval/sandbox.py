"""Run untrusted Python programs (model-written code), each contained, through a pool of fork servers.

A worker is one long-lived fork server (sandbox_server.py), started once, with the modules
programs commonly import already loaded; for each program it forks a child that contains
itself before the program's first byte runs. The layers, and what each one stops:

worker, once
- network namespace: no interface but a loopback that is down; nothing on the host or
  beyond is reachable.
- PID namespace, the server its init: a program sees no host process and cannot signal
  one; after each program the server kills everything else in the namespace, so a
  daemonised grandchild or a process that left its group dies with the program; if the
  server itself dies, the kernel kills every process in the namespace.
- mount namespace and a minimal root (pivot_root into a read-only tmpfs): a program sees
  the Python installation's library (read-only, at /python), the system libraries that
  extension modules load, /dev/null, /dev/zero, /dev/urandom and /proc of its own PID
  namespace (other users' processes hidden). The project tree, evaluation data, /root,
  /home, /work and every other host file are not there to read or write.
- IPC namespace whose limits allow no System V object and no message queue: nothing of
  that kind is shared with the host, or outlives the program that would make it.
- a tmpfs (size-limited, noexec) at /tmp, also mounted at /var/tmp, and another at
  /dev/shm: the only writable places.
- bounding set emptied and no_new_privs: nothing a child does can gain a capability.

each program, in the forked child
- its own session and process group.
- /tmp is its working directory: empty when it starts, owned by it alone (mode 0700)
  while it runs, emptied with /dev/shm by the server before the next program (a server
  that cannot empty them retires, and the next program gets a fresh worker).
- a fresh unprivileged uid and gid (no passwd entry): no capabilities, nothing writable
  outside its directory, no signal to the server, and RLIMIT_NPROC counts its processes only.
- limits: CPU time, address space, file size, processes, open files, no core dump.
- an audit hook that refuses os.kill / killpg / pthread_kill aimed at another process;
  a program that tries fails even if it goes on.
- the wall-clock deadline, kept by the server: at the deadline the child and everything
  it started are killed. Output beyond the file-size limit kills it too; the first 64 KiB
  of each stream are kept.

A program passes only if it runs to its end: the child writes a per-program token to a
descriptor of its own after the program returns, so `os._exit(0)` or `sys.exit(0)` before
the tests counts as failed. (The token lives in the child's memory; a program that digs it
out of the interpreter's frames on purpose could forge a pass. Model-written code that
exits early cannot.) A program that kills or crashes its interpreter (a segfault) ends
only its own child: its result says so and the worker goes on. A worker that dies or
stalls is replaced; the program it was running gets an `error` or `timeout` result.

Where namespaces or root are not available, `isolation()` degrades step by step (see
sandbox_plan.plans()): no minimal root (the host's files, protected by permissions only),
then no mount namespace (a temporary directory of its own as the working directory), then
no namespaces (socket modules removed in the child; the server, a subreaper, kills every
descendant of the program). Without root, a user namespace stands in for the fresh uid.
`describe()` says which plan is in use.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future

from code_in_pretraining.eval import sandbox_plan
from code_in_pretraining.eval.sandbox_plan import Isolation
from code_in_pretraining.eval.sandbox_server import STDOUT_KEEP
from code_in_pretraining.eval.sandbox_worker import SandboxResult, Worker, WorkerError

__all__ = ["STDOUT_KEEP", "Isolation", "SandboxResult", "describe", "isolation", "run_program", "run_programs",
           "session"]


class Pool:
    """Idle fork servers of one plan; a caller takes one, runs programs, gives it back.
    Workers are started on demand, so the pool grows to the largest number in use at once."""

    def __init__(self, plan: Isolation):
        self.plan = plan
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def acquire(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
        return Worker(self.plan)

    def release(self, worker: Worker) -> None:
        if worker.alive():
            with self._lock:
                self._idle.append(worker)

    def close(self) -> None:
        if os.getpid() != self._pid:  # a forked copy of this process: the servers are the parent's
            return
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


_pools: dict[Isolation, Pool] = {}
_pools_lock = threading.Lock()


def pool(plan: Isolation | None = None) -> Pool:
    """The process's pool for `plan` (default: the plan in use); a forked process makes its own."""
    plan = plan or isolation()
    with _pools_lock:
        p = _pools.get(plan)
        if p is None or p._pid != os.getpid():
            p = _pools[plan] = Pool(plan)
        return p


@atexit.register
def _close_pools() -> None:
    for p in list(_pools.values()):
        p.close()


# colorsys is not preloaded: a plan passes only if a program can read the standard library too.
_PROBE = "import os, sys, math, collections, colorsys\nprint('ok', os.getcwd())\n"
DEFAULT_LIMITS = {"timeout_s": 10.0, "memory_mb": 1024, "file_size_mb": 8, "max_procs": 16}


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """The strongest plan under which a worker starts and runs a trivial program here (probed once)."""
    failures = []
    for plan in sandbox_plan.plans():
        try:
            worker = Worker(plan)
        except WorkerError as e:
            failures.append(str(e))
            continue
        result = worker.run(_PROBE, **{**DEFAULT_LIMITS, "timeout_s": 20.0})
        if result.passed:
            pool(plan).release(worker)
            return plan
        worker.close()
        failures.append(f"{plan.describe()}: {result.status} {result.stderr[-300:]}")
    raise RuntimeError("no sandbox plan works here:\n" + "\n".join(failures))


def describe() -> str:
    return isolation().describe()


def run_program(source: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, file_size_mb: int = 8,
                max_procs: int = 16, plan: Isolation | None = None) -> SandboxResult:
    """Runs `source` as __main__ in a fresh contained child of a pooled worker; passes if it runs to the end."""
    p = pool(plan)
    worker = p.acquire()
    try:
        return worker.run(source, timeout_s=timeout_s, memory_mb=memory_mb, file_size_mb=file_size_mb,
                          max_procs=max_procs)
    finally:
        p.release(worker)


@contextlib.contextmanager
def session(workers: int = 2, plan: Isolation | None = None, **limits) -> Iterator[Callable[..., Future]]:
    """Yields submit(source, **limits) -> Future[SandboxResult]: programs run in the order submitted,
    on `workers` pooled workers at once (each thread keeps its own). Submitting does not wait, so
    the caller can make the next programs, or act on finished ones, while others run."""
    p = pool(plan)
    limits = {**DEFAULT_LIMITS, **limits}
    local, taken, lock = threading.local(), [], threading.Lock()

    def run(source: str, overrides: dict) -> SandboxResult:
        worker = getattr(local, "worker", None)
        if worker is None or not worker.alive():  # first use, or it died or stalled under the last program
            worker = local.worker = p.acquire()
            with lock:
                taken.append(worker)
        return worker.run(source, **{**limits, **overrides})

    ex = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sandbox")
    try:
        yield lambda source, **overrides: ex.submit(run, source, overrides)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
        for worker in taken:
            p.release(worker)


def run_programs(sources: Iterable[str], *, workers: int = 2, **limits) -> list[SandboxResult]:
    """`run_program` over many sources, on `workers` pooled workers at once; results in input order.
    `sources` may be a generator: each program starts as soon as it is made."""
    with session(workers, **limits) as submit:
        futures = [submit(s) for s in sources]
        return [f.result() for f in futures]
