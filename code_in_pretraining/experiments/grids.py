"""Named grids of recipes and named scales to run them at.

A scale is the gin files and bindings that size every recipe of a grid (model,
runtime, batch, how far the paper's token budgets are scaled) plus how much of
each benchmark is evaluated. `toy` fits this repository's CI machine; `470m` and
`2p8b` are the paper's, on TPU v5e pods.
"""

from __future__ import annotations

import dataclasses

GRIDS: dict[str, tuple[str, ...]] = {
    # The headline table: each variant with its phases and its cooldown.
    "paper": ("text_only", "balanced_only", "balanced_to_text", "code_to_text"),
    # Code proportion in pre-training, 0% to 100% (200B each).
    "code_sweep": tuple(f"code_sweep_{p}" for p in (0, 25, 50, 75, 90, 100)),
    # Code quality: code-only ablations, then synthetic code in the balanced->text recipe.
    "code_quality": ("code_quality_web", "code_quality_markup", "code_quality_adjacent", "code_quality_synth",
                     "balanced_to_text", "balanced_synth_to_text"),
    # The same base with a 40B cooldown with and without code.
    "cooldown": ("cooldown_with_code", "cooldown_no_code"),
    # PAPER.md, Recipes: "Scale: 470M and 2.8B (balanced-only, balanced→text, code→text repeated at 2.8B)."
    "paper_2p8b": ("balanced_only", "balanced_to_text", "code_to_text"),
}

# 40B tokens are 2^12 * 5^10: scaling by 2^k / 5^10 keeps every paper budget a whole number of
# 4,096-token batches (toy: 16 x 256 tokens per step -> 160 steps for 400B, 80 for 200B, 16 for 40B).
TOY_BUDGET_SCALE = 16 / 5**10


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    gin_files: tuple[str, ...]
    bindings: tuple[str, ...] = ()
    eval_suite: str = "paper"
    eval_limit: int | None = None  # examples per benchmark (None: all)
    eval_batch_size: int = 8
    eval_max_len: int | None = None
    default_data: bool = False  # build the embedded default corpus and its vocabulary if missing
    perplexity_tasks: tuple[str, ...] = ("slimpajama", "stack_code")  # held-out perplexity per phase
    perplexity_tokens: int | None = 200_000  # per task (None: the whole validation split)


SCALES: dict[str, Scale] = {
    "toy": Scale("toy", ("models/tiny.gin", "runtime/cpu.gin"), (
        "TrainConfig.seq_len = 256", "TrainConfig.global_batch = 16",
        f"TrainConfig.budget_scale = {TOY_BUDGET_SCALE!r}", "TrainConfig.peak_lr = 3e-3",
        "TrainConfig.end_lr = 3e-4", "TrainConfig.warmup_steps = 10", "TrainConfig.log_every = 10",
        "TrainConfig.checkpoint_every = 40"), eval_limit=40, eval_max_len=256, default_data=True),
    "470m": Scale("470m", ("models/470m.gin", "runtime/tpu_v5e.gin")),
    "2p8b": Scale("2p8b", ("models/2p8b.gin", "runtime/tpu_v5e.gin")),
}


def get_grid(name: str) -> tuple[str, ...]:
    if name not in GRIDS:
        raise KeyError(f"unknown grid {name!r}; known grids: {sorted(GRIDS)}")
    return GRIDS[name]


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise KeyError(f"unknown scale {name!r}; known scales: {sorted(SCALES)}")
    return SCALES[name]
