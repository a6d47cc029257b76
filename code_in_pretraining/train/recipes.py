"""Training recipes as phase plans: (phase, mixture, token budget, LR schedule) per phase.

The paper's recipes live in gin/recipes/<name>.gin, one file per recipe, as a
`TrainConfig.phases` binding with the paper's 470M budgets; `RECIPES` reads them,
so training, `cip inspect --recipe` and the experiment runner share one table.
`scale` multiplies every budget, so a recipe can run at any size; a budget must
still divide into whole batches, which `phase_steps` checks before anything is built.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

from gin import config_parser

RECIPE_DIR = pathlib.Path(__file__).resolve().parents[2] / "gin" / "recipes"
SCHEDULES = ("cosine", "cooldown")
COOLDOWN_END_LR = 1e-6


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    mixture: str
    tokens: int
    schedule: str = "cosine"  # "cooldown": linear annealing from the current LR to COOLDOWN_END_LR

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"phase {self.name!r}: schedule {self.schedule!r} not in {SCHEDULES}")
        if self.tokens <= 0:
            raise ValueError(f"phase {self.name!r}: token budget must be positive, got {self.tokens}")


def parse_phases(value: Sequence, where: str = "TrainConfig.phases") -> tuple[Phase, ...]:
    """((name, mixture, tokens, schedule), ...) as written in gin -> Phases, naming what is wrong."""
    phases = []
    for i, item in enumerate(value):
        if isinstance(item, Phase):
            phases.append(item)
            continue
        if not isinstance(item, (tuple, list)) or len(item) not in (3, 4):
            raise ValueError(f"{where}[{i}] = {item!r}: expected (phase, mixture, tokens[, schedule])")
        name, mixture, tokens, *schedule = item
        try:
            phases.append(Phase(str(name), str(mixture), round(float(tokens)), *schedule))
        except ValueError as e:
            raise ValueError(f"{where}[{i}]: {e}") from None
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: phase names repeat: {names}")
    return tuple(phases)


class _Literals(config_parser.ParserDelegate):
    """Recipe files hold literals only; references and macros are errors."""

    def configurable_reference(self, scoped_name, evaluate):
        raise ValueError(f"recipe files hold literals only, found @{scoped_name}")

    def macro(self, name):
        raise ValueError(f"recipe files hold literals only, found %{name}")


def read_recipe_file(path: pathlib.Path) -> tuple[Phase, ...]:
    """The `TrainConfig.phases` of one recipe gin file."""
    bindings = {}
    for stmt in config_parser.ConfigParser(path.read_text(), _Literals()):
        if isinstance(stmt, config_parser.BindingStatement) and stmt.selector == "TrainConfig":
            bindings[stmt.arg_name] = stmt.value
    if bindings.get("recipe") != path.stem:
        raise ValueError(f"{path}: TrainConfig.recipe must be {path.stem!r}, found {bindings.get('recipe')!r}")
    if "phases" not in bindings:
        raise ValueError(f"{path}: no TrainConfig.phases binding")
    return parse_phases(bindings["phases"], where=f"{path}: TrainConfig.phases")


def load_recipes(directory: pathlib.Path = RECIPE_DIR) -> dict[str, tuple[Phase, ...]]:
    return {p.stem: read_recipe_file(p) for p in sorted(directory.glob("*.gin"))}


RECIPES: dict[str, tuple[Phase, ...]] = load_recipes()


def get_recipe(name: str) -> tuple[Phase, ...]:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {sorted(RECIPES)}")
    return RECIPES[name]


def phase_steps(phases: Sequence[Phase], tokens_per_step: int, scale: float = 1.0,
                rounding: str = "error") -> list[int]:
    """Steps per phase at `scale` x the budgets.

    A budget must be whole batches (`rounding="error"`), or is rounded to the nearest
    whole batch (`rounding="nearest"`: the paper's 200B at 512 x 8192 tokens per step
    is 47,683.7 batches).
    """
    if rounding not in ("error", "nearest"):
        raise ValueError(f"TrainConfig.budget_rounding={rounding!r}: expected 'error' or 'nearest'")
    steps = []
    for ph in phases:
        tokens = round(ph.tokens * scale)
        n = round(tokens / tokens_per_step) if rounding == "nearest" else tokens // tokens_per_step
        if n <= 0 or (rounding == "error" and tokens % tokens_per_step):
            raise ValueError(f"phase {ph.name!r} ({ph.mixture}): a budget of {tokens:,} tokens is not a whole "
                             f"number of batches of {tokens_per_step:,} tokens (TrainConfig.budget_scale="
                             f"{scale}; TrainConfig.budget_rounding='nearest' rounds it)")
        steps.append(n)
    return steps
