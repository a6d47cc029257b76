"""The step `cip train` would run on a TPU slice, compiled on a machine without one.

From the same TrainConfig (gin files: model, runtime, recipe), the same step function
(train/step.py), optimizer, shardings (parallel/mesh.py), global batch, remat and attention
kernels, lowered over the abstract devices libtpu describes (parallel/topology.py) and
compiled by XLA's TPU compiler. What comes back is per device: the memory of the
compiled program against the chip's HBM, the collectives of one step (parallel/collectives.py)
against FSDP's floor, and a roofline estimate of the step's time (train/fit_report.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import time
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from code_in_pretraining.data import mixtures
from code_in_pretraining.model.config import ModelConfig, get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.model.sharded_attention import check_mesh
from code_in_pretraining.parallel import collectives
from code_in_pretraining.parallel import mesh as mesh_lib
from code_in_pretraining.parallel import topology
from code_in_pretraining.train import step as step_lib
from code_in_pretraining.train import trainer
from code_in_pretraining.train.config import TrainConfig, effective_microbatches, phase_plan


@dataclasses.dataclass(frozen=True)
class Compiled:
    """One compiled step and what was measured of it (bytes are per device)."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    slice: topology.Slice
    num_slices: int
    mesh_shape: dict[str, int]
    microbatches: int  # as run: TrainConfig.microbatches, raised by max_device_sequences
    vocab_note: str
    compile_s: float
    params_bytes: float
    optimizer_bytes: float
    batch_bytes: float
    argument_bytes: float  # memory_analysis: the program's inputs
    temp_bytes: float  # memory_analysis: temporaries
    output_bytes: float  # memory_analysis: outputs not aliased to (donated) inputs
    code_bytes: float
    collectives: dict[str, collectives.Collective]
    hlo_text: str = dataclasses.field(repr=False)
    out_of_memory: str = ""  # the compiler's message where it stopped for want of HBM

    @property
    def num_devices(self) -> int:
        return self.slice.num_devices * self.num_slices

    @property
    def total_bytes(self) -> float:
        return self.argument_bytes + self.temp_bytes + self.output_bytes + self.code_bytes


def model_config(cfg: TrainConfig) -> tuple[ModelConfig, int, str]:
    """(model config, number of sources, where the vocabulary size came from) of a run, without
    reading data: the vocabulary of the recipe's tasks where $CIP_VOCAB names one, else the
    preset's (the paper's 256k)."""
    from code_in_pretraining.train.trainer import model_config as trainer_model_config

    plan = phase_plan(cfg)
    weights = [mixtures.mixture_weights(ph.mixture) for ph in plan.phases]
    sources = sorted({t for w in weights for t, v in w.items() if v > 0})
    if os.environ.get("CIP_VOCAB"):
        vocab = mixtures.get_task(sources[0]).output_features["targets"].vocabulary.vocab_size
        note = f"{vocab:,} ($CIP_VOCAB)"
    else:
        vocab = get_preset(cfg.model_preset).vocab_size
        note = f"{vocab:,} (the preset's; set $CIP_VOCAB for your vocabulary's)"
    return trainer_model_config(cfg, vocab), len(sources), note


def _sharded(tree, shardings):
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def _shard_bytes(tree) -> float:
    """Bytes per device of the arrays in `tree` (their shards' logical sizes)."""
    total = 0.0
    for x in jax.tree.leaves(tree):
        shape = x.sharding.shard_shape(x.shape) if x.sharding is not None else x.shape
        total += math.prod(shape) * jnp.dtype(x.dtype).itemsize
    return total


def make_mesh(cfg: TrainConfig, devices: list, num_slices: int):
    if num_slices > 1:
        return mesh_lib.make_multislice_mesh(cfg.mesh_shape, devices, num_slices)
    return mesh_lib.make_mesh(cfg.mesh_shape, devices=devices)


@dataclasses.dataclass(frozen=True)
class Lowered:
    """The run's step lowered over a mesh, with its abstract (sharded) inputs."""

    lowered: Any
    params: Any
    opt_state: Any
    batch: dict
    microbatches: int


def abstract_inputs(cfg: TrainConfig, model_cfg: ModelConfig, mesh):
    """(graphdef, optimizer, schedule, params, optimizer state, batch) as sharded ShapeDtypeStructs: what
    trainer.build and the loader give the step, from shapes alone."""
    sched = trainer.make_schedule(cfg, phase_plan(cfg))
    tx = trainer.make_optimizer(cfg, sched)
    graphdef, abs_state = nnx.split(nnx.eval_shape(lambda: Decoder(model_cfg, rngs=nnx.Rngs(cfg.seed))))
    param_shardings = nnx.to_pure_dict(mesh_lib.state_shardings(abs_state, mesh))
    params = _sharded(nnx.to_pure_dict(abs_state), param_shardings)
    opt_shardings = step_lib.optimizer_shardings(tx, params, param_shardings, mesh)
    opt_state = _sharded(jax.eval_shape(tx.init, params), opt_shardings)
    B, L = cfg.global_batch, cfg.seq_len
    batch_sh = mesh_lib.batch_sharding(mesh)
    batch = {k: jax.ShapeDtypeStruct((B, L), jnp.int32, sharding=batch_sh)
             for k in ("tokens", "segment_ids", "positions")}
    batch["source_ids"] = jax.ShapeDtypeStruct((B, L), jnp.int8, sharding=batch_sh)
    return graphdef, tx, sched, params, opt_state, batch


def lower_step(cfg: TrainConfig, model_cfg: ModelConfig, num_sources: int, mesh) -> Lowered:
    """The step `cip train` builds (trainer.build), lowered over `mesh` from shapes alone."""
    check_mesh(model_cfg, mesh)
    microbatches = effective_microbatches(cfg, mesh.shape["data"] * mesh.shape["fsdp"])
    graphdef, tx, sched, params, opt_state, batch = abstract_inputs(cfg, model_cfg, mesh)
    param_shardings = jax.tree.map(lambda x: x.sharding, params)
    opt_shardings = jax.tree.map(lambda x: x.sharding, opt_state)
    step_index = jax.ShapeDtypeStruct((), jnp.int32, sharding=NamedSharding(mesh, P()))
    train_step = step_lib.make_train_step(graphdef, tx, sched, z_loss=cfg.z_loss, num_sources=num_sources,
                                          param_shardings=param_shardings, opt_shardings=opt_shardings,
                                          microbatches=microbatches)
    with jax.set_mesh(mesh):
        lowered = train_step.lower(params, opt_state, batch, step_index)
    return Lowered(lowered, params, opt_state, batch, microbatches)


def compile_step(cfg: TrainConfig, topology_name: str, num_slices: int = 1) -> Compiled:
    """Compiles the run's train step for `num_slices` slices of `topology_name` (no TPU needed)."""
    slice_ = topology.parse(topology_name)
    if num_slices < 1:
        raise ValueError(f"--num_slices {num_slices}: must be >= 1")
    model_cfg, num_sources, vocab_note = model_config(cfg)
    devices = topology.devices(slice_, num_slices)
    mesh = make_mesh(cfg, devices, num_slices)
    start = time.perf_counter()
    low = lower_step(cfg, model_cfg, num_sources, mesh)
    params, opt_state, batch = low.params, low.opt_state, low.batch
    common = dict(cfg=cfg, model_cfg=model_cfg, slice=slice_, num_slices=num_slices, mesh_shape=dict(mesh.shape),
                  microbatches=low.microbatches,
                  vocab_note=vocab_note, params_bytes=_shard_bytes(params), optimizer_bytes=_shard_bytes(opt_state),
                  batch_bytes=_shard_bytes(batch))
    try:
        compiled = low.lowered.compile()
    except Exception as e:  # XLA's error type is private; only running out of HBM is handled here
        temps = _OUT_OF_HBM.search(str(e))
        if "RESOURCE_EXHAUSTED" not in str(e) or not temps:
            raise
        # The TPU compiler stops where the program cannot fit: what it needed is in its message.
        args = common["params_bytes"] + common["optimizer_bytes"] + common["batch_bytes"]
        return Compiled(**common, compile_s=time.perf_counter() - start, argument_bytes=args,
                        temp_bytes=float(temps.group(1)) * _UNIT[temps.group(2)], output_bytes=0.0,
                        code_bytes=0.0, collectives={}, hlo_text="", out_of_memory=str(e).splitlines()[0])
    seconds = time.perf_counter() - start
    mem = compiled.memory_analysis()
    hlo = compiled.as_text()
    return Compiled(
        **common, compile_s=seconds,
        argument_bytes=float(mem.argument_size_in_bytes), temp_bytes=float(mem.temp_size_in_bytes),
        output_bytes=float(max(0, mem.output_size_in_bytes - mem.alias_size_in_bytes)),
        code_bytes=float(mem.generated_code_size_in_bytes),
        collectives=collectives.collectives(hlo, len(devices)), hlo_text=hlo)


_OUT_OF_HBM = re.compile(r"HLO temporaries \(([0-9.]+)([KMGT])\)")
_UNIT = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}



def from_record(cfg: TrainConfig, topology_name: str, fields: dict, hlo_text: str) -> Compiled:
    """A Compiled from its kept figures and HLO (benchmarks/tpu_fit.py renders tables without compiling)."""
    model_cfg, _, _ = model_config(cfg)
    slice_ = topology.parse(topology_name)
    mesh = make_mesh(cfg, topology.devices(slice_, fields["num_slices"]), fields["num_slices"])
    *_, params, opt_state, batch = abstract_inputs(cfg, model_cfg, mesh)
    fields = {**fields, "params_bytes": _shard_bytes(params), "optimizer_bytes": _shard_bytes(opt_state),
              "batch_bytes": _shard_bytes(batch)}
    found = collectives.collectives(hlo_text, slice_.num_devices * fields["num_slices"])
    return Compiled(cfg=cfg, model_cfg=model_cfg, slice=slice_, collectives=found, hlo_text=hlo_text, **fields)
