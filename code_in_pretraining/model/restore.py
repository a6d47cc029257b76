"""A trained model read back from a run's Orbax checkpoints, for evaluation, serving and export.

Layout: <workdir>/checkpoints/<step>/{params,opt_state,loader,meta}. Orbax writes each
step to a temporary directory and renames it when complete, marking it with commit
files; a step without them (a copy, or a filesystem that cut a write short) is never
read. Writing checkpoints is the trainer's (train/checkpoint.py); reading them is here,
below training, so that evaluation and export do not depend on it.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.model.decoder import Decoder

COMMIT_MARKERS = ("_CHECKPOINT_METADATA", "commit_success.txt")


def is_complete(step_dir: pathlib.Path) -> bool:
    return all((step_dir / m).is_file() for m in COMMIT_MARKERS)


def complete_steps(workdir: str | pathlib.Path) -> set[int]:
    """Steps of a run's checkpoints that carry Orbax's commit markers."""
    return complete_in(pathlib.Path(workdir) / "checkpoints")


def complete_in(root: pathlib.Path) -> set[int]:
    """Steps under a checkpoints directory that carry the commit markers."""
    return {int(d.name) for d in root.glob("[0-9]*") if d.name.isdigit() and is_complete(d)}


def locate(path: str | pathlib.Path, step: int | None = None) -> tuple[pathlib.Path, int]:
    """(checkpoints root, step) for a workdir or its checkpoints directory; latest complete step
    unless `step` is given."""
    path = pathlib.Path(path).absolute()
    root = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if not root.is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    steps = complete_in(root)
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
