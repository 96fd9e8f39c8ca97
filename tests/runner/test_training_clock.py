"""The budget clock: warm-up steps are not counted, everything after them is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_runner.training import BudgetClock, ClockError


class FakeTime:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0
        self.syncs = 0

    def __call__(self) -> float:
        return self.t

    def sync(self) -> None:
        self.syncs += 1


def run_steps(clock: BudgetClock, now: FakeTime, durations: list[float], gap: float = 0.0) -> int:
    steps = 0
    for d in durations:
        if not clock.begin():
            break
        now.t += d
        clock.end()
        now.t += gap
        steps += 1
    return steps


def test_warmup_steps_are_not_counted() -> None:
    now = FakeTime()
    clock = BudgetClock(10.0, 3, now=now, sync=now.sync)
    # three slow warm-up steps (compilation), then 1-second steps
    run_steps(clock, now, [30.0, 20.0, 5.0])
    assert clock.training_seconds == 0.0
    assert clock.warmup_seconds == 55.0
    assert clock.progress == 0.0 and not clock.done
    run_steps(clock, now, [1.0] * 4)
    assert clock.training_seconds == 4.0
    assert clock.progress == pytest.approx(0.4)
    assert clock.counted_steps == 4
    assert now.syncs == 14  # one before and one after every step


def test_stops_once_the_budget_is_spent_and_stays_stopped() -> None:
    now = FakeTime()
    clock = BudgetClock(10.0, 2, now=now)
    steps = run_steps(clock, now, [50.0, 50.0] + [3.0] * 100)
    assert steps == 2 + 4  # 3 + 3 + 3 < 10 <= 12
    assert clock.training_seconds == 12.0
    assert clock.done and clock.progress == 1.0
    assert clock.remaining_seconds == 0.0
    assert not clock.begin()
    now.t += 1000
    assert not clock.begin()


def test_never_stops_before_the_warmup_is_done() -> None:
    now = FakeTime()
    clock = BudgetClock(1.0, 5, now=now)
    assert run_steps(clock, now, [10.0] * 5 + [2.0]) == 6


def test_time_between_steps_counts_after_the_warmup() -> None:
    now = FakeTime()
    clock = BudgetClock(100.0, 1, now=now)
    run_steps(clock, now, [1.0, 1.0, 1.0], gap=4.0)
    # the counted period runs from the start of step 1 to the end of step 2: 1 + 4 + 1
    assert clock.training_seconds == 6.0


def test_out_of_order_use_is_an_error() -> None:
    now = FakeTime()
    clock = BudgetClock(5.0, 0, now=now)
    with pytest.raises(ClockError, match="had not begun"):
        clock.end()
    assert clock.begin()
    with pytest.raises(ClockError, match="before the previous one ended"):
        clock.begin()
    with pytest.raises(ValueError, match="budget must be positive"):
        BudgetClock(0, 1)


@given(
    budget=st.floats(0.5, 50),
    uncounted=st.integers(0, 5),
    durations=st.lists(st.floats(0.01, 5), min_size=1, max_size=200),
)
def test_counted_time_is_the_sum_of_counted_steps(
    budget: float, uncounted: int, durations: list[float]
) -> None:
    now = FakeTime()
    clock = BudgetClock(budget, uncounted, now=now)
    steps = run_steps(clock, now, durations)
    counted = durations[uncounted:steps]
    assert clock.training_seconds == pytest.approx(sum(counted))
    assert clock.warmup_seconds == pytest.approx(sum(durations[: min(uncounted, steps)]))
    if steps < len(durations):  # it stopped: budget reached, and only just
        assert clock.training_seconds >= budget
        assert sum(counted[:-1]) < budget + 1e-9  # (float rounding of the clock readings)
