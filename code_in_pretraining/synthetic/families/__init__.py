"""Problem families. Each module has FAMILY (its name) and TEMPLATES (functions rng -> Problem)."""

from __future__ import annotations

import random

from code_in_pretraining.synthetic.families import (arithmetic, bits, dicts, dp, grids, lists, parsing, recursion,
                                                    searching, simulation, strings)
from code_in_pretraining.synthetic.problem import Problem

_MODULES = (strings, lists, arithmetic, dicts, recursion, dp, parsing, simulation, searching, bits, grids)
FAMILIES: dict[str, list] = {m.FAMILY: list(m.TEMPLATES) for m in _MODULES}


def generate(family: str, rng: random.Random) -> Problem:
    """One candidate of `family`: a template chosen by `rng`, then filled in by it."""
    templates = FAMILIES[family]
    return templates[rng.randrange(len(templates))](rng)
