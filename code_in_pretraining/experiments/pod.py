"""What each VM of a TPU pod runs for one variant of a grid: `cip experiment --dry-run`'s recipe.

On a pod every VM runs the same `cip train --distributed`; they must agree on the vocabulary
($CIP_VOCAB), the data config ($CIP_SOURCES) and where token shards live ($CIP_DATA_DIR: process 0
tokenizes missing shards there, the others wait and read them), and the workdir must be storage
every VM sees, or each would checkpoint into its own disk.
"""

from __future__ import annotations

import os
import pathlib
import shlex

ENV = {
    "CIP_VOCAB": "the 256k SentencePiece .model (`cip vocab train --vocab-size 256000`)",
    "CIP_SOURCES": "the data config JSON/YAML naming each source's files",
    "CIP_DATA_DIR": "a directory every VM sees: token shards are written there once and read by all",
}
PLACEHOLDERS = {"CIP_VOCAB": "<spm256k.model>", "CIP_SOURCES": "<sources.json>", "CIP_DATA_DIR": "<shared dir>"}
# Filesystems that every VM of a slice can mount as one.
SHARED_FS = ("nfs", "nfs4", "fuse.gcsfuse", "gcsfuse", "lustre", "cifs", "smb3", "ceph", "fuse.ceph",
             "glusterfs", "fuse.glusterfs", "beegfs", "gpfs", "fuse.sshfs", "9p", "virtiofs")


def filesystem(path: str | os.PathLike) -> str:
    """The filesystem type of the mount that holds `path` (or its nearest existing parent)."""
    p = pathlib.Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    p = p.resolve()
    best, fstype = "", "unknown"
    try:
        mounts = pathlib.Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return fstype
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        if (str(p) == mount or str(p).startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, fstype = mount, parts[2]
    return fstype


def shared_storage_warning(workdir: str) -> str | None:
    """A warning where `workdir` is not on storage the pod's VMs share; None where it is."""
    if "://" in workdir:
        return None
    fstype = filesystem(workdir)
    if fstype in SHARED_FS:
        return None
    return (f"warning: the workdir {workdir} is on a {fstype} filesystem here, not shared storage: on a pod "
            f"every VM must see the same workdir and $CIP_DATA_DIR (a Filestore/NFS mount, or a gcsfuse "
            f"bucket), or each VM checkpoints and tokenizes into its own disk")


def environment() -> dict[str, str]:
    """The variables every VM needs: this shell's values, else a placeholder saying what goes there."""
    return {k: os.environ.get(k) or PLACEHOLDERS[k] for k in ENV}


def vm_commands(train_flags: str, train_dir: pathlib.Path, phases: list[tuple[str, int]],
                results_dir: pathlib.Path, venv: str = ".venv") -> list[str]:
    """The shell lines of one variant: training on every VM, then each phase's evaluation."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment().items())
    lines = ["# on every VM of the slice (gcloud compute tpus tpu-vm ssh $TPU --worker=all --command=...):",
             f"{env} {venv}/bin/cip train --distributed {train_flags} --workdir={train_dir}"]
    for phase, step in phases:
        lines.append(f"# after phase {phase!r} (its permanent checkpoint, step {step:,}), on one VM:")
        lines.append(f"{env} {venv}/bin/cip eval --checkpoint={train_dir / 'checkpoints' / str(step)} "
                     f"--out={results_dir / (phase + '.json')}")
    return lines
