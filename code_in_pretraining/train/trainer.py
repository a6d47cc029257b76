"""The training loop: mixture -> packed batches -> sharded AdamW steps -> checkpoints.

Everything that can be wrong with a configuration (an unknown mixture or preset,
a missing vocabulary or data file, a mesh that does not fit the devices) fails
in `prepare` before anything is compiled. Running `train` on a workdir that has
checkpoints resumes from the latest one, data position included.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
import time
from typing import Any

import gin
import jax
import numpy as np
from flax import nnx
from tqdm import tqdm

from code_in_pretraining.data import materialize, mixtures
from code_in_pretraining.data.loader import MixingLoader
from code_in_pretraining.model.config import ModelConfig, get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.parallel import mesh as mesh_lib
from code_in_pretraining.train import checkpoint, schedule, step as step_lib

log = logging.getLogger(__name__)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run; every field is a gin binding (`TrainConfig.steps = 300`)."""

    mixture: str = "balanced"
    model_preset: str = "tiny"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    seq_len: int = 256
    global_batch: int = 16
    steps: int = 300
    peak_lr: float = 1e-3
    end_lr: float = 3e-4  # cosine floor, as in the paper's sibling work for this model family
    warmup_steps: int = 1325
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    clip_norm: float = 1.0
    z_loss: float = 1e-4
    seed: int = 0
    mesh_shape: tuple = (-1, 1, 1)
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    progress: bool = True


@dataclasses.dataclass
class Prepared:
    """What `prepare` checked and built: everything but the compiled step."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    weights: dict[str, float]
    shards: dict[str, list[pathlib.Path]]
    mesh: Any


def model_config(cfg: TrainConfig, vocab_size: int) -> ModelConfig:
    return get_preset(cfg.model_preset, **{"vocab_size": vocab_size, **dict(cfg.model_overrides)})


def prepare(cfg: TrainConfig) -> Prepared:
    """Validates names, data and mesh; tokenizes the mixture's tasks if needed."""
    weights = mixtures.mixture_weights(cfg.mixture)
    vocab_sizes = {mixtures.get_task(t).output_features["targets"].vocabulary.vocab_size for t in weights}
    if len(vocab_sizes) != 1:
        raise ValueError(f"mixture {cfg.mixture!r} mixes tasks with different vocabularies")
    model_cfg = model_config(cfg, vocab_sizes.pop())
    if cfg.global_batch % jax.process_count():
        raise ValueError(f"TrainConfig.global_batch={cfg.global_batch} is not divisible by "
                         f"{jax.process_count()} processes")
    mesh = mesh_lib.make_mesh(cfg.mesh_shape)
    shards = {t: materialize.materialize_shards(t, "train", progress=cfg.progress) for t in weights}
    return Prepared(cfg, model_cfg, weights, shards, mesh)


def make_loader(p: Prepared) -> MixingLoader:
    per_process = p.cfg.global_batch // jax.process_count()
    start = jax.process_index() * per_process
    return MixingLoader(p.shards, p.weights, seq_len=p.cfg.seq_len, global_batch=p.cfg.global_batch,
                        seed=p.cfg.seed, row_start=start, row_end=start + per_process)


def train(cfg: TrainConfig, workdir: str | pathlib.Path, *, gin_config: str = "",
          prepared: Prepared | None = None, halt_after: int | None = None) -> dict[str, Any]:
    """Trains (or resumes) in `workdir`; returns the final step's metrics and where things are.

    `halt_after` stops the run after that step without saving, as a crash would.
    """
    workdir = pathlib.Path(workdir)
    p = prepared or prepare(cfg)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "model_config.json").write_text(p.model_cfg.to_json())
    if gin_config:
        (workdir / "config.gin").write_text(gin_config)

    sched = schedule.warmup_cosine(cfg.peak_lr, cfg.warmup_steps, cfg.steps, cfg.end_lr)
    tx = step_lib.make_optimizer(sched, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                                 weight_decay=cfg.weight_decay, clip_norm=cfg.clip_norm)
    graphdef, state, state_shardings = mesh_lib.init_sharded(
        lambda: Decoder(p.model_cfg, rngs=nnx.Rngs(cfg.seed)), p.mesh)
    params = nnx.to_pure_dict(state)
    param_shardings = nnx.to_pure_dict(state_shardings)
    with jax.set_mesh(p.mesh):
        opt_state = jax.jit(tx.init)(params)
    opt_shardings = jax.tree.map(lambda x: x.sharding, opt_state)
    train_step = step_lib.make_train_step(graphdef, tx, sched, z_loss=cfg.z_loss,
                                          param_shardings=param_shardings, opt_shardings=opt_shardings)

    loader = make_loader(p)
    mngr = checkpoint.manager(workdir, keep=cfg.keep_checkpoints)
    start = 0
    if mngr.latest_step() is not None:
        start = mngr.latest_step()
        abstract = lambda tree: jax.tree.map(  # noqa: E731
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)
        params, opt_state, loader_state, _ = checkpoint.restore(
            mngr, start, abstract_params=abstract(params), abstract_opt_state=abstract(opt_state))
        loader.set_state(loader_state)
        log.info("resumed from step %d in %s", start, workdir)

    meta = {"model_config": p.model_cfg.to_dict(), "train_config": _jsonable(dataclasses.asdict(cfg)),
            "gin_config": gin_config, "mixture": cfg.mixture, "weights": p.weights}
    metrics_file = (workdir / "metrics.jsonl").open("a")
    tb = _summary_writer(workdir)
    tokens_per_step = cfg.global_batch * cfg.seq_len
    bar = tqdm(total=cfg.steps, initial=start, desc=f"train {cfg.mixture}", unit="step",
               disable=not cfg.progress, dynamic_ncols=True)
    last: dict[str, float] = {}
    t0, window_start = time.perf_counter(), start
    try:
        for s in range(start, cfg.steps):
            batch = mesh_lib.shard_batch(next(loader).model_inputs(), p.mesh)
            with jax.set_mesh(p.mesh):
                params, opt_state, metrics = train_step(params, opt_state, batch, s)
            done = s + 1
            save_now = done % cfg.checkpoint_every == 0 or done == cfg.steps
            if save_now or done % cfg.log_every == 0:
                last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                if not math.isfinite(last["loss"]):
                    raise FloatingPointError(
                        f"loss is {last['loss']} at step {done}; the last good checkpoint is step "
                        f"{mngr.latest_step()} in {workdir / 'checkpoints'}")
                dt = time.perf_counter() - t0
                last["tokens_per_s"] = (done - window_start) * tokens_per_step / dt
                last["step"] = done
                last.update({f"epochs/{name}": e for name, e in loader.epochs().items()})
                t0, window_start = time.perf_counter(), done
                metrics_file.write(json.dumps(last) + "\n")
                metrics_file.flush()
                for k, v in last.items():
                    tb.add_scalar(f"train/{k}", v, done)
                bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{last['tokens_per_s']:,.0f}")
            if save_now:
                checkpoint.save(mngr, done, params=params, opt_state=opt_state,
                                loader_state=global_loader_state(loader), meta=meta, force=done == cfg.steps)
            bar.update(1)
            if halt_after is not None and done >= halt_after:
                break
    finally:
        bar.close()
        mngr.wait_until_finished()
        mngr.close()
        metrics_file.close()
        tb.close()
    return {"workdir": str(workdir), "final": last, "graphdef": graphdef, "params": params,
            "train_config": cfg,
            "model_config": p.model_cfg, "token_counts": loader.token_counts()}


def global_loader_state(loader: MixingLoader) -> dict:
    """The loader state of ALL rows: each process owns some rows, the checkpoint holds every one,
    so a run can resume with another number of processes."""
    state = loader.get_state()
    if jax.process_count() == 1:
        return state
    from jax.experimental import multihost_utils

    for key in MixingLoader.STATE_ARRAYS:
        local = np.asarray(state[key], np.int64)
        state[key] = np.asarray(multihost_utils.process_allgather(local, tiled=True)).tolist()
    state["row_start"] = 0
    return state


def _summary_writer(workdir: pathlib.Path):
    from tensorboardX import SummaryWriter
    return SummaryWriter(str(workdir / "tensorboard"))


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))
