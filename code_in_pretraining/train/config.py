"""`TrainConfig`, one training run as gin bindings, and the phase plan it describes.

Light on purpose (gin and dataclasses only): reading a recipe or checking a configuration
does not start JAX or TensorFlow.
"""

from __future__ import annotations

import dataclasses

import gin

from code_in_pretraining.data.phase_plan import PhasePlan, parse_phases

COOLDOWN_END_LR = 1e-6
INIT_STATES = ("params", "params_and_optimizer")
INIT_LRS = ("rewarm", "continue")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run; every field is a gin binding (`TrainConfig.seq_len = 2048`)."""

    # What to train on: one `mixture` for `steps` steps, or `phases` (a recipe, gin/recipes/).
    mixture: str = ""
    steps: int = 0
    recipe: str = ""  # the recipe's name, for logs and results
    phases: tuple = ()  # ((phase, mixture, tokens, "cosine" | "cosine_joined" | "cooldown"), ...)
    budget_scale: float = 1.0  # multiplies every phase's token budget
    budget_rounding: str = "error"  # or "nearest": round each budget to whole batches
    # Model.
    model_preset: str = "tiny"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    attention_impl: str = ""  # "" keeps the preset's; see kernels.attention
    compute_dtype: str = ""  # "" keeps the preset's
    remat: str = ""  # "" keeps the preset's
    loss_vocab_block: int = -1  # -1 keeps the preset's; N > 0: blockwise loss (model/blockwise_ce.py)
    scan_layers: bool = False  # True: the blocks as one scan over stacked parameters (model/decoder.py)
    seq_len: int = 256
    global_batch: int = 16
    # Gradient accumulation: the global batch split into this many microbatches inside one step
    # (float32 gradient sum, one optimizer update); activations are held for one microbatch only.
    microbatches: int = 1
    # > 0: more microbatches where needed, so that no device holds more than this many sequences
    # at a time (the rule runtime/tpu_v5e.gin uses: one gin file for every slice size).
    max_device_sequences: int = 0
    # Optimisation.
    peak_lr: float = 1e-3
    end_lr: float = 3e-4  # cosine floor, as in the paper's sibling work for this model family
    warmup_steps: int = 1325
    cooldown_end_lr: float = COOLDOWN_END_LR  # where a cooldown phase anneals to
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    clip_norm: float = 1.0
    z_loss: float = 1e-4
    # Continued pre-training from another run's checkpoint (a workdir or checkpoints directory).
    init_from: str = ""
    init_step: int = -1  # -1: the latest complete step
    init_state: str = "params"  # or "params_and_optimizer"
    init_lr: str = "rewarm"  # or "continue": start from the LR the source run had reached
    # Runtime.
    seed: int = 0
    mesh_shape: tuple = (-1, 1, 1)
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    peak_flops: float = 0.0  # per device, for MFU; 0: from the device kind (none on CPU)
    deterministic: bool = False  # GPU: deterministic kernels, autotuning kept in the workdir (determinism.py)
    progress: bool = True


def phase_plan(cfg: TrainConfig) -> PhasePlan:
    """The run's phase plan: TrainConfig.phases, or one phase of `mixture` for `steps` steps."""
    tokens_per_step = cfg.global_batch * cfg.seq_len
    if bool(cfg.phases) == bool(cfg.mixture):
        raise ValueError("set exactly one of TrainConfig.mixture (with TrainConfig.steps) and "
                         "TrainConfig.phases (a recipe from gin/recipes/)")
    if cfg.mixture:
        if cfg.steps <= 0:
            raise ValueError(f"TrainConfig.steps must be positive with TrainConfig.mixture, got {cfg.steps}")
        return PhasePlan.one_mixture(cfg.mixture, cfg.steps, tokens_per_step)
    if cfg.steps:
        raise ValueError("TrainConfig.steps is set, but TrainConfig.phases fixes the length (token budgets "
                         "x TrainConfig.budget_scale)")
    return PhasePlan.from_budgets(parse_phases(cfg.phases), tokens_per_step, cfg.budget_scale, cfg.budget_rounding)


def effective_microbatches(cfg: TrainConfig, batch_shards: int) -> int:
    """The microbatches a step runs on a mesh of `batch_shards` batch shards: TrainConfig.microbatches,
    raised to the fewest that divide each shard's rows and keep at most max_device_sequences of them
    at a time."""
    if not isinstance(cfg.microbatches, int) or cfg.microbatches < 1:
        raise ValueError(f"TrainConfig.microbatches={cfg.microbatches!r} must be a positive int")
    if cfg.global_batch % batch_shards:
        raise ValueError(f"TrainConfig.global_batch={cfg.global_batch} does not split over the mesh's "
                         f"{batch_shards} batch shards (data x fsdp)")
    rows = cfg.global_batch // batch_shards
    if rows % cfg.microbatches:
        raise ValueError(f"TrainConfig.microbatches={cfg.microbatches} must divide the {rows} sequences "
                         f"per batch shard ({cfg.global_batch} over {batch_shards} shards)")
    k = cfg.microbatches
    if cfg.max_device_sequences > 0:
        while rows % k or rows // k > cfg.max_device_sequences:
            k += 1
    return k
