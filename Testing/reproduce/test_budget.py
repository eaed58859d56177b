"""Sharing a run's minutes: shares, time passed on, an overrunning or failing phase, and schedules that end on time.

The clock is a fake here only so that 'this phase ran over' is deterministic; the training loops themselves are
timed for real in test_time_limits.py."""

import pytest
import torch

from IExplainLib.errors import IExplainError
from IExplainLib.reproduce import Phase, PhaseBudget, PhaseSkipped
from IExplainLib.training import StepBudget, warmup_linear_decay


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_shares_split_the_minutes_and_unused_time_passes_on():
    clock = Clock()
    budget = PhaseBudget(1.0, clock)  # 60 s
    deadlines = {}

    def phase(name, spend):
        def run(deadline):
            deadlines[name] = deadline - clock.now
            clock.now += spend
            return {"spent": spend}
        return run

    records = budget.run([Phase("a", 1, phase("a", 5)), Phase("b", 1, phase("b", 10)), Phase("c", 2, phase("c", 0))])
    assert deadlines["a"] == pytest.approx(15)          # 60 s x 1/4
    assert deadlines["b"] == pytest.approx(55 / 3)      # a left 10 s unused: b gets a third of the 55 s left
    assert deadlines["c"] == pytest.approx(45)          # the last phase gets everything left
    assert [r.status for r in records] == ["done", "done", "done"]
    assert budget.summary()["ended_inside_budget"]


def test_an_overrunning_phase_is_recorded_and_the_later_ones_share_what_is_left():
    clock = Clock()
    budget = PhaseBudget(1.0, clock)
    written = []

    def overrun(deadline):
        clock.now = deadline + 12.0  # a phase that ignores its deadline
        return {}

    def last(deadline):
        assert deadline == pytest.approx(clock.now + budget.remaining())
        return {"ok": True}

    budget.run([Phase("first", 1, lambda d: {"kept": 1}), Phase("slow", 1, overrun), Phase("last", 1, last)],
               on_record=lambda records: written.append([r.name for r in records]))
    slow = budget.records[1]
    assert slow.over_s == pytest.approx(12.0) and slow.status == "done"
    assert budget.result_of("first") == {"kept": 1}
    assert written == [["first"], ["first", "slow"], ["first", "slow", "last"]]  # the report after every phase


def test_a_failing_phase_keeps_the_finished_ones_and_a_phase_can_skip_with_its_reason():
    clock = Clock()
    budget = PhaseBudget(2.0, clock)

    def broken(deadline):
        raise RuntimeError("out of memory")

    def skips(deadline):
        raise PhaseSkipped("needs the classifier")

    records = budget.run([Phase("made", 1, lambda d: {"partial": True}), Phase("broken", 1, broken),
                          Phase("skips", 1, skips)])
    assert [(r.status, r.message) for r in records] == [
        ("partial", ""), ("failed", "RuntimeError: out of memory"), ("skipped", "needs the classifier")]
    assert budget.result_of("made") == {"partial": True} and budget.result_of("broken") is None


def test_bad_budgets_are_refused():
    with pytest.raises(IExplainError, match="must be positive"):
        PhaseBudget(0)
    with pytest.raises(IExplainError, match="shares"):
        PhaseBudget(1).run([Phase("a", 0, lambda d: {})])


def test_step_budget_shrinks_the_schedule_so_the_rate_still_reaches_its_end():
    clock = Clock()
    budget = StepBudget(1000, deadline=clock.now + 20.0, clock=clock)
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = warmup_linear_decay(optimizer, 2, budget, final_lr=1e-3)
    step = 0
    while step < budget.total:
        clock.now += 1.0  # every step takes a second
        optimizer.step()
        schedule.step()
        step += 1
        if budget.after_step(step):
            break
    assert budget.cut and step <= 20 and clock.now <= 1000.0 + 20.0
    assert schedule.get_last_lr()[0] == pytest.approx(1e-3)
    assert budget.as_dict() == {"planned_steps": 1000, "steps": step, "stopped_by_deadline": True}


def test_step_budget_without_a_deadline_is_the_plain_count():
    budget = StepBudget(5)
    assert [budget.after_step(step) for step in range(1, 6)] == [False] * 4 + [True]
    assert not budget.cut
