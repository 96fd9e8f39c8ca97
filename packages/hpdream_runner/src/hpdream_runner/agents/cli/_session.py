"""Running a coding-agent CLI for a whole agent run: launch, watch, relaunch, stop.

:class:`CliSession` starts the CLI in the workspace with the protocol as its
prompt and an environment built from nothing, reads its event stream on a
thread (every event goes to the session transcript, redacted), counts
tokens, turns and cost, and enforces the run's limits. When the CLI exits
before the run is over it is relaunched — resuming the same session where
the CLI allows — and each relaunch is recorded. A CLI that hangs is stopped
at its step or run limit: SIGTERM to its whole process group, SIGKILL after
a grace period.

The orchestrator, which runs the experiments the agent asks for (through
the workspace's ``run_experiment``), calls :meth:`CliSession.begin_experiment`
when a request arrives — it returns the usage, agent time and transcript
events since the previous experiment, to be written with that experiment's
row — and :meth:`CliSession.end_experiment` when the row is logged.
:meth:`CliSession.stop` ends the run from outside (e.g. the study's
experiment budget is spent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from hpdream_runner.agents.cli._adapters import CliAdapter
from hpdream_runner.agents.cli._events import StreamParser
from hpdream_runner.agents.containment import agent_environment
from hpdream_runner.agents.limits import LimitReached, LimitTracker, RunLimits
from hpdream_runner.agents.pricing import PriceTable
from hpdream_runner.agents.redact import Redactor
from hpdream_runner.agents.transcript import TranscriptEvent, TranscriptWriter, Usage

#: How often the watcher checks limits and the process (seconds).
POLL_SECONDS = 0.05
#: Relaunch delays double after each idle launch, up to this.
MAX_RELAUNCH_DELAY = 300.0
#: Bytes of stderr kept in the transcript when a launch ends.
STDERR_TAIL = 4000


@attrs.frozen
class StepRecord:
    """What the agent did between two experiments."""

    usage: Usage
    agent_seconds: float
    events: tuple[TranscriptEvent, ...]
    turns: int


@attrs.frozen
class Launch:
    """One start of the CLI process."""

    number: int
    resumed: bool
    session_id: str | None
    seconds: float
    exit_code: int | None
    experiments: int
    end: str  # "exited", "stopped", "limit"
    error: str | None = None


@attrs.frozen
class SessionOutcome:
    """How the agent run ended."""

    reason: str
    limit: LimitReached | None
    launches: tuple[Launch, ...]
    usage: Usage
    unattributed: Usage
    session_id: str | None
    experiments: int

    @property
    def relaunches(self) -> int:
        return max(0, len(self.launches) - 1)


class CliSession:
    """One agent run of a CLI adapter in one workspace.

    ``home`` is the agent's private HOME (outside the workspace: the CLI keeps
    its session files there, which is what makes resuming work); ``key`` its
    API key (None for a CLI logged in some other way); ``run_command`` the
    workspace's command for running an experiment (fills ``{run_experiment}``
    in permission lists). ``environ`` is the harness environment the key and
    PATH are read from (default ``os.environ``); ``clock`` and ``sleep`` are
    injectable for tests.
    """

    def __init__(
        self,
        adapter: CliAdapter,
        *,
        workspace: str | Path,
        home: str | Path,
        prompt: str,
        run_command: str,
        limits: RunLimits | None = None,
        prices: PriceTable | None = None,
        key: str | None = None,
        transcript: TranscriptWriter | None = None,
        redactor: Redactor | None = None,
        environ: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        session_id: str | None = None,
        on_session_id: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self.workspace = Path(workspace)
        self.home = Path(home)
        self.prompt = prompt
        self.run_command = run_command
        self.prices = prices or PriceTable.default()
        self.key = key
        self.redactor = redactor or Redactor()
        self.redactor.add(key)
        self.transcript = transcript
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        self.tracker = LimitTracker(limits or RunLimits(), clock=clock)

        self._lock = threading.Lock()
        self._events: list[TranscriptEvent] = []
        self._pending = Usage()
        self._step_turns = 0
        self._total = Usage()
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._in_experiment = False
        self._experiments = 0
        self._launch_experiments = 0
        self._launches: list[Launch] = []
        self.session_id: str | None = session_id
        self._resume_first = session_id is not None
        self._on_session_id = on_session_id
        self._extra_env = dict(extra_env or {})
        self._proc: subprocess.Popen[str] | None = None

    # -- called by the orchestrator -------------------------------------------------------

    def begin_experiment(self) -> StepRecord:
        """The agent asked for an experiment: hand over its step, pause its step clock."""
        self.tracker.pause()
        with self._lock:
            record = StepRecord(
                usage=self._pending,
                agent_seconds=self.tracker.step_seconds(),
                events=tuple(self._events),
                turns=self._step_turns,
            )
            self._events = []
            self._pending = Usage()
            self._step_turns = 0
            self._in_experiment = True
            self._experiments += 1
            self._launch_experiments += 1
        return record

    def end_experiment(self, summary: Mapping[str, Any] | None = None) -> None:
        """The experiment's row is logged: the agent's next step starts."""
        self._record(TranscriptEvent("experiment", data=dict(summary or {})))
        with self._lock:
            self._in_experiment = False
        self.tracker.resume(new_step=True)

    def stop(self, reason: str) -> None:
        """End the run from outside; the CLI is stopped and not relaunched."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
        self._stop.set()

    @property
    def experiments(self) -> int:
        return self._experiments

    # -- recording ------------------------------------------------------------------------

    def _record(self, event: TranscriptEvent, usage: Usage | None = None) -> None:
        if self.transcript is not None:
            self.transcript.write(event)
        with self._lock:
            self._events.append(event)
            if usage is not None and not usage.is_empty:
                self._pending = self._pending + usage
                self._total = self._total + usage
                self._step_turns += usage.turns
        if usage is not None and not usage.is_empty:
            self.tracker.add(usage)

    def _pricer(self, model: str | None, usage: Usage) -> Usage:
        return self.prices.priced(model or self.adapter.model, usage)

    # -- the run --------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        keys = self.adapter.agent_keys(self.key) if self.key else {}
        return agent_environment(
            home=self.home,
            keys=keys,
            extra={**self.adapter.adapter_env(), **self.adapter.options["env"], **self._extra_env},
            inherit=self._environ,
        )

    def run(self) -> SessionOutcome:
        """Launch, watch and relaunch the CLI until a limit, a stop, or the agent gives up."""
        opts = self.adapter.options
        exe = self.adapter.resolve_executable(self._environ.get("PATH"))
        if exe is None:
            return self._outcome(
                f"agent_failed: executable {self.adapter.executable!r} not found", None
            )
        self.home.mkdir(parents=True, exist_ok=True)
        idle = 0
        relaunch: dict[str, Any] | None = None
        limit: LimitReached | None = None
        reason: str | None = None
        while True:
            limit = self.tracker.check()
            if limit is not None:
                reason = limit.reason
                break
            if self._stop.is_set():
                reason = f"stopped: {self._stop_reason}"
                break
            number = len(self._launches)
            if number > opts["max_relaunches"]:
                reason = f"max_relaunches: {opts['max_relaunches']} relaunches used"
                break
            resume_id = (
                self.session_id if (opts["resume"] and self.adapter.supports_resume) else None
            )
            if number == 0 and not (self._resume_first and resume_id):
                prompt = self.prompt
            elif resume_id:
                prompt = self.adapter.resume_prompt()
            else:
                prompt = self.prompt + "\n\n" + self.adapter.resume_prompt()
            if relaunch is not None:
                data = {**relaunch, "resume": resume_id is not None, "session_id": resume_id}
                self._record(TranscriptEvent("relaunch", data=data))
            launch, limit = self._launch(exe, number, prompt, resume_id)
            self._launches.append(launch)
            if limit is not None:
                reason = limit.reason
                break
            if launch.end == "stopped":
                reason = f"stopped: {self._stop_reason}"
                break
            if launch.resumed and launch.experiments == 0 and launch.exit_code not in (0, None):
                # the session could not be resumed (gone, corrupt): start a new one next time
                self.session_id = None
            if launch.experiments == 0:
                idle += 1
            else:
                idle = 0
            if idle >= opts["max_idle_launches"]:
                detail = f" (last error: {launch.error})" if launch.error else ""
                reason = (
                    f"agent_stalled: {idle} launches in a row ran no experiment, "
                    f"last exit code {launch.exit_code}{detail}"
                )
                break
            if len(self._launches) > opts["max_relaunches"]:
                reason = f"max_relaunches: {opts['max_relaunches']} relaunches used"
                break
            delay = (
                0.0
                if idle == 0
                else min(MAX_RELAUNCH_DELAY, opts["relaunch_delay"] * 2 ** (idle - 1))
            )
            left = self.tracker.seconds_left()
            if left is not None:
                delay = min(delay, left)
            if delay > 0 and self._stop.wait(delay):
                continue
            relaunch = {
                "launch": len(self._launches),
                "previous_exit_code": launch.exit_code,
                "previous_error": launch.error,
                "delay_seconds": round(delay, 3),
            }
        if limit is not None:
            self._record(TranscriptEvent("limit", text=limit.reason, data=attrs.asdict(limit)))
        return self._outcome(reason or "stopped", limit)

    def _outcome(self, reason: str, limit: LimitReached | None) -> SessionOutcome:
        with self._lock:
            return SessionOutcome(
                reason=reason,
                limit=limit,
                launches=tuple(self._launches),
                usage=self._total,
                unattributed=self._pending,
                session_id=self.session_id,
                experiments=self._experiments,
            )

    def _launch(
        self, exe: str, number: int, prompt: str, resume_id: str | None
    ) -> tuple[Launch, LimitReached | None]:
        argv = [
            exe,
            *self.adapter.command(
                prompt=prompt, session_id=resume_id, run_command=self.run_command
            ),
        ]
        parser = self.adapter.make_parser(self._pricer)
        stderr_path = self.home / f"stderr-{number}.txt"
        started = self._clock()
        with self._lock:
            self._launch_experiments = 0
        self._record(
            TranscriptEvent(
                "launch",
                data={
                    "launch": number,
                    "argv": [argv[0], *(a if a != prompt else "<prompt>" for a in argv[1:])],
                    "resume": resume_id,
                    "cwd": str(self.workspace),
                },
            )
        )
        self._record(TranscriptEvent("prompt", role="user", text=prompt))
        with stderr_path.open("w", encoding="utf-8") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=self.workspace,
                    env=self._environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    bufsize=1,
                    start_new_session=True,
                )
            except OSError as exc:
                message = f"cannot start {argv[0]}: {exc.strerror or exc}"
                self._record(TranscriptEvent("error", text=message))
                return Launch(
                    number, resume_id is not None, self.session_id, 0.0, None, 0, "exited", message
                ), None
            self._proc = proc
            assert proc.stdout is not None
            reader = threading.Thread(
                target=self._read,
                args=(proc.stdout, parser),
                name=f"{self.adapter.name}-reader",
                daemon=True,
            )
            reader.start()
            end, limit = self._watch(proc)
            reader.join(timeout=10.0)
            if not reader.is_alive():
                proc.stdout.close()
        seconds = self._clock() - started
        # the CLI's stderr stays in its HOME (outside the workspace), redacted like the rest
        stderr_text = self.redactor.redact(
            stderr_path.read_text(encoding="utf-8", errors="replace")
        )
        stderr_path.write_text(stderr_text, encoding="utf-8")
        tail = stderr_text[-STDERR_TAIL:].strip()
        if tail:
            self._record(TranscriptEvent("stderr", text=tail))
        error = parser.errors[-1] if parser.errors else None
        if error is None and parser.end is not None and parser.end.is_error:
            error = parser.end.text or parser.end.subtype
        if error is None and proc.returncode not in (0, None) and end == "exited":
            error = tail.splitlines()[-1] if tail else f"exit code {proc.returncode}"
        self._record(
            TranscriptEvent(
                "exit",
                data={
                    "launch": number,
                    "exit_code": proc.returncode,
                    "end": end,
                    "seconds": round(seconds, 3),
                    "session_id": parser.session_id,
                    "reported": parser.end.usage.to_dict()
                    if parser.end and parser.end.usage
                    else None,
                },
            )
        )
        with self._lock:
            experiments = self._launch_experiments
        self._proc = None
        return (
            Launch(
                number=number,
                resumed=resume_id is not None,
                session_id=parser.session_id or self.session_id,
                seconds=seconds,
                exit_code=proc.returncode,
                experiments=experiments,
                end=end,
                error=None if error is None else self.redactor.redact(error),
            ),
            limit,
        )

    def _read(self, stream: IO[str], parser: StreamParser) -> None:
        for line in stream:
            parsed = parser.feed(line)
            if parser.session_id and parser.session_id != self.session_id:
                self.session_id = parser.session_id
                if self._on_session_id is not None:
                    self._on_session_id(parser.session_id)
            for i, event in enumerate(parsed.events):
                # the usage rides on the line's last event, so that it is counted once
                self._record(event, parsed.usage if i == len(parsed.events) - 1 else None)
            if not parsed.events and not parsed.usage.is_empty:
                self._record_usage_only(parsed.usage)
        tail = parser.finish()
        for event in tail.events:
            self._record(event)

    def _record_usage_only(self, usage: Usage) -> None:
        with self._lock:
            self._pending = self._pending + usage
            self._total = self._total + usage
            self._step_turns += usage.turns
        self.tracker.add(usage)

    def _watch(self, proc: subprocess.Popen[str]) -> tuple[str, LimitReached | None]:
        """Wait for the process to end; stop it at a limit or on request."""
        while True:
            try:
                proc.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            else:
                # what the agent left running (a background command) goes with it
                _kill_group(proc.pid)
                return "exited", None
            if self._stop.is_set():
                self._terminate(proc)
                return "stopped", None
            with self._lock:
                in_experiment = self._in_experiment
            limit = self.tracker.check()
            # an experiment in flight is the harness's time: only the run's wall clock
            # (and usage, which cannot grow meanwhile) can end the run then
            if limit is not None and (not in_experiment or limit.limit == "max_seconds"):
                self._terminate(proc)
                return "limit", limit

    def _terminate(self, proc: subprocess.Popen[str]) -> None:
        grace = self.adapter.options["kill_grace"]
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may hold children that outlived the leader (a shell's sleep)
        _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
