"""Every mixture of the paper is registered with the TOKEN fractions of PAPER.md."""

from __future__ import annotations

import pytest

from code_in_pretraining.data import mixtures
from code_in_pretraining.train import recipes

T, W, M, A, S = "slimpajama", "stack_code", "markup", "code_adjacent", "synthetic_code"
CT, CM, CI = "cooldown_text", "cooldown_math", "cooldown_instruct"

# PAPER.md, "Recipes": code = 80% web code + 20% markup unless a recipe says otherwise.
EXPECTED = {
    "text_only": {T: 1.0},
    "balanced": {T: 0.5, W: 0.4, M: 0.1},  # 200B text + 200B code
    "code_init": {W: 0.8, M: 0.2},  # "80% code, 20% markup"
    "continued": {T: 0.9, W: 0.08, M: 0.02},  # 180B text + 20B code
    "cooldown_with_code": {CT: 0.6, CM: 0.1, CI: 0.1, W: 0.16, M: 0.04},  # 32B text + 8B code
    "cooldown_no_code": {CT: 0.75, CM: 0.125, CI: 0.125},
    "code_sweep_0": {T: 1.0},
    "code_sweep_25": {T: 0.75, W: 0.2, M: 0.05},
    "code_sweep_50": {T: 0.5, W: 0.4, M: 0.1},
    "code_sweep_75": {T: 0.25, W: 0.6, M: 0.15},
    "code_sweep_90": {T: 0.1, W: 0.72, M: 0.18},
    "code_sweep_100": {W: 0.8, M: 0.2},
    "code_quality_web": {W: 1.0},
    "code_quality_markup": {W: 0.8, M: 0.2},
    "code_quality_adjacent": {W: 0.65, M: 0.2, A: 0.15},
    "code_quality_synth": {W: 0.55, M: 0.2, A: 0.15, S: 0.1},
    "balanced_synth": {T: 0.5, W: 0.32, M: 0.08, S: 0.1},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mixture_weights_match_the_paper(name):
    got = mixtures.mixture_weights(name)
    assert set(got) == set(EXPECTED[name])
    for task, weight in EXPECTED[name].items():
        assert got[task] == pytest.approx(weight, abs=1e-9), task


def test_every_recipe_names_registered_mixtures_and_paper_budgets():
    for name in recipes.recipe_names():
        for phase in recipes.get_recipe(name):
            mixtures.mixture_weights(phase.mixture)
    assert [p.tokens for p in recipes.get_recipe("text_only")] == [400e9, 40e9]
    assert [(p.mixture, p.tokens) for p in recipes.get_recipe("code_to_text")] == [
        ("code_init", 200e9), ("continued", 200e9), ("cooldown_with_code", 40e9)]
    assert recipes.get_recipe("text_only")[-1].schedule == "cooldown"
