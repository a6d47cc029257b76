"""Orbax checkpoints of a training run: params, optimizer, loader position, config.

Layout: <workdir>/checkpoints/<step>/{params,opt_state,loader,meta}. Orbax writes
each step to a temporary directory and renames it when complete, so a step whose
write was interrupted is never listed; saving is asynchronous. The latest `keep`
steps are kept, and the `permanent` ones (phase ends) always. A step directory
without Orbax's commit markers (a copy or a filesystem that cut a write short) is
never restored: `set_aside_incomplete` renames it out of the way, keeping its files.
Reading a checkpoint back (locating a step, its metadata, the model) is model/restore.py's.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy

from code_in_pretraining.model.restore import is_complete

log = logging.getLogger(__name__)


def manager(workdir: str | pathlib.Path, *, keep: int = 3, permanent: tuple[int, ...] = (),
            async_save: bool = True) -> ocp.CheckpointManager:
    policy = preservation_policy.AnyPreservationPolicy(
        [preservation_policy.LatestN(keep), preservation_policy.CustomSteps(list(permanent))])
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=async_save,
                                           create=True)
    return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / "checkpoints", options=options)


def set_aside_incomplete(workdir: str | pathlib.Path) -> list[pathlib.Path]:
    """Renames step directories that lack a commit marker to `<step>.incomplete`; returns the new paths."""
    root = pathlib.Path(workdir).absolute() / "checkpoints"
    moved = []
    for d in sorted(root.glob("[0-9]*")):
        if d.name.isdigit() and d.is_dir() and not is_complete(d):
            target = d.with_name(f"{d.name}.incomplete")
            n = 1
            while target.exists():
                target, n = d.with_name(f"{d.name}.incomplete{n}"), n + 1
            d.rename(target)
            log.warning("checkpoint %s lacks a commit marker; moved to %s", d, target)
            moved.append(target)
    return moved


def save(mngr: ocp.CheckpointManager, step: int, *, params, opt_state, loader_state: dict,
         meta: dict[str, Any], force: bool = False) -> bool:
    return mngr.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(params),
        opt_state=ocp.args.StandardSave(opt_state),
        loader=ocp.args.JsonSave(loader_state),
        meta=ocp.args.JsonSave(meta),
    ), force=force)


def restore(mngr: ocp.CheckpointManager, step: int, *, abstract_params, abstract_opt_state=None,
            loader: bool = True):
    """Returns (params, opt_state, loader_state, meta) of `step`, placed as the abstract trees say;
    the optimizer state and loader state are None where not asked for."""
    items = {"params": ocp.args.StandardRestore(abstract_params), "meta": ocp.args.JsonRestore()}
    if abstract_opt_state is not None:
        items["opt_state"] = ocp.args.StandardRestore(abstract_opt_state)
    if loader:
        items["loader"] = ocp.args.JsonRestore()
    out = mngr.restore(step, args=ocp.args.Composite(**items))
    return out.params, out.get("opt_state"), out.get("loader"), out.meta


def save_model(workdir: str | pathlib.Path, model, step: int = 1) -> pathlib.Path:
    """A model alone as step `step` of a run (no optimizer or loader state), for what reads a
    trained model (restore.restore_model: evaluation, serving, export). Returns the workdir."""
    import numpy as np
    from flax import nnx

    mngr = manager(workdir, async_save=False)
    save(mngr, step, params=nnx.to_pure_dict(nnx.state(model)), opt_state={"step": np.zeros((), np.int32)},
         loader_state={}, meta={"model_config": model.cfg.to_dict()}, force=True)
    mngr.wait_until_finished()
    mngr.close()
    return pathlib.Path(workdir)
