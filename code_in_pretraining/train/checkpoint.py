"""Orbax checkpoints of a training run: params, optimizer, loader position, config.

Layout: <workdir>/checkpoints/<step>/{params,opt_state,loader,meta}. Orbax writes
each step to a temporary directory and renames it when complete, so a step whose
write was interrupted is never listed; saving is asynchronous.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.model.decoder import Decoder


def manager(workdir: str | pathlib.Path, *, keep: int = 3, async_save: bool = True) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save,
                                           create=True)
    return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / "checkpoints", options=options)


def save(mngr: ocp.CheckpointManager, step: int, *, params, opt_state, loader_state: dict,
         meta: dict[str, Any], force: bool = False) -> bool:
    return mngr.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(params),
        opt_state=ocp.args.StandardSave(opt_state),
        loader=ocp.args.JsonSave(loader_state),
        meta=ocp.args.JsonSave(meta),
    ), force=force)


def restore(mngr: ocp.CheckpointManager, step: int, *, abstract_params, abstract_opt_state):
    """Returns (params, opt_state, loader_state, meta) of `step`, placed as the abstract trees say."""
    out = mngr.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(abstract_params),
        opt_state=ocp.args.StandardRestore(abstract_opt_state),
        loader=ocp.args.JsonRestore(),
        meta=ocp.args.JsonRestore(),
    ))
    return out.params, out.opt_state, out.loader, out.meta


def abstract_model(cfg: ModelConfig):
    """(graphdef, pure-dict tree of ShapeDtypeStructs) of a Decoder, without allocating it."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0))))
    return graphdef, nnx.to_pure_dict(state)


def restore_model(path: str | pathlib.Path, step: int | None = None) -> tuple[ModelConfig, Decoder]:
    """Loads a trained model from a workdir (latest step) or from its checkpoints directory."""
    path = pathlib.Path(path).absolute()
    root = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if not root.is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    mngr = ocp.CheckpointManager(root, options=ocp.CheckpointManagerOptions(read_only=True))
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no complete checkpoint under {root}")
    meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    cfg = ModelConfig.from_dict(meta["model_config"])
    graphdef, abstract = abstract_model(cfg)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), abstract)
    params = mngr.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract))).params
    mngr.close()
    return cfg, nnx.merge(graphdef, params)
