"""Every shipped gin combination (model x runtime x recipe) parses and validates, without training."""

from __future__ import annotations

import itertools

import pytest

import gin
from code_in_pretraining.data import mixtures
from code_in_pretraining.train import launch
from code_in_pretraining.train import config, recipes, trainer

MODELS = ["models/tiny.gin", "models/470m.gin", "models/2p8b.gin"]
RUNTIMES = ["runtime/cpu.gin", "runtime/gpu.gin", "runtime/tpu_v5e.gin"]


@pytest.fixture(autouse=True)
def _clean_gin():
    yield
    gin.clear_config()


def _config(*files, bindings=()):
    return launch.load_config(list(files), list(bindings))


@pytest.mark.parametrize("recipe", recipes.recipe_names())
def test_recipe_files_validate_with_every_model_and_runtime(recipe):
    for model, runtime in itertools.product(MODELS, RUNTIMES):
        cfg = _config(model, runtime, f"recipes/{recipe}.gin")
        plan = config.phase_plan(cfg)
        phases = plan.phases
        assert phases == recipes.get_recipe(recipe) and cfg.recipe == recipe
        for ph in phases:
            assert mixtures.mixture_weights(ph.mixture)
        trainer.model_config(cfg, vocab_size=256_000)
        if model != "models/tiny.gin":  # the paper's budgets at 512 x 8192 tokens per step
            for i, ph in enumerate(phases):
                t = plan.tokens(i)
                assert abs(t - ph.tokens) <= cfg.global_batch * cfg.seq_len / 2


def test_paper_schedule_of_balanced_to_text_at_470m():
    cfg = _config("models/470m.gin", "runtime/tpu_v5e.gin", "recipes/balanced_to_text.gin")
    assert config.phase_plan(cfg).steps == (47_684, 47_684, 9_537)  # 200B, 200B, 40B at 4,194,304 tokens per step
    assert (cfg.warmup_steps, cfg.peak_lr, cfg.end_lr, cfg.cooldown_end_lr) == (1325, 1e-3, 3e-4, 1e-6)


def test_budget_scale_scales_every_phase():
    cfg = _config("models/tiny.gin", "recipes/balanced_to_text.gin",
                  bindings=["TrainConfig.seq_len = 256", "TrainConfig.global_batch = 16",
                            f"TrainConfig.budget_scale = {4096 * 8 / 40e9!r}"])
    assert config.phase_plan(cfg).steps == (40, 40, 8)
