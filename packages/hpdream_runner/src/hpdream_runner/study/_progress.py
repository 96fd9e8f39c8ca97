"""Progress of a study: a live table on a terminal, plain lines elsewhere.

The orchestrator reports events (:class:`Progress` methods); a display turns
them into output. :class:`LiveProgress` redraws one line per run — experiments
done of the limit, best val_bpb so far, last status, elapsed time — in place,
once a second and on every event. :class:`LineProgress` prints one line per
event, for logs and pipes. :func:`make_progress` picks one by whether the
stream is a terminal.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Protocol

import attrs

from hpdream_core import Experiment


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@attrs.define
class RunView:
    """What the display knows about one run."""

    label: str
    run: int
    limit: int | None
    done: int = 0
    best: float | None = None
    last_status: str | None = None
    state: str = "waiting"  # waiting / running / training / finished / stopped
    reason: str | None = None
    elapsed_before: float = 0.0
    started: float | None = None

    def elapsed(self, now: float) -> float:
        return self.elapsed_before + (now - self.started if self.started is not None else 0.0)

    @property
    def name(self) -> str:
        return f"{self.label} run {self.run}"


class Progress(Protocol):
    """Events of a study, in order: start, then per run start / experiments / finish."""

    def study_started(self, study: str, output: str, runs: Iterable[RunView]) -> None: ...

    def run_started(self, view: RunView) -> None: ...

    def experiment_started(self, view: RunView, index: int, description: str) -> None: ...

    def experiment_done(self, view: RunView, experiment: Experiment) -> None: ...

    def run_finished(self, view: RunView) -> None: ...

    def study_finished(self, message: str) -> None: ...

    def close(self) -> None: ...


def _best(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _done(view: RunView) -> str:
    return f"{view.done}/{view.limit}" if view.limit is not None else str(view.done)


class LineProgress:
    """One plain line per event (for pipes, files, CI logs)."""

    def __init__(
        self, stream: IO[str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def study_started(self, study: str, output: str, runs: Iterable[RunView]) -> None:
        views = list(runs)
        self._print(f"study {study}: {len(views)} run(s), output in {output}")

    def run_started(self, view: RunView) -> None:
        resumed = f", resuming after {view.done} experiment(s)" if view.done else ""
        self._print(f"[{view.name}] started{resumed}")

    def experiment_started(self, view: RunView, index: int, description: str) -> None:
        self._print(f"[{view.name}] experiment {index}: {description.splitlines()[0][:100]}")

    def experiment_done(self, view: RunView, experiment: Experiment) -> None:
        result = (
            _best(experiment.val_bpb)
            if experiment.status != "crash"
            else (experiment.error or "crash")[:80]
        )
        self._print(
            f"[{view.name}] {_done(view)} {experiment.status:<7} {result}  "
            f"best {_best(view.best)}  {format_seconds(view.elapsed(self.clock()))}"
        )

    def run_finished(self, view: RunView) -> None:
        self._print(
            f"[{view.name}] {view.state}: {view.reason or ''} "
            f"({view.done} experiments, best {_best(view.best)}, {format_seconds(view.elapsed(self.clock()))})"
        )

    def study_finished(self, message: str) -> None:
        self._print(message)

    def close(self) -> None:
        return None


class LiveProgress:
    """A table redrawn in place on a terminal: one line per run, refreshed every second."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 1.0,
        tick: bool = True,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self.views: list[RunView] = []
        self.header = ""
        self.current: str = ""
        self._lines_drawn = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval
        self._thread: threading.Thread | None = None
        self._tick = tick

    def _line(self, view: RunView) -> str:
        status = view.last_status or "-"
        state = (
            view.state
            if view.state not in ("finished", "stopped")
            else f"{view.state}: {view.reason or ''}"
        )
        return (
            f"  {view.name:<28.28} {_done(view):>9}  best {_best(view.best):>9}  "
            f"last {status:<7}  {format_seconds(view.elapsed(self.clock())):>8}  {state}"
        )

    def render(self) -> list[str]:
        lines = [self.header] if self.header else []
        lines += [self._line(v) for v in self.views]
        if self.current:
            lines.append(f"  {self.current}")
        return lines

    def _draw(self) -> None:
        with self._lock:
            lines = self.render()
            out = []
            if self._lines_drawn:
                out.append(f"\x1b[{self._lines_drawn}F")  # to the start of the first line drawn
            for line in lines:
                out.append("\x1b[2K" + line + "\n")
            for _ in range(self._lines_drawn - len(lines)):
                out.append("\x1b[2K\n")
            self.stream.write("".join(out))
            self.stream.flush()
            self._lines_drawn = max(len(lines), self._lines_drawn)

    def _ticker(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()

    def study_started(self, study: str, output: str, runs: Iterable[RunView]) -> None:
        self.header = f"study {study} -> {output}"
        self.views = list(runs)
        self._draw()
        if self._tick and self._thread is None:
            self._thread = threading.Thread(
                target=self._ticker, name="hpdream-progress", daemon=True
            )
            self._thread.start()

    def run_started(self, view: RunView) -> None:
        self._draw()

    def experiment_started(self, view: RunView, index: int, description: str) -> None:
        self.current = f"{view.name}, experiment {index}: {description.splitlines()[0][:70]}"
        self._draw()

    def experiment_done(self, view: RunView, experiment: Experiment) -> None:
        self.current = ""
        self._draw()

    def run_finished(self, view: RunView) -> None:
        self.current = ""
        self._draw()

    def study_finished(self, message: str) -> None:
        self.close()
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
            self._draw()


def make_progress(
    stream: IO[str] | None = None, *, live: bool | None = None
) -> LiveProgress | LineProgress:
    """A live table when ``stream`` is a terminal (or ``live`` says so), plain lines otherwise."""
    s = stream if stream is not None else sys.stdout
    if live is None:
        isatty = getattr(s, "isatty", None)
        live = bool(isatty and isatty())
    return LiveProgress(s) if live else LineProgress(s)


class NullProgress:
    """No output (library use, tests)."""

    def study_started(self, study: str, output: str, runs: Iterable[RunView]) -> None:
        return None

    def run_started(self, view: RunView) -> None:
        return None

    def experiment_started(self, view: RunView, index: int, description: str) -> None:
        return None

    def experiment_done(self, view: RunView, experiment: Experiment) -> None:
        return None

    def run_finished(self, view: RunView) -> None:
        return None

    def study_finished(self, message: str) -> None:
        return None

    def close(self) -> None:
        return None
