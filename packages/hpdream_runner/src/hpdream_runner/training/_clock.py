"""The training budget clock.

The budget is wall-clock training time, as in autoresearch, with the first
``uncounted_steps`` steps left out: they absorb ``torch.compile`` and the
allocator's warm-up. From the start of the first counted step the clock runs
without pause until the last step ends, so time spent between steps counts
too (work hidden between ``step_done`` and the next ``training()`` cannot
escape the budget). Training stops once the counted time reaches the budget,
never before the uncounted steps are done.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ClockError(RuntimeError):
    """The training loop used the clock out of order (a step begun twice, ended twice)."""


class BudgetClock:
    """Counts training time against a budget; ``now`` and ``sync`` are injectable for tests."""

    def __init__(
        self,
        budget_s: float,
        uncounted_steps: int,
        *,
        now: Callable[[], float] = time.perf_counter,
        sync: Callable[[], None] = lambda: None,
    ) -> None:
        if budget_s <= 0:
            raise ValueError(f"budget must be positive, got {budget_s}")
        if uncounted_steps < 0:
            raise ValueError(f"uncounted steps must be >= 0, got {uncounted_steps}")
        self.budget_s = float(budget_s)
        self.uncounted_steps = int(uncounted_steps)
        self._now, self._sync = now, sync
        self.steps_done = 0  # steps begun and ended
        self.warmup_seconds = 0.0  # time in the uncounted steps
        self.first_begin: float | None = None  # clock reading when step 0 began
        self.count_start: float | None = None  # clock reading when the first counted step began
        self.last_end: float | None = None  # clock reading when the latest step ended
        self._step_start: float | None = None
        self._stopped = False

    @property
    def in_step(self) -> bool:
        return self._step_start is not None

    @property
    def training_seconds(self) -> float:
        """Counted time: from the start of the first counted step to the end of the latest step."""
        if self.count_start is None or self.last_end is None or self.last_end < self.count_start:
            return 0.0
        return self.last_end - self.count_start

    @property
    def counted_steps(self) -> int:
        return max(0, self.steps_done - self.uncounted_steps)

    @property
    def progress(self) -> float:
        """Fraction of the budget used, 0 to 1."""
        return min(self.training_seconds / self.budget_s, 1.0)

    @property
    def remaining_seconds(self) -> float:
        return max(0.0, self.budget_s - self.training_seconds)

    @property
    def done(self) -> bool:
        """True once the warm-up is over and the counted time has reached the budget."""
        return self._stopped or (
            self.steps_done >= self.uncounted_steps and self.training_seconds >= self.budget_s
        )

    def begin(self) -> bool:
        """Start a step; False (and no step) once the budget is spent."""
        if self._step_start is not None:
            raise ClockError("a new step began before the previous one ended (call step_done)")
        if self.done:
            self._stopped = True
            return False
        self._sync()
        t = self._now()
        if self.first_begin is None:
            self.first_begin = t
        if self.steps_done == self.uncounted_steps and self.count_start is None:
            self.count_start = t
        self._step_start = t
        return True

    def end(self) -> float:
        """End the current step; returns its duration in seconds."""
        if self._step_start is None:
            raise ClockError("a step ended that had not begun (call run.training() first)")
        self._sync()
        t = self._now()
        dt = t - self._step_start
        if self.steps_done < self.uncounted_steps:
            self.warmup_seconds += dt
        self.last_end = t
        self.steps_done += 1
        self._step_start = None
        return dt
