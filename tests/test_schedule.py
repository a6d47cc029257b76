"""LR schedules over phases: warmup + cosine, re-warming, LINEAR cooldown from the current LR to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

from code_in_pretraining.data.phase_plan import Phase, PhasePlan
from code_in_pretraining.train import schedule

PEAK, END, WARM = 1e-3, 3e-4, 10


def plan(*phases: tuple[str, int]) -> PhasePlan:
    """A plan of (schedule, steps) phases, one token per step."""
    return PhasePlan(tuple(Phase(f"p{i}", "m", n, kind) for i, (kind, n) in enumerate(phases)),
                     tuple(n for _, n in phases), 1)


def _values(fn, n):
    return np.array([float(fn(s)) for s in range(n)])


def test_one_cosine_phase_warms_up_then_decays_to_the_floor():
    lr = _values(schedule.phased(plan(("cosine", 100)), peak_lr=PEAK, warmup_steps=WARM, end_lr=END), 101)
    assert lr[0] == 0 and lr[WARM] == pytest.approx(PEAK)
    np.testing.assert_allclose(lr[:WARM + 1], np.linspace(0, PEAK, WARM + 1), rtol=1e-6)
    assert np.all(np.diff(lr[WARM:]) <= 1e-12) and lr[100] == pytest.approx(END)


def test_cooldown_anneals_linearly_from_the_current_lr_to_1e_6():
    fn = schedule.phased(plan(("cosine", 60), ("cooldown", 20)), peak_lr=PEAK, warmup_steps=WARM, end_lr=END)
    lr = _values(fn, 81)
    assert lr[59] > END and lr[60] == pytest.approx(END)  # the switch step: the LR the cosine reached
    np.testing.assert_allclose(lr[60:], np.linspace(END, 1e-6, 21), rtol=1e-5)
    assert np.all(np.diff(lr[60:]) < 0)


def test_cosine_phases_share_one_curve_unless_they_rewarm():
    phases = plan(("cosine", 40), ("cosine", 40), ("cooldown", 10))
    one = _values(schedule.phased(phases, peak_lr=PEAK, warmup_steps=WARM, end_lr=END), 90)
    merged = _values(schedule.phased(plan(("cosine", 80), ("cooldown", 10)), peak_lr=PEAK, warmup_steps=WARM,
                                     end_lr=END), 90)
    np.testing.assert_array_equal(one, merged)
    rewarm = _values(schedule.phased(phases, peak_lr=PEAK, warmup_steps=WARM, end_lr=END, rewarm=True), 90)
    assert rewarm[40] == 0 and rewarm[50] == pytest.approx(PEAK) and rewarm[80] == pytest.approx(END)


def test_a_continued_run_starts_from_the_lr_it_takes_over():
    lr = _values(schedule.phased(plan(("cosine", 50)), peak_lr=PEAK, warmup_steps=WARM, end_lr=END,
                                 start_lr=6e-4), 51)
    assert lr[0] == pytest.approx(6e-4) and lr[50] == pytest.approx(END) and np.all(np.diff(lr) <= 0)
    cool = _values(schedule.phased(plan(("cooldown", 10)), peak_lr=PEAK, warmup_steps=WARM, end_lr=END,
                                   start_lr=5e-4), 11)
    np.testing.assert_allclose(cool, np.linspace(5e-4, 1e-6, 11), rtol=1e-5)


def test_bad_phase_length_is_refused():
    with pytest.raises(ValueError, match="positive"):
        schedule.phased(plan(("cosine", 0)), peak_lr=PEAK, warmup_steps=WARM, end_lr=END)
