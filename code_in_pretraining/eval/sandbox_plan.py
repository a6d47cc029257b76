"""The isolation plans a sandbox worker may run under, strongest first (see sandbox.py)."""

from __future__ import annotations

import dataclasses
import os
import sys


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How programs are contained on this machine (`sandbox.isolation()` picks the first that works)."""

    namespaces: tuple[str, ...]  # the worker's own: of "net", "pid", "mount", "ipc"
    user_ns: bool  # in a user namespace (no root on the host): uid 0 inside, mapped to the caller
    minimal_root: bool  # pivot into the small read-only view of the filesystem
    private_tmp: bool  # the worker's tmpfs /tmp (also /var/tmp) and /dev/shm, each program's alone, emptied after it
    drop_uid: bool  # per program: a fresh unprivileged uid and gid (needs root)
    disable_sockets: bool  # no network namespace: the socket modules are removed in the child
    python: str

    def message(self) -> dict:
        """What the fork server is told."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "python"}

    def describe(self) -> str:
        ns = ("user, " if self.user_ns else "") + ", ".join(self.namespaces)
        parts = [f"fork server ({self.python}, common modules preloaded) "
                 + (f"in its own {ns} namespaces" if ns else "without namespaces")]
        if self.minimal_root:
            parts.append("read-only minimal root (Python's library, system libraries, /dev/null, /dev/zero, "
                         "/dev/urandom, /proc of its PID namespace)")
        else:
            parts.append("the host's filesystem (file permissions only)")
        per = ["own process group"]
        if self.private_tmp:
            per.append("an empty tmpfs /tmp (also /var/tmp) and /dev/shm of its own, emptied after it")
        else:
            per.append("own directory as cwd")
        if "ipc" in self.namespaces:
            per.append("no System V IPC or message queue that outlives it")
        if self.drop_uid:
            per.append("a fresh uid and gid, no capabilities")
        elif self.user_ns:
            per.append("no capabilities")
        else:
            per.append("same uid")
        per.append("no_new_privs, rlimits (cpu, as, fsize, nproc, nofile, core)")
        if self.disable_sockets:
            per.append("socket modules disabled")
        parts.append("per program: " + ", ".join(per))
        parts.append("leftovers killed: " + ("the whole PID namespace" if "pid" in self.namespaces
                                             else "every descendant (the server is a subreaper)"))
        return "; ".join(parts)


ALL = ("net", "pid", "mount", "ipc")


def python() -> str:
    return os.environ.get("CIP_SANDBOX_PYTHON") or sys.executable


def plans() -> list[Isolation]:
    """Strongest first; each later one gives up one layer that a machine may refuse."""
    py = python()
    if os.geteuid() == 0:
        out = [Isolation(ALL, False, True, True, True, False, py),
               Isolation(ALL, False, False, True, True, False, py),
               Isolation(("net", "pid"), False, False, False, True, False, py),
               Isolation((), False, False, False, True, True, py)]
    else:
        out = [Isolation(ALL, True, True, True, False, False, py),
               Isolation(ALL, True, False, True, False, False, py),
               Isolation(("net", "pid"), True, False, False, False, False, py)]
    # Last resort, weakest: limits only, same uid, sockets disabled.
    return out + [Isolation((), False, False, False, False, True, py)]
