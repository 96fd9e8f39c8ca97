"""Limits of one agent run: turns, tokens, cost, wall-clock, and per agent step.

A run ends cleanly at the first limit it reaches, with the reason recorded
(``LimitReached.reason``, e.g. ``"max_cost_usd: 10.02 >= 10"``). An *agent
step* is the agent's own time between two experiments (the time the harness
spends training does not count against it); a step limit is what stops a
CLI that hangs or an API agent that never gets to an experiment.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.agents.transcript import Usage

LIMIT_NAMES: Final = (
    "max_turns",
    "max_tokens",
    "max_cost_usd",
    "max_seconds",
    "max_step_seconds",
    "max_step_turns",
)


class LimitError(HpdreamError, ValueError):
    """A limits table is invalid."""


def _positive(name: str) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise LimitError(f"limit {name} must be a positive number or absent (got {value!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise LimitError(f"limit {name} must be finite (got {value!r})")

    return check


@attrs.frozen
class RunLimits:
    """Per-run limits; ``None`` means unlimited."""

    max_turns: int | None = attrs.field(default=None, validator=_positive("max_turns"))
    max_tokens: int | None = attrs.field(default=None, validator=_positive("max_tokens"))
    max_cost_usd: float | None = attrs.field(default=None, validator=_positive("max_cost_usd"))
    max_seconds: float | None = attrs.field(default=None, validator=_positive("max_seconds"))
    max_step_seconds: float | None = attrs.field(
        default=None, validator=_positive("max_step_seconds")
    )
    max_step_turns: int | None = attrs.field(default=None, validator=_positive("max_step_turns"))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "limits") -> RunLimits:
        unknown = set(data) - set(LIMIT_NAMES)
        if unknown:
            raise LimitError(
                f"{where}: unknown limits {sorted(unknown)} (known: {list(LIMIT_NAMES)})"
            )
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen
class LimitReached:
    """Which limit ended the run, and the figures."""

    limit: str
    value: float
    bound: float

    @property
    def reason(self) -> str:
        return f"{self.limit}: {_fmt(self.value)} >= {_fmt(self.bound)}"


def _fmt(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, float) and not float(x).is_integer() else str(int(x))


class LimitTracker:
    """Counts a run's usage and time against its limits; thread-safe.

    The clock is injectable (``time.monotonic`` by default). ``pause()`` /
    ``resume()`` bracket the harness's experiments, whose time counts against
    ``max_seconds`` but not against the agent's step.
    """

    def __init__(self, limits: RunLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self.usage = Usage()
        self._step_usage = Usage()
        self.started = clock()
        self._step_started = self.started
        self._step_spent = 0.0  # agent time in this step before the last pause
        self._paused = False

    def add(self, usage: Usage) -> None:
        with self._lock:
            self.usage = self.usage + usage
            self._step_usage = self._step_usage + usage

    def pause(self) -> None:
        """An experiment starts: the agent's step clock stops."""
        with self._lock:
            if not self._paused:
                self._step_spent += self._clock() - self._step_started
                self._paused = True

    def resume(self, *, new_step: bool = True) -> None:
        """The experiment is over: a new agent step starts (or the same one goes on)."""
        with self._lock:
            if new_step:
                self._step_spent = 0.0
                self._step_usage = Usage()
            self._step_started = self._clock()
            self._paused = False

    def step_seconds(self) -> float:
        with self._lock:
            return self._step_seconds_locked()

    def _step_seconds_locked(self) -> float:
        running = 0.0 if self._paused else self._clock() - self._step_started
        return self._step_spent + running

    def elapsed(self) -> float:
        return self._clock() - self.started

    def check(self) -> LimitReached | None:
        """The first limit reached, or None."""
        lim = self.limits
        with self._lock:
            u = self.usage
            checks: list[tuple[str, float | None, float]] = [
                ("max_turns", lim.max_turns, u.turns),
                ("max_tokens", lim.max_tokens, u.total_tokens),
                ("max_cost_usd", lim.max_cost_usd, u.cost_usd or 0.0),
                ("max_seconds", lim.max_seconds, self._clock() - self.started),
                ("max_step_seconds", lim.max_step_seconds, self._step_seconds_locked()),
                ("max_step_turns", lim.max_step_turns, self._step_usage.turns),
            ]
        for name, bound, value in checks:
            if bound is not None and value >= bound:
                return LimitReached(name, float(value), float(bound))
        return None

    def seconds_left(self) -> float | None:
        """Time until the first time limit, for waits that must not overrun it."""
        lim = self.limits
        left: list[float] = []
        if lim.max_seconds is not None:
            left.append(lim.max_seconds - self.elapsed())
        if lim.max_step_seconds is not None:
            left.append(lim.max_step_seconds - self.step_seconds())
        return max(0.0, min(left)) if left else None
