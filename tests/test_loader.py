"""The loader at scale: token fractions over 1M+ tokens, fill at 2048, phase switch, processes, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from code_in_pretraining.data.loader import MixingLoader
from code_in_pretraining.data.phase_plan import Phase, PhasePlan
from code_in_pretraining.train import recipes


def plan_of(*steps: int, seq_len: int, global_batch: int) -> PhasePlan:
    tokens = seq_len * global_batch
    return PhasePlan(tuple(Phase(f"p{i}", "m", n * tokens) for i, n in enumerate(steps)), steps, tokens)


def merge_states(states):
    """One state covering all rows, from the states of processes that own consecutive rows."""
    states = sorted(states, key=lambda st: st["row_start"])
    merged = dict(states[0])
    for k in MixingLoader.STATE_ARRAYS:
        merged[k] = [row for st in states for row in st[k]]
    return merged


def test_token_fractions_hold_at_every_prefix_past_1m_and_fill_is_full(shards):
    weights = {"text": 0.3, "code": 0.7}
    loader = MixingLoader(shards, weights, seq_len=2048, global_batch=8, seed=0)
    total = np.zeros(2)
    fills = []
    for _ in range(128):  # 2,097,152 tokens
        rows = next(loader)
        fills.append(rows.fill())
        total += [np.sum(rows.source_ids == i) for i in range(2)]
        if total.sum() >= 1_000_000:
            assert abs(total[0] / total.sum() - 0.3) <= 0.005, total
    assert min(fills) >= 0.99


def test_phase_switch_happens_at_the_first_step_of_the_phase(shards):
    weights = [{"text": 1.0}, {"code": 1.0}, {"text": 0.5, "code": 0.5}]
    plan = plan_of(3, 2, 2, seq_len=256, global_batch=4)
    loader = MixingLoader(shards, weights, plan=plan, seq_len=256, global_batch=4, seed=0)
    sources = [set(np.unique(rows.source_ids).tolist()) for rows in loader]
    assert len(sources) == plan.total_steps == 7  # the loader stops after the plan's last step
    assert sources[:5] == [{0}, {0}, {0}, {1}, {1}]
    assert sources[5] | sources[6] == {0, 1}
    assert [plan.phase_at(s) for s in range(7)] == [0, 0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("processes", [2, 4])
def test_union_over_processes_is_the_global_batch(shards, processes):
    kw = dict(seq_len=256, global_batch=8, seed=5)
    weights = {"text": 0.5, "code": 0.5}
    single = [next(b).tokens for b in [MixingLoader(shards, weights, **kw)] for _ in range(4)]
    per = 8 // processes
    parts = [MixingLoader(shards, weights, **kw, row_start=p * per, row_end=(p + 1) * per) for p in range(processes)]
    for step in range(4):
        np.testing.assert_array_equal(np.concatenate([next(p).tokens for p in parts]), single[step])


def test_resume_across_a_phase_switch_with_another_process_count(shards):
    phases = [{"text": 0.9, "code": 0.1}, {"text": 0.2, "code": 0.8}]
    kw = dict(seq_len=256, global_batch=4, seed=2, plan=plan_of(3, 3, seq_len=256, global_batch=4))
    reference = MixingLoader(shards, phases, **kw)
    expected = [next(reference).tokens for _ in range(6)]

    # two processes run 2 steps and checkpoint; their states are merged ...
    parts = [MixingLoader(shards, phases, **kw, row_start=a, row_end=a + 2) for a in (0, 2)]
    for _ in range(2):
        for p in parts:
            next(p)
    state = json.loads(json.dumps(merge_states([p.get_state() for p in parts])))
    # ... and one process resumes, crossing into the second phase at step 3.
    resumed = MixingLoader(shards, phases, **kw)
    resumed.set_state(state)
    for step in range(2, 6):
        np.testing.assert_array_equal(next(resumed).tokens, expected[step])


def test_recipes_divide_into_whole_batches_or_say_which_phase_does_not():
    phases = recipes.get_recipe("balanced_to_text")
    plan = PhasePlan.from_budgets(phases, 1_000_000)
    assert plan.steps == (200_000, 200_000, 40_000)
    assert plan.starts == (0, 200_000, 400_000) and plan.switch_steps == (200_000, 400_000)
    assert [plan.phase_at(s) for s in (0, 199_999, 200_000, 439_999)] == [0, 0, 1, 2]
    with pytest.raises(ValueError, match="'cooldown'.*not a whole number of batches"):
        PhasePlan.from_budgets(phases, tokens_per_step=5**11)  # divides 200B, not 40B
    with pytest.raises(ValueError, match="overflow the step counter"):
        PhasePlan.from_budgets(phases, tokens_per_step=128)
    with pytest.raises(KeyError, match="unknown recipe 'nope'"):
        recipes.get_recipe("nope")


def test_cip_inspect_reports_both_sources_near_their_weights(default_data, capsys):
    from code_in_pretraining.cli import main

    assert main(["inspect", "--mixture", "demo_balanced", "--tokens", "600000", "--seq-len", "2048", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fill"] >= 0.99
    for name in ("text", "code"):
        assert abs(out["sources"][name]["realized"] - 0.5) < 0.01
        assert out["sources"][name]["documents"] > 0 and out["sources"][name]["sample"]
