"""The training loop: phases of mixtures -> packed batches -> sharded AdamW steps -> checkpoints.

A run is one mixture for `steps` steps, or a recipe: phases with token budgets,
each a mixture and an LR schedule ("cosine", warming up again, "cosine_joined", or
the LINEAR "cooldown"); at the first step of a phase its mixture switches in.
Everything that can be wrong with a configuration (a paper-sized model over another
vocabulary among it) fails in `prepare` before anything is compiled. Running `train`
on a workdir that has checkpoints resumes from the latest complete one, data
position included; `init_from` starts a new run from another run's checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
from typing import Any

import jax
import numpy as np
from flax import nnx
from tqdm import tqdm

from code_in_pretraining.data import materialize, mixtures, vocabulary
from code_in_pretraining.data.loader import MixingLoader
from code_in_pretraining.data.phase_plan import PhasePlan
from code_in_pretraining.model import restore, sharded_attention
from code_in_pretraining.model.config import PAPER_PRESETS, PRESETS, ModelConfig, get_preset
from code_in_pretraining.model.info import param_counts
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.parallel import distributed
from code_in_pretraining.parallel import mesh as mesh_lib
from code_in_pretraining.train import checkpoint, determinism, metrics_log, schedule
from code_in_pretraining.train.config import INIT_LRS, INIT_STATES, TrainConfig, effective_microbatches, phase_plan
from code_in_pretraining.train import step as step_lib

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Prepared:
    """What `prepare` checked and built: everything but the compiled step."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    plan: PhasePlan
    weights: list[dict[str, float]]  # per phase
    shards: dict[str, list[pathlib.Path]]
    mesh: Any
    init: tuple[pathlib.Path, int, dict] | None  # (checkpoints root, step, meta) of `init_from`
    parameters: dict[str, int]  # model/info.param_counts: params, params_embedding, params_non_embedding


def model_config(cfg: TrainConfig, vocab_size: int, vocab: str = "the tasks' vocabulary") -> ModelConfig:
    """The preset with the runtime choices, sized to the data's vocabulary (`vocab`, of `vocab_size`
    pieces). A paper preset (470m, 2p8b) over a vocabulary of another size than its 256k is refused
    unless asked for: TrainConfig.model_overrides = {'vocab_size': N}, N the vocabulary's size."""
    runtime = {"attention_impl": cfg.attention_impl, "dtype": cfg.compute_dtype, "remat": cfg.remat,
               "scan_layers": cfg.scan_layers}
    runtime = {k: v for k, v in runtime.items() if v}
    if cfg.loss_vocab_block != -1:
        runtime["loss_vocab_block"] = cfg.loss_vocab_block
    overrides = {"vocab_size": vocab_size, **runtime, **dict(cfg.model_overrides)}
    model_cfg = get_preset(cfg.model_preset, **overrides)
    asked = dict(cfg.model_overrides).get("vocab_size")
    ask = f"TrainConfig.model_overrides = {{'vocab_size': {vocab_size}}}"
    if asked is not None and asked != vocab_size:
        raise ValueError(f"TrainConfig.model_overrides asks for a vocabulary of {asked:,} pieces, but {vocab} has "
                         f"{vocab_size:,}: its tokens would not fit the model (to train over it: {ask})")
    preset_vocab = PRESETS[cfg.model_preset]["vocab_size"]
    if asked is None and cfg.model_preset in PAPER_PRESETS and vocab_size != preset_vocab:
        params = param_counts(model_cfg)["params"]
        raise ValueError(
            f"TrainConfig.model_preset={cfg.model_preset!r} is the paper's model with a {preset_vocab:,}-piece "
            f"vocabulary, but {vocab} has {vocab_size:,} pieces: the model would have {params / 1e6:,.1f}M "
            f"parameters, not the paper's. Set $CIP_VOCAB to a {preset_vocab:,}-piece vocabulary (`cip vocab "
            f"train --vocab-size {preset_vocab}`), or ask for this one with --gin-bindings=\"{ask}\"")
    return model_cfg


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"TrainConfig.{name}={value!r}: expected one of {allowed}")


def prepare(cfg: TrainConfig) -> Prepared:
    """Validates names, budgets, data, mesh and the source checkpoint; tokenizes the tasks if needed."""
    plan = phase_plan(cfg)
    weights = [mixtures.mixture_weights(ph.mixture) for ph in plan.phases]
    tasks = sorted({t for w in weights for t in w})
    vocabs = [mixtures.get_task(t).output_features["targets"].vocabulary for t in tasks]
    for v in vocabs:
        if hasattr(v, "sentencepiece_model_file"):
            vocabulary.model_file(v)
    vocab_sizes = {v.vocab_size for v in vocabs}
    if len(vocab_sizes) != 1:
        raise ValueError(f"the run's mixtures mix tasks with different vocabularies: {tasks}")
    vocab = getattr(vocabs[0], "sentencepiece_model_file", None)
    model_cfg = model_config(cfg, vocab_sizes.pop(), f"the tasks' vocabulary {vocab}" if vocab else "the tasks' vocabulary")
    parameters = param_counts(model_cfg)
    log.info("model: preset %s, %s parameters (%s in the embedding), a vocabulary of %s pieces", cfg.model_preset,
             f"{parameters['params']:,}", f"{parameters['params_embedding']:,}", f"{model_cfg.vocab_size:,}")
    determinism.check_attention(cfg.deterministic, model_cfg.attention_impl)
    if cfg.global_batch % jax.process_count():
        raise ValueError(f"TrainConfig.global_batch={cfg.global_batch} is not divisible by "
                         f"{jax.process_count()} processes")
    _check_choice("init_state", cfg.init_state, INIT_STATES)
    _check_choice("init_lr", cfg.init_lr, INIT_LRS)
    init = None
    if cfg.init_from:
        root, step = restore.locate(cfg.init_from, None if cfg.init_step < 0 else cfg.init_step)
        meta = restore.read_meta(root, step)
        if ModelConfig.from_dict(meta["model_config"]).architecture() != model_cfg.architecture():
            raise ValueError(f"TrainConfig.init_from={cfg.init_from!r}: its model differs from this run's "
                             f"({meta['model_config']} vs {model_cfg.to_dict()})")
        if cfg.init_lr == "continue" and "lr" not in meta:
            raise ValueError(f"TrainConfig.init_lr='continue': checkpoint {root / str(step)} records no LR")
        init = (root, step, meta)
    mesh = mesh_lib.make_mesh(cfg.mesh_shape)
    sharded_attention.check_mesh(model_cfg, mesh)
    effective_microbatches(cfg, mesh.shape["data"] * mesh.shape["fsdp"])
    shards = _materialize(tasks, cfg.progress)
    return Prepared(cfg, model_cfg, plan, weights, shards, mesh, init, parameters)


def _materialize(tasks: list[str], progress: bool) -> dict[str, list[pathlib.Path]]:
    """Token shards of every task; with several processes, process 0 writes them, the others wait."""
    def shards(show: bool):
        return {t: materialize.materialize_shards(t, "train", progress=show) for t in tasks}

    if jax.process_index() == 0:
        out = shards(progress)
    distributed.barrier("materialized")
    return out if jax.process_index() == 0 else shards(False)


def make_loader(p: Prepared) -> MixingLoader:
    per_process = p.cfg.global_batch // jax.process_count()
    start = jax.process_index() * per_process
    log.info("process %d reads rows [%d, %d) of %d", jax.process_index(), start, start + per_process,
             p.cfg.global_batch)
    return MixingLoader(p.shards, p.weights, plan=p.plan, seq_len=p.cfg.seq_len, global_batch=p.cfg.global_batch,
                        seed=p.cfg.seed, row_start=start, row_end=start + per_process)


def make_schedule(cfg: TrainConfig, plan: PhasePlan, start_lr: float | None = None):
    """The run's LR schedule; `start_lr`: the LR a continued run takes over from its source."""
    return schedule.phased(plan, peak_lr=cfg.peak_lr, warmup_steps=cfg.warmup_steps, end_lr=cfg.end_lr,
                           cooldown_end_lr=cfg.cooldown_end_lr, start_lr=start_lr)


def make_optimizer(cfg: TrainConfig, sched):
    return step_lib.make_optimizer(sched, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                   clip_norm=cfg.clip_norm)


def plan_record(p: Prepared, sched) -> dict:
    """plan.json: each phase's steps, mixture and LR at its first step, the model's size, and the
    fingerprints of the data (the vocabulary and every task's token shards): equal fingerprints,
    equal batches."""
    return {"steps": p.plan.total_steps, "tokens_per_step": p.plan.tokens_per_step,
            "switch_steps": list(p.plan.switch_steps), "phases": p.plan.rows(sched),
            "model": {"preset": p.cfg.model_preset, "vocab_size": p.model_cfg.vocab_size, **p.parameters},
            "fingerprints": materialize.fingerprints(p.shards)}


def _abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


def _init_from(p: Prepared, params, opt_state):
    """Params (and optimizer state) of the source run of a continued pre-training run."""
    root, step, _ = p.init
    mngr = restore.read_only(root)
    with_opt = p.cfg.init_state == "params_and_optimizer"
    params, restored_opt, _, _ = checkpoint.restore(
        mngr, step, abstract_params=_abstract(params),
        abstract_opt_state=_abstract(opt_state) if with_opt else None, loader=False)
    mngr.close()
    log.info("initialised from %s step %d (%s, LR %s)", root, step, p.cfg.init_state, p.cfg.init_lr)
    return params, step_lib.restart_schedule(restored_opt) if with_opt else opt_state


def build(p: Prepared, sched, num_sources: int, workdir: pathlib.Path | None = None):
    """(graphdef, params, optimizer state, jitted step): the model initialised into its shardings."""
    cfg = p.cfg
    tx = make_optimizer(cfg, sched)
    graphdef, state, state_shardings = mesh_lib.init_sharded(
        lambda: Decoder(p.model_cfg, rngs=nnx.Rngs(cfg.seed)), p.mesh)
    params = nnx.to_pure_dict(state)
    param_shardings = nnx.to_pure_dict(state_shardings)
    opt_shardings = step_lib.optimizer_shardings(tx, params, param_shardings, p.mesh)
    with jax.set_mesh(p.mesh):
        opt_state = jax.jit(tx.init, out_shardings=opt_shardings)(params)
    train_step = step_lib.make_train_step(
        graphdef, tx, sched, z_loss=cfg.z_loss, num_sources=num_sources,
        param_shardings=param_shardings, opt_shardings=opt_shardings,
        compiler_options=determinism.compiler_options(cfg.deterministic, workdir), microbatches=effective_microbatches(cfg, p.mesh.shape["data"] * p.mesh.shape["fsdp"]))
    return graphdef, params, opt_state, train_step


def train(cfg: TrainConfig, workdir: str | pathlib.Path, *, gin_config: str = "",
          prepared: Prepared | None = None, halt_after: int | None = None) -> dict[str, Any]:
    """Trains (or resumes) in `workdir`; returns the final step's metrics and where things are.

    `halt_after` stops the run after that step without saving, as a crash would.
    """
    workdir = pathlib.Path(workdir)
    p = prepared or prepare(cfg)
    chief = distributed.is_chief()
    start_lr = float(p.init[2]["lr"]) if p.init and p.cfg.init_lr == "continue" else None
    sched = make_schedule(p.cfg, p.plan, start_lr)
    record = plan_record(p, sched)
    if chief:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "model_config.json").write_text(p.model_cfg.to_json())
        (workdir / "plan.json").write_text(json.dumps(record, indent=2))
        if gin_config:
            (workdir / "config.gin").write_text(gin_config)

    loader = make_loader(p)
    graphdef, params, opt_state, train_step = build(p, sched, num_sources=len(loader.names), workdir=workdir)
    phase_ends = p.plan.ends
    if chief:
        checkpoint.set_aside_incomplete(workdir)
    distributed.barrier("checkpoints checked")
    mngr = checkpoint.manager(workdir, keep=cfg.keep_checkpoints, permanent=phase_ends)
    start = mngr.latest_step() or 0
    if start:
        params, opt_state, loader_state, _ = checkpoint.restore(
            mngr, start, abstract_params=_abstract(params), abstract_opt_state=_abstract(opt_state))
        loader.set_state(loader_state)
        log.info("resumed from step %d in %s", start, workdir)
    elif p.init:
        params, opt_state = _init_from(p, params, opt_state)
    if chief:
        metrics_log.truncate(workdir / "metrics.jsonl", start)

    meta = {"model_config": p.model_cfg.to_dict(), "train_config": _jsonable(dataclasses.asdict(cfg)),
            "gin_config": gin_config, "recipe": cfg.recipe, "plan": record, "rng": {"seed": cfg.seed},
            "init_from": None if p.init is None else {"checkpoint": str(p.init[0]), "step": p.init[1]}}
    logger = metrics_log.MetricsLogger(workdir, p.plan, p.cfg, p.model_cfg, loader.names, enabled=chief)
    bar = tqdm(total=p.plan.total_steps, initial=start, desc=f"train {cfg.recipe or cfg.mixture}", unit="step",
               disable=not (cfg.progress and chief), dynamic_ncols=True)
    last: dict[str, float] = {}
    try:
        for s in range(start, p.plan.total_steps):
            phase = p.plan.phase_at(s)
            if s == start or s == p.plan.starts[phase]:
                logger.phase_start(s, phase, float(sched(s)), resumed=s == start and s > 0)
            batch = mesh_lib.shard_batch(next(loader).as_dict(), p.mesh)
            with jax.set_mesh(p.mesh):
                params, opt_state, metrics = train_step(params, opt_state, batch, s)
            done = s + 1
            save_now = done % cfg.checkpoint_every == 0 or done in phase_ends
            if save_now or done % cfg.log_every == 0:
                with jax.set_mesh(p.mesh):
                    metrics["param_norm"] = step_lib.param_norm(params)
                last = logger.log(done, phase, jax.device_get(metrics), loader.epochs())
                bar.set_postfix(phase=p.plan.phases[phase].name, loss=f"{last['loss']:.3f}",
                                tok_s=f"{last['tokens_per_s']:,.0f}")
                bad = [k for k in ("loss", "grad_norm", "param_norm") if not math.isfinite(last[k])]
                if bad:  # checked before any save, so every checkpoint holds finite params
                    mngr.wait_until_finished()
                    good = (f"The last good checkpoint is step {mngr.latest_step()} in {workdir / 'checkpoints'}"
                            if mngr.latest_step() else "No checkpoint was saved before it.")
                    raise FloatingPointError(
                        f"{' and '.join(f'{k} is {last[k]}' for k in bad)} at step {done}; training stopped. {good}")
            if save_now:
                checkpoint.save(mngr, done, params=params, opt_state=opt_state,
                                loader_state=global_loader_state(loader),
                                meta={**meta, "step": done, "phase": p.plan.phases[phase].name,
                                      "lr": float(sched(done))},
                                force=done in phase_ends)
            bar.update(1)
            if halt_after is not None and done >= halt_after:
                break
    finally:
        bar.close()
        mngr.wait_until_finished()
        mngr.close()
        logger.close()
    return {"workdir": str(workdir), "final": last, "graphdef": graphdef, "params": params,
            "opt_state": opt_state, "train_config": cfg, "plan": record,
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


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))
