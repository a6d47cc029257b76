"""LR schedules over phases: warmup + cosine per phase (or joined), LINEAR cooldown from the current LR to 1e-6;
which leading phases two plans share (the runner forks on them)."""

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


def _phased(p: PhasePlan, n: int) -> np.ndarray:
    return _values(schedule.phased(p, peak_lr=PEAK, warmup_steps=WARM, end_lr=END), n)


def test_a_cosine_phase_is_a_run_of_its_own_and_continued_pretraining_warms_up_again():
    two = _phased(plan(("cosine", 40), ("cosine", 40), ("cooldown", 10)), 90)
    np.testing.assert_array_equal(two[:40], _phased(plan(("cosine", 40)), 40))  # phase 1 = the 40-step run
    assert two[39] > END and two[40] == 0 and two[50] == pytest.approx(PEAK) and two[80] == pytest.approx(END)


def test_a_joined_cosine_phase_stretches_the_curve_before_it():
    joined = _phased(plan(("cosine", 40), ("cosine_joined", 40), ("cooldown", 10)), 90)
    np.testing.assert_array_equal(joined, _phased(plan(("cosine", 80), ("cooldown", 10)), 90))
    with pytest.raises(ValueError, match="'cosine_joined' continues the cosine of the phase before"):
        plan(("cosine_joined", 40))
    with pytest.raises(ValueError, match="that one is a cooldown"):
        plan(("cosine", 40), ("cooldown", 10), ("cosine_joined", 40))


def _named(*phases: tuple[str, str, int, str]) -> PhasePlan:
    """A plan of (name, mixture, steps, schedule) phases, one token per step."""
    return PhasePlan(tuple(Phase(n, m, s, k) for n, m, s, k in phases), tuple(s for _, _, s, _ in phases), 1)


def test_plans_share_the_phases_with_the_same_data_steps_and_lr():
    sweep_50 = _named(("pretrain", "code_sweep_50", 80, "cosine"))
    b2t = _named(("pretrain", "balanced", 80, "cosine"), ("continued", "continued", 80, "cosine"),
                 ("cooldown", "cooldown_with_code", 16, "cooldown"))
    same_data = {"balanced": "text 50%, code 50%", "code_sweep_50": "text 50%, code 50%"}.get
    assert b2t.shared_prefix(sweep_50) == 0  # by name, two mixtures differ
    assert b2t.shared_prefix(sweep_50, same_data) == sweep_50.shared_prefix(b2t, same_data) == 1
    no_code_cooldown = _named(*((ph.name, ph.mixture, n, ph.schedule) for ph, n in zip(b2t.phases[:2], b2t.steps)),
                              ("cooldown", "cooldown_no_code", 16, "cooldown"))
    assert b2t.shared_prefix(no_code_cooldown) == 2
    # Phase 1 of a joined cosine decays over 160 steps, not 80: not the sweep's run.
    joined = _named(("pretrain", "balanced", 80, "cosine"), ("continued", "continued", 80, "cosine_joined"))
    assert joined.shared_prefix(sweep_50, same_data) == 0
    assert joined.shared_prefix(b2t) == 0 and b2t.shared_prefix(joined) == 0
    assert _named(("pretrain", "balanced", 40, "cosine")).shared_prefix(sweep_50, same_data) == 0  # other steps


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
