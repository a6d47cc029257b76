"""The fork server: one long-lived contained process per sandbox worker (the layers: sandbox.py).

sandbox_worker.py starts it as `python -I -S sandbox_server.py` and speaks length-prefixed
JSON with it on stdin/stdout: first the plan (which namespaces, which view of the
filesystem), then one request per program. The server enters its namespaces, builds its
view of the filesystem once, imports the modules programs commonly use, and for each
program forks a child that contains itself before the first byte of the program runs.

Standard library only: the server runs without the project on sys.path, and its own root
no longer shows the project once it is the minimal view.
"""

from __future__ import annotations

import builtins
import ctypes
import errno
import gc
import io
import json
import linecache
import os
import platform
import resource
import secrets
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import types

# Modules loaded before any program, so that a program's `import` finds them in memory.
PRELOAD = ("abc", "array", "base64", "bisect", "cmath", "collections", "collections.abc", "copy", "dataclasses",
           "datetime", "decimal", "enum", "fractions", "functools", "hashlib", "heapq", "io", "itertools", "json",
           "math", "numbers", "operator", "random", "re", "statistics", "string", "struct", "textwrap",
           "threading", "time", "traceback", "typing", "unicodedata")

STDOUT_KEEP = 64 * 1024  # bytes of each stream kept in the result
UID_RANGE = (200_000, 2**31 - 2)  # fresh uids without a passwd entry, one per program
VIEW_PYTHON = "/python"  # where the Python installation appears inside the minimal root

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
NAMESPACE_FLAGS = {"net": CLONE_NEWNET, "pid": CLONE_NEWPID, "mount": CLONE_NEWNS, "ipc": CLONE_NEWIPC}
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
KEPT_MOUNT_FLAGS = MS_NODEV | MS_NOEXEC | 1024 | 2048 | 4096  # nodev, noexec, noatime, nodiratime, relatime
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 24, 36, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

_libc = ctypes.CDLL(None, use_errno=True)


# -- messages ------------------------------------------------------------------------------------
def read_message(fd: int) -> dict | None:
    """One length-prefixed JSON message, or None at end of stream."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    body = _read_exactly(fd, struct.unpack(">I", head)[0])
    if body is None:
        return None
    return json.loads(body)


def write_message(fd: int, message: dict) -> None:
    body = json.dumps(message).encode()
    data = memoryview(struct.pack(">I", len(body)) + body)
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


# -- system calls --------------------------------------------------------------------------------
def _check(result: int, what: str) -> int:
    if result == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def prctl(option: int, arg: int) -> int:
    return _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                              ctypes.c_ulong(0)), f"prctl {option}")


def _pivot_root_here() -> None:
    """Makes the current directory the root; the old root is detached (not reachable any more)."""
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:  # chroot is enough for children without capabilities
        os.chroot(".")
    else:
        _check(_libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
        _check(_libc.umount2(b".", ctypes.c_int(MNT_DETACH)), "umount old root")
    os.chdir("/")


def _drop_capabilities() -> None:
    """Empties the effective, permitted and inheritable sets (a user namespace's root keeps its uid)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def _drop_bounding_set() -> None:
    for cap in range(64):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno == errno.EINVAL:  # past the last capability this kernel knows
                return
            raise


# -- the worker's namespaces and its view of the filesystem --------------------------------------
def _enter_namespaces(plan: dict, protocol: tuple[int, ...]) -> None:
    """unshare(2) as the plan says; with a PID namespace, fork: the child is its init and serves,
    this process closes its copies of the protocol and waits, then exits with the child's status."""
    flags = sum(NAMESPACE_FLAGS[n] for n in plan["namespaces"])
    if plan["user_ns"]:
        flags |= CLONE_NEWUSER
    if not flags:
        return
    uid, gid = os.getuid(), os.getgid()
    unshare(flags)
    if plan["user_ns"]:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    if "pid" in plan["namespaces"]:
        child = os.fork()
        if child:
            for fd in protocol:  # the protocol belongs to the server; its end of stream must reach the host
                os.close(fd)
            _, status = os.waitpid(child, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if "mount" in plan["namespaces"]:
        mount(None, "/", None, MS_REC | MS_PRIVATE)  # no mount made here or in a child reaches the host


def _view_of_python() -> list[tuple[str, str]]:
    """(host directory, path in the view) for every directory on the interpreter's sys.path."""
    base = os.path.realpath(sys.base_prefix)
    out = []
    for i, entry in enumerate(sys.path):
        real = os.path.realpath(entry)
        if not os.path.isdir(real):
            continue
        rel = os.path.relpath(real, base)
        out.append((real, f"{VIEW_PYTHON}/{rel}" if not rel.startswith("..") else f"{VIEW_PYTHON}/path{i}"))
    return out


SYSTEM_LIBRARIES = ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom")


def _build_root(python_dirs: list[tuple[str, str]]) -> None:
    """Pivots into a small read-only root: the Python installation, the system libraries (for the
    extension modules a program may import), three devices, /proc of this PID namespace, and
    empty /tmp, /var/tmp, /dev/shm for each program's own mounts."""
    binds = list(python_dirs)
    links = []
    for path in SYSTEM_LIBRARIES:
        if os.path.islink(path):
            links.append((os.readlink(path), path))
        elif os.path.isdir(path):
            binds.append((path, path))
    if os.path.isfile("/etc/ld.so.cache"):
        binds.append(("/etc/ld.so.cache", "/etc/ld.so.cache"))
    binds += [(d, d) for d in DEVICES if os.path.exists(d)]
    # Sources are opened before the new root hides anything: a source under the mount point still binds.
    handles = [(os.open(src, os.O_PATH | os.O_CLOEXEC), os.path.isdir(src), os.statvfs(src).f_flag, dst)
               for src, dst in binds]
    new = tempfile.gettempdir()
    mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for fd, is_dir, flags, dst in handles:
        target = new + dst
        if is_dir:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        if not dst.startswith("/dev/"):
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (flags & KEPT_MOUNT_FLAGS))
        os.close(fd)
    links += [("/proc/self/fd", "/dev/fd")] + [(f"/proc/self/fd/{i}", f"/dev/{name}")
                                               for i, name in enumerate(("stdin", "stdout", "stderr"))]
    for link, path in links:
        os.makedirs(os.path.dirname(new + path), exist_ok=True)
        os.symlink(link, new + path)
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/proc"):
        os.makedirs(new + d, exist_ok=True)
    try:
        mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    except OSError:
        mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(new)
    _pivot_root_here()
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _use_view_paths(python_dirs: list[tuple[str, str]]) -> None:
    where = dict(python_dirs)
    sys.path[:] = [where[os.path.realpath(p)] for p in sys.path if os.path.realpath(p) in where]
    sys.path_importer_cache.clear()
    sys.executable = ""


def setup(plan: dict, protocol: tuple[int, ...]) -> dict:
    """Everything done once per worker; returns what the host is told."""
    _enter_namespaces(plan, protocol)
    host_pid = int(os.readlink("/proc/self"))  # this process, as the host's /proc numbers it
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    if plan["minimal_root"]:
        python_dirs = _view_of_python()
        _build_root(python_dirs)
        _use_view_paths(python_dirs)
    if plan["private_tmp"]:
        _mount_scratch()
    plan["ipc_closed"] = "ipc" in plan["namespaces"] and _close_ipc()
    if "pid" not in plan["namespaces"]:
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of a program come back here to be reaped
    if os.geteuid() == 0:
        _drop_bounding_set()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _fresh_stdio()  # made once: a child finds them over its own fds 0-2, the server never writes to them
    os.environ.clear()
    os.environ.update(PROGRAM_ENV)
    return {"ready": True, "host_pid": host_pid, "sys_path": list(sys.path), "ipc_closed": plan["ipc_closed"]}


SCRATCH = ("/tmp", "/dev/shm")  # a program's own, emptied before the next one


def _mount_scratch() -> None:
    """This worker's /tmp (also /var/tmp) and /dev/shm: tmpfs, each program's alone while it runs."""
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,nr_inodes=16k,mode=0700")
    mount("/tmp", "/var/tmp", None, MS_BIND)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16m,nr_inodes=4k,mode=1777")


IPC_LIMITS = {"kernel/shmmni": "0", "kernel/msgmni": "0", "kernel/sem": "0 0 0 0", "fs/mqueue/queues_max": "0"}


def _close_ipc() -> bool:
    """No System V object or message queue can be made in this worker's IPC namespace, so none
    outlives its program. False where the limits cannot be written: each child then takes an IPC
    namespace of its own."""
    try:
        for name, value in IPC_LIMITS.items():
            with open(f"/proc/sys/{name}", "w") as f:
                f.write(value)
        return True
    except OSError:
        return False


def _empty(directory: str) -> bool:
    """Removes everything in `directory`; False if something stayed."""
    for entry in os.scandir(directory):
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    return not os.listdir(directory)


# -- one program ---------------------------------------------------------------------------------
PROGRAM_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}  # set once in the server


def _contain(plan: dict, request: dict, uid: int, home: str) -> None:
    """In the forked child, before the program: its own directory, limits and credentials."""
    os.setsid()
    if "ipc" in plan["namespaces"] and not plan["ipc_closed"]:
        unshare(CLONE_NEWIPC)
    os.chdir(home)
    cpu = max(1, int(-(-request["timeout_s"] // 1)))
    memory = request["memory_mb"] * 2**20
    for limit, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)), (resource.RLIMIT_AS, (memory, memory)),
                         (resource.RLIMIT_FSIZE, (request["file_size_mb"] * 2**20,) * 2),
                         (resource.RLIMIT_NPROC, (request["max_procs"],) * 2),
                         (resource.RLIMIT_NOFILE, (64, 64)), (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(limit, value)
    if plan["drop_uid"]:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # all uids non-zero: the kernel clears every capability
    elif plan["user_ns"]:
        _drop_capabilities()


def _fresh_stdio() -> None:
    """Text streams over fds 0-2 as a fresh interpreter makes them, with empty buffers."""
    def writer(fd, errors, line):
        return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8",
                                errors=errors, line_buffering=line)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8")
    sys.stdout = sys.__stdout__ = writer(1, "strict", False)
    sys.stderr = sys.__stderr__ = writer(2, "backslashreplace", True)


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1


def _run_program(plan: dict, source: str, token: bytes) -> int:
    """Runs the program as __main__; writes the token to fd 3 only if it ran to its end."""
    if not plan["private_tmp"]:
        os.environ["HOME"] = os.getcwd()
    sys.argv = ["program.py"]
    if plan["disable_sockets"]:
        for name in ("socket", "_socket", "ssl", "_ssl"):
            sys.modules[name] = None
    me, tried = os.getpid(), []

    def no_signals(event, args):  # an audit hook cannot be removed by the program
        if event in ("os.kill", "os.killpg", "signal.pthread_kill") and args[0] != me:
            tried.append(event)
            raise PermissionError("sandbox: programs may not signal other processes")

    sys.addaudithook(no_signals)
    linecache.cache["program.py"] = (len(source), None, source.splitlines(True), "program.py")
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    code = 0
    try:
        exec(compile(source, "program.py", "exec", dont_inherit=True), main.__dict__)  # none of this file's __future__
        threading = sys.modules.get("threading")
        if threading is not None and threading.active_count() > 1:
            threading._shutdown()  # as the interpreter does at exit: wait for non-daemon threads
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:
        _, value, tb = sys.exc_info()
        traceback.print_exception(value.with_traceback(tb.tb_next))  # from the program's frame on, as a script
        code = 1
    else:
        sys.stdout.flush()
        if not tried:  # a program that tried to signal another process fails, even if it went on
            os.write(3, token)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120
    return code


class _Capture:
    """The head of a stream, and how many bytes it had."""

    def __init__(self):
        self.head, self.size = bytearray(), 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if len(self.head) < STDOUT_KEEP:
            self.head += data[:STDOUT_KEEP - len(self.head)]

    def text(self) -> str:
        text = self.head.decode("utf-8", "replace")
        if self.size > len(self.head):
            text += f"\n...[truncated: {self.size} bytes in all]...\n"
        return text


def _kill_all(plan: dict) -> None:
    """Kills whatever the program left and reaps it. In a PID namespace this server is init:
    kill(-1) reaches every other process in it. Without one the server is a subreaper, so every
    descendant of the program, whatever session it moved to, is its child once its parent dies:
    kill the children, reap, repeat until none is left."""
    if "pid" in plan["namespaces"]:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:  # nothing left
            pass
        _reap(block=True)
        return
    while _reap(block=False):
        for pid in _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.001)


def _reap(block: bool) -> bool:
    """Reaps children (until none is left, when blocking); True while some are still alive."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            return [int(pid) for pid in f.read().split()]
    except OSError:  # a kernel without the list: scan every process's parent
        out = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
        return out


def _drain(fd: int, capture: _Capture) -> bool:
    """Reads what is there; False once the stream has ended (every writer closed it)."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        capture.add(data)


def run(plan: dict, request: dict, control: int) -> dict:
    """One program in a forked child; the result as the host reads it."""
    uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) if plan["drop_uid"] else os.getuid()
    token = secrets.token_hex(16).encode()
    home = "/tmp" if plan["private_tmp"] else tempfile.mkdtemp(prefix="cip-sandbox-")
    os.chmod(home, 0o700)
    if plan["drop_uid"]:
        os.chown(home, uid, uid)
    pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, the token
    devnull = os.open(os.devnull, os.O_RDONLY)
    t0 = time.monotonic()
    child = os.fork()
    if child == 0:
        try:
            os.dup2(devnull, 0)
            for fd, (_, w) in zip((1, 2, 3), pipes):
                os.dup2(w, fd)
            os.closerange(4, 1 << 16)  # the protocol, the read ends, everything else of the server's
            _contain(plan, request, uid, home)
            code = _run_program(plan, request["source"], token)
        except BaseException as e:  # containment failed: nothing of the program has run
            os.write(2, f"sandbox: {type(e).__name__}: {e}\n".encode())
            code = 125
        os._exit(code)
    os.close(devnull)
    for _, w in pipes:
        os.close(w)
    readers = [r for r, _ in pipes]
    for r in readers:
        os.set_blocking(r, False)
    captures = {r: _Capture() for r in readers}
    open_readers = set(readers)
    pidfd = os.pidfd_open(child)
    limit = request["file_size_mb"] * 2**20
    deadline = t0 + request["timeout_s"]
    timed_out = flood = host_gone = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([pidfd, control, *open_readers], [], [], left)
        for fd in ready:
            if fd in open_readers and not _drain(fd, captures[fd]):
                open_readers.discard(fd)
        if pidfd in ready:
            break
        if control in ready:  # the host never writes while a program runs: its end has closed
            host_gone = True
            break
        if captures[readers[0]].size + captures[readers[1]].size > limit:
            flood = True
            break
    if timed_out or flood or host_gone:
        os.kill(child, signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    wall = time.monotonic() - t0
    os.close(pidfd)
    _kill_all(plan)
    for r in readers:
        _drain(r, captures[r])
        os.close(r)
    if plan["private_tmp"]:
        emptied = all([_empty(directory) for directory in SCRATCH])
    else:
        shutil.rmtree(home, ignore_errors=True)
        emptied = True
    if host_gone:
        raise SystemExit(0)
    rc = os.waitstatus_to_exitcode(status)
    stdout, stderr = captures[readers[0]].text(), captures[readers[1]].text()
    ended = bytes(captures[readers[2]].head) == token
    if flood:
        stderr += f"\nsandbox: output over {request['file_size_mb']} MB\n"
    if timed_out or rc == -signal.SIGXCPU:  # the wall-clock deadline or the CPU-time limit
        outcome = "timeout"
    elif flood or rc < 0:
        outcome = "killed"
    elif rc == 0 and ended:
        outcome = "passed"
    else:
        outcome = "failed"
    return {"status": outcome, "returncode": None if timed_out else rc, "stdout": stdout, "stderr": stderr,
            "wall_s": wall, "retire": not emptied}  # what could not be emptied ends this worker, not the next program


def serve() -> None:
    """Reads the plan, sets up, then answers one request per program until the host closes stdin."""
    control, reply = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    plan = read_message(control)
    if plan is None:
        return
    try:
        write_message(reply, setup(plan, (control, reply)))
    except Exception as e:
        write_message(reply, {"ready": False, "error": f"{type(e).__name__}: {e}"})
        return
    gc.freeze()  # the forked children then share the preloaded objects' pages instead of copying them
    while True:
        request = read_message(control)
        if request is None:
            return
        result = run(plan, request, control)
        write_message(reply, result)
        if result["retire"]:
            return


if __name__ == "__main__":
    serve()
