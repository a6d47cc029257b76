"""Orbax checkpoints of a training run: params, optimizer, loader position, config.

Layout: <workdir>/checkpoints/<step>/{params,opt_state,loader,meta}. Orbax writes
each step to a temporary directory and renames it when complete, so a step whose
write was interrupted is never listed; saving is asynchronous. The latest `keep`
steps are kept, and the `permanent` ones (phase ends) always. A step directory
without Orbax's commit markers (a copy or a filesystem that cut a write short) is
never restored: `set_aside_incomplete` renames it out of the way, keeping its files.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx
from orbax.checkpoint.checkpoint_managers import preservation_policy

from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.model.decoder import Decoder

log = logging.getLogger(__name__)


def manager(workdir: str | pathlib.Path, *, keep: int = 3, permanent: tuple[int, ...] = (),
            async_save: bool = True) -> ocp.CheckpointManager:
    policy = preservation_policy.AnyPreservationPolicy(
        [preservation_policy.LatestN(keep), preservation_policy.CustomSteps(list(permanent))])
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=async_save,
                                           create=True)
    return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / "checkpoints", options=options)


COMMIT_MARKERS = ("_CHECKPOINT_METADATA", "commit_success.txt")


def is_complete(step_dir: pathlib.Path) -> bool:
    return all((step_dir / m).is_file() for m in COMMIT_MARKERS)


def complete_steps(workdir: str | pathlib.Path) -> set[int]:
    """Steps of a run's checkpoints that carry Orbax's commit markers."""
    return _complete_in(pathlib.Path(workdir) / "checkpoints")


def _complete_in(root: pathlib.Path) -> set[int]:
    return {int(d.name) for d in root.glob("[0-9]*") if d.name.isdigit() and is_complete(d)}


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


def locate(path: str | pathlib.Path, step: int | None = None) -> tuple[pathlib.Path, int]:
    """(checkpoints root, step) for a workdir or its checkpoints directory; latest complete step
    unless `step` is given."""
    path = pathlib.Path(path).absolute()
    root = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if not root.is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    steps = _complete_in(root)
    if step is None and not steps:
        raise FileNotFoundError(f"no complete checkpoint under {root}")
    if step is not None and step not in steps:
        raise FileNotFoundError(f"no complete checkpoint of step {step} under {root}; steps: {sorted(steps)}")
    return root, max(steps) if step is None else step


def read_only(root: pathlib.Path) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0)
    return ocp.CheckpointManager(root, options=options)


def read_meta(root: pathlib.Path, step: int) -> dict[str, Any]:
    mngr = read_only(root)
    meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    mngr.close()
    return meta


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


def abstract_model(cfg: ModelConfig):
    """(graphdef, pure-dict tree of ShapeDtypeStructs) of a Decoder, without allocating it."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))
    return graphdef, nnx.to_pure_dict(state)


def restore_model(path: str | pathlib.Path, step: int | None = None, *,
                  attention_impl: str = "auto") -> tuple[ModelConfig, Decoder]:
    """Loads a trained model from a workdir (latest step) or from its checkpoints directory.

    The attention kernel is chosen for this machine (`attention_impl`), not taken from the
    run: a model trained with 'pallas_gpu' is evaluated on a CPU or a TPU as well.
    """
    root, step = locate(path, step)
    cfg = ModelConfig.from_dict(read_meta(root, step)["model_config"]).replace(attention_impl=attention_impl)
    graphdef, abstract = abstract_model(cfg)
    here = jax.sharding.SingleDeviceSharding(jax.devices()[0])  # whatever topology saved it
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=here), abstract)
    mngr = read_only(root)
    params = mngr.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract))).params
    mngr.close()
    return cfg, nnx.merge(graphdef, params)
