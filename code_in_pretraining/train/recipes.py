"""The paper's recipes: one gin file each, `gin/recipes/<name>.gin`, with the paper's 470M budgets.

A recipe file binds `TrainConfig.recipe` (its own name) and `TrainConfig.phases`,
((phase, mixture, tokens, schedule), ...). It is read by gin itself, as training
reads it, so training, `cip inspect --recipe`, the experiment runner and the report
see the same phases. Reading one replaces gin's current configuration.
"""

from __future__ import annotations

import functools

from code_in_pretraining.data.phase_plan import Phase, parse_phases
from code_in_pretraining.train.launch import GIN_DIR, load_config

RECIPE_DIR = GIN_DIR / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.gin"))


@functools.cache
def get_recipe(name: str) -> tuple[Phase, ...]:
    """The phases of recipe `name`, at the paper's budgets."""
    if name not in recipe_names():
        raise KeyError(f"unknown recipe {name!r}; known recipes: {recipe_names()}")
    path = RECIPE_DIR / f"{name}.gin"
    cfg = load_config([str(path)], [])
    if cfg.recipe != name:
        raise ValueError(f"{path}: TrainConfig.recipe must be {name!r}, found {cfg.recipe!r}")
    if not cfg.phases:
        raise ValueError(f"{path}: no TrainConfig.phases binding")
    return parse_phases(cfg.phases, where=f"{path}: TrainConfig.phases")
