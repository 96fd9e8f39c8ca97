"""The orchestrator: runs a study's agents, one run after another, and logs every experiment.

For each (agent, run) it opens the run's workspace (making it, or recovering
it after a kill), runs the unchanged baseline as experiment 0, then drives
the agent:

- a *stepwise* agent is asked for one change at a time
  (:meth:`~hpdream_runner.agents.StepwiseAgent.propose`), and each change is
  run;
- an *autonomous* agent runs on a worker thread while the orchestrator
  serves the experiments it asks for through the workspace's
  ``run_experiment`` (:mod:`hpdream_runner.study._server`).

Either way one function runs an experiment (:meth:`Study.run_experiment`):
commit train.py; check it (the run's guard); train it in a subprocess under
the harness's budget and time-out (the injected trainer); classify the
change; append one row to the CSV (flushed); keep (improved by more than
the keep rule's margin) or reset the workspace to the best commit. A crash,
an OOM, a NaN or a time-out is a ``crash`` row with the reason, and the run
goes on.

Ctrl-C or SIGTERM stops the study between two steps of an experiment: the
experiment in flight is not logged, its workspace is reset, and running the
study again resumes it (:mod:`hpdream_runner.study._resume`).
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, cast

import attrs

import hpdream_core
from hpdream_core import BASELINE, UNKNOWN, Experiment, HpdreamError, LogWriter, read_log
from hpdream_runner.agents._protocol import (
    AgentSession,
    Attempt,
    AutonomousAgent,
    ExperimentOutcome,
    Proposal,
    RunContext,
    RunEnd,
    StepContext,
    StepReport,
    StepwiseAgent,
    Stop,
)
from hpdream_runner.agents._registry import AgentSetup, create_agent
from hpdream_runner.agents.transcript import Usage
from hpdream_runner.study._config import (
    AgentConfig,
    StudyConfig,
    compare_fingerprints,
)
from hpdream_runner.study._layout import Layout
from hpdream_runner.study._meta import (
    META_FORMAT_VERSION,
    hardware,
    preset_info,
    render_program,
    versions,
    write_json,
)
from hpdream_runner.study._progress import NullProgress, Progress, RunView
from hpdream_runner.study._resume import (
    RunState,
    group_rows,
    log_table,
    open_run,
    result_message,
)
from hpdream_runner.study._run_experiment import EXIT_CRASH, EXIT_OK, EXIT_OVER
from hpdream_runner.study._server import ExperimentServer, Request, socket_path_for
from hpdream_runner.study._trainer import SyntheticTrainer, Trainer, TrainOutcome, real_trainer
from hpdream_runner.study._workspace import (
    HARNESS_FILES,
    PROGRAM_MD,
    RUN_EXPERIMENT,
    Workspace,
    WorkspaceError,
    diff_sources,
)
from hpdream_runner.training._spec import read_json

#: Lines of training output shown to the agent after a crash.
CRASH_TAIL_LINES = 30


class StudyError(HpdreamError):
    """A study cannot run (locked by another process, no baseline train.py, files that disagree)."""


class Interrupted(KeyboardInterrupt):
    """The study was stopped by Ctrl-C or SIGTERM; running it again resumes it."""


# --- injectable parts -----------------------------------------------------------------


class Classifier(Protocol):
    def __call__(
        self,
        description: str,
        *,
        hypothesis: str | None = None,
        old_code: str | None = None,
        new_code: str | None = None,
    ) -> Any: ...


def default_classifier() -> Classifier | None:
    """``hpdream_core.classify`` when the core package has it."""
    return getattr(hpdream_core, "classify", None)


@attrs.frozen
class GuardContext:
    """What a run guard is told about the run it watches."""

    study: str
    label: str
    run: int
    workspace: Path
    log_path: Path
    run_dir: Path
    harness_files: tuple[Path, ...]


class RunGuard(Protocol):
    """Checks made before each experiment of a run (containment).

    ``before_experiment`` returns the problems found (empty: the experiment
    may run); a problem makes the experiment a ``crash`` row whose error
    starts with ``violation:``. ``after_experiment`` is called once the
    harness has written the experiment's row and files.
    """

    def before_experiment(self, train_py: str) -> list[str]: ...

    def after_experiment(self) -> None: ...


GuardFactory = Callable[[GuardContext], RunGuard]


class TrainPyGuard:
    """The default guard: train.py must still use the harness's evaluation and budget.

    Uses ``hpdream_runner.training.check_train_py`` when the training package
    has it.
    """

    def __init__(self, check: Callable[[str], list[str]] | None) -> None:
        self.check = check

    def before_experiment(self, train_py: str) -> list[str]:
        if self.check is None:
            return []
        try:
            ast.parse(train_py)
        except SyntaxError:
            return []  # not a violation: the trainer fails it as an ordinary crash
        return list(self.check(train_py))

    def after_experiment(self) -> None:
        return None


def default_guard(context: GuardContext) -> RunGuard:
    try:
        from hpdream_runner.training import check_train_py
    except ImportError:
        return TrainPyGuard(None)
    # harness code, the experiments CSV and the workspace's harness files hashed, then
    # checked (and restored) before each experiment, with check_train_py
    from hpdream_runner.agents.containment import containment_guard

    def check(source: str) -> list[str]:
        # a train.py that does not parse is an ordinary crash (the trainer reports its
        # SyntaxError), not a breach of containment
        try:
            ast.parse(source)
        except SyntaxError:
            return []
        return list(check_train_py(source))

    return containment_guard(context, check_train_py=check)


# --- results --------------------------------------------------------------------------


@attrs.frozen
class RunSummary:
    """How one run stands (after :meth:`Study.run`, or read from the files by :func:`study_status`)."""

    label: str
    run: int
    experiments: int
    best_val_bpb: float | None
    state: str
    reason: str | None
    kept: int = 0
    crashed: int = 0


@attrs.frozen
class StudyResult:
    output: Path
    log_path: Path
    runs: tuple[RunSummary, ...]


@attrs.frozen
class ExperimentRecord:
    """An experiment the orchestrator ran: the row, and the text printed for the agent."""

    experiment: Experiment
    message: str
    last: bool


# --- the orchestrator -------------------------------------------------------------------


def _tail(path: Path | None, lines: int = CRASH_TAIL_LINES) -> str | None:
    if path is None:
        return None
    try:
        with Path(path).open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return "\n".join(data.splitlines()[-lines:]) or None


def _usage_columns(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {"input_tokens": None, "output_tokens": None, "cost_usd": None}
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost_usd,
    }


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _first_line(text: str | None, limit: int = 500) -> str | None:
    if not text:
        return None
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def baseline_source(config: StudyConfig) -> str:
    """The study's baseline train.py: ``training.train_py``, else the harness's for the preset."""
    if config.training.train_py is not None:
        return config.training.train_py.read_text(encoding="utf-8")
    try:
        from hpdream_runner.training import baseline_train_py
    except ImportError as exc:
        raise StudyError(
            f"no baseline train.py: the training package is not available ({exc}); "
            "give one with training.train_py in the study file"
        ) from None
    return str(baseline_train_py(config.training.preset))


class Study:
    """Runs a study (see the module docstring); every dependency is injectable.

    ``trainer``: see :mod:`hpdream_runner.study._trainer` (default: the
    study's ``training.trainer``: the real ``run_training``, or the
    synthetic one). ``classifier``: ``hpdream_core.classify`` by default
    (``None`` where core lacks it: rows get category ``unknown``).
    ``guard``: a :data:`GuardFactory` (default: :func:`default_guard`).
    ``make_agent``: :func:`~hpdream_runner.agents.create_agent` by default.
    ``stop_timeout``: seconds an autonomous agent's session gets to end after
    :meth:`~hpdream_runner.agents.AgentSession.stop` before it is left behind.
    """

    def __init__(
        self,
        config: StudyConfig,
        *,
        trainer: Trainer | None = None,
        classifier: Classifier | str | None = "default",
        guard: GuardFactory = default_guard,
        make_agent: Callable[[AgentSetup], Any] = create_agent,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        git: str = "git",
        handle_signals: bool = True,
        poll_seconds: float = 0.1,
        stop_timeout: float = 300.0,
    ) -> None:
        self.config = config
        self.layout = Layout(config.output)
        self._trainer = trainer
        self.trainer_kind = (
            config.training.trainer if trainer is None else f"injected ({type(trainer).__name__})"
        )
        self.classifier: Classifier | None = (
            default_classifier() if isinstance(classifier, str) else classifier
        )
        self.guard_factory = guard
        self.make_agent = make_agent
        self.progress: Progress = progress if progress is not None else NullProgress()
        self.clock = clock
        self.now = now
        self.git = git
        self.handle_signals = handle_signals
        self.poll_seconds = poll_seconds
        self.stop_timeout = stop_timeout
        self._interrupt: int | None = None
        self._warned = False
        self._writer: LogWriter | None = None
        self._baseline: str | None = None
        self._preset = preset_info(config.training.preset)

    # -- setup --------------------------------------------------------------------------

    @property
    def baseline(self) -> str:
        if self._baseline is None:
            self._baseline = baseline_source(self.config)
        return self._baseline

    @property
    def trainer(self) -> Trainer:
        if self._trainer is None:
            if self.config.training.trainer == "synthetic":
                self._trainer = cast(Trainer, SyntheticTrainer(self.baseline))
            else:
                self._trainer = real_trainer()
        return self._trainer

    def budget(self) -> tuple[float | None, float | None]:
        """(budget_s, grace_s) in force: the study's, else the preset's."""
        t = self.config.training
        preset = self._preset or {}
        budget = t.budget_s if t.budget_s is not None else _finite(preset.get("budget_s"))
        grace = t.grace_s if t.grace_s is not None else _finite(preset.get("grace_s"))
        return budget, grace

    def harness_files(self, agent: AgentConfig, run: int) -> dict[str, str]:
        """program.md and run_experiment for one workspace."""
        ws_path = self.layout.workspace(agent.label, run)
        budget, grace = self.budget()
        margin = self.config.keep
        eps = f"{margin.min_improvement:g}" + (" (relative)" if margin.relative else "")
        program = render_program(
            study=self.config.name,
            label=agent.label,
            run=run,
            budget_s=budget,
            grace_s=grace,
            device=self.config.training.device,
            run_command=f"./{RUN_EXPERIMENT}",
            min_improvement=eps,
            experiments=agent.experiments,
            hours=agent.hours,
        )
        client = (
            resources.files("hpdream_runner.study")
            .joinpath("_run_experiment.py")
            .read_text(encoding="utf-8")
        )
        client = client.replace(
            'SOCKET_PATH = ""', f"SOCKET_PATH = {json.dumps(str(socket_path_for(ws_path)))}", 1
        )
        script = f"#!{sys.executable}\n" + client
        return {PROGRAM_MD: program, RUN_EXPERIMENT: script}

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        f = self.layout.lock_path.open("a+")
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise StudyError(
                    f"{self.layout.root} is being run by {holder}; wait for it, or stop it first"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}\n")
            f.flush()
            yield
        finally:
            f.close()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: Any) -> None:
            first = self._interrupt is None
            self._interrupt = signum
            if first:
                raise Interrupted(f"stopped by signal {signum}")

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _check_interrupt(self) -> None:
        if self._interrupt is not None:
            raise Interrupted(f"stopped by signal {self._interrupt}")

    def _write_config(self) -> None:
        data = self.config.to_dict()
        data["fingerprint"] = self.config.fingerprint()
        data["baseline_sha256"] = _sha256(self.baseline)
        old = read_json(self.layout.config_path)
        if old is not None and "fingerprint" in old:
            new_fp = dict(data["fingerprint"])
            compare_fingerprints(old["fingerprint"], new_fp, self.layout.root)
            if old.get("baseline_sha256") not in (None, data["baseline_sha256"]):
                raise StudyError(
                    f"the baseline train.py differs from the one {self.layout.root} started with; "
                    "resume with the same one, or choose a new output folder"
                )
        data["versions"] = versions()
        write_json(self.layout.config_path, data)

    # -- running ------------------------------------------------------------------------

    def run(self) -> StudyResult:
        """Run (or resume) every run of the study; the summary of each."""
        with self._lock(), self._signals():
            self._write_config()
            writer = LogWriter(self.layout.log_path)
            self._writer = writer
            try:
                read = read_log(self.layout.log_path, strict=True)
                grouped = group_rows(read.experiments, self.config.name)
                views = {
                    (a.label, r): RunView(
                        a.label, r, a.experiments, done=len(grouped.get((a.label, r), []))
                    )
                    for a, r in self.config.runs
                }
                for (label, run), view in views.items():
                    rows = grouped.get((label, run), [])
                    kept = [e.val_bpb for e in rows if e.status == "keep" and e.val_bpb is not None]
                    view.best = kept[-1] if kept else None
                    view.last_status = rows[-1].status if rows else None
                self.progress.study_started(self.config.name, str(self.layout.root), views.values())
                summaries = []
                for agent, run in self.config.runs:
                    view = views[(agent.label, run)]
                    summaries.append(
                        self._run_one(agent, run, grouped.get((agent.label, run), []), view)
                    )
                result = StudyResult(self.layout.root, self.layout.log_path, tuple(summaries))
                self.progress.study_finished(
                    f"study {self.config.name} done; the log is {self.layout.log_path}"
                )
                return result
            finally:
                writer.close()
                self._writer = None
                self.progress.close()

    def _finished(self, agent: AgentConfig, state: RunState) -> str | None:
        """Why the run is over (None: it may go on)."""
        if agent.experiments is not None and state.next_index >= agent.experiments:
            return f"experiments: {state.next_index} of {agent.experiments} done"
        if agent.hours is not None:
            limit, elapsed = agent.hours * 3600, self._elapsed(state)
            if elapsed >= limit:
                return f"hours: {elapsed / 3600:.3g} of {agent.hours:g} used"
            cycle = expected_cycle(state.rows)
            if elapsed + cycle > limit:
                return (
                    f"hours: {elapsed / 3600:.3g} of {agent.hours:g} used, "
                    f"too little left for another experiment (~{cycle:.0f} s)"
                )
        if (
            agent.max_crashes_in_a_row is not None
            and state.crashes_in_a_row >= agent.max_crashes_in_a_row
        ):
            return f"max_crashes_in_a_row: {state.crashes_in_a_row} crashes in a row"
        return None

    def _elapsed(self, state: RunState) -> float:
        started = state.meta.get("_started_monotonic")
        since = self.clock() - started if isinstance(started, float) else 0.0
        return state.elapsed_before + since

    def _run_meta(self, agent: AgentConfig, rs: RunState, **changes: Any) -> None:
        meta = rs.meta
        meta.update(changes)
        best = rs.best
        public: dict[str, Any] = {
            "format_version": META_FORMAT_VERSION,
            "study": self.config.name,
            "label": agent.label,
            "adapter": agent.adapter,
            "options": dict(agent.options),
            "limits": {
                "experiments": agent.experiments,
                "hours": agent.hours,
                "max_crashes_in_a_row": agent.max_crashes_in_a_row,
                **dict(agent.limits),
            },
            "run": rs.run,
            "seed": self.config.run_seed(agent.label, rs.run),
            "trainer": self.trainer_kind,
            "preset": self.config.training.preset,
            "preset_settings": self._preset,
            "dataset": self.config.training.dataset,
            "budget_s": self.budget()[0],
            "grace_s": self.budget()[1],
            "experiments": rs.next_index,
            "best_val_bpb": None if best is None else best.val_bpb,
            "best_index": None if best is None else best.index,
            "best_commit": rs.best_commit,
            "elapsed_s": round(self._elapsed(rs), 3),
            "workspace": str(self.layout.workspace(agent.label, rs.run)),
            "updated_at": self.now().isoformat(),
        }
        public.update({k: v for k, v in meta.items() if not k.startswith("_")})
        write_json(self.layout.run_meta(agent.label, rs.run), public)

    def _run_one(
        self, agent: AgentConfig, run: int, rows: list[Experiment], view: RunView
    ) -> RunSummary:
        margin = self.config.keep.min_improvement
        ws, state = open_run(
            self.layout,
            agent.label,
            run,
            rows,
            baseline_source=self.baseline,
            harness_files=self.harness_files(agent, run),
            margin=margin,
            git=self.git,
        )
        previous_end = state.meta.get("end_kind")
        if previous_end in ("agent", "crashes") and rows:
            view.state, view.reason = "finished", str(state.meta.get("reason"))
            self.progress.run_finished(view)
            return self._summary(state, "finished", view.reason)
        view.done = state.next_index
        view.elapsed_before = state.elapsed_before
        reason = self._finished(agent, state)
        if reason is not None:
            view.state, view.reason = "finished", reason
            self.progress.run_finished(view)
            if state.meta.get("state") != "finished":
                self._run_meta(agent, state, state="finished", reason=reason, end_kind="limit")
            return self._summary(state, "finished", reason)

        state.meta["_started_monotonic"] = self.clock()
        view.started = self.clock()
        view.state = "running"
        state.meta.setdefault("started_at", self.now().isoformat())
        state.meta["versions"] = versions()
        state.meta["hardware"] = hardware()
        state.meta.setdefault("sessions", [])
        sessions = state.meta["sessions"]
        assert isinstance(sessions, list)
        sessions.append({"started_at": self.now().isoformat(), "from_experiment": state.next_index})
        self._run_meta(agent, state, state="running", reason=None, end_kind=None)
        self.progress.run_started(view)
        guard = self.guard_factory(
            GuardContext(
                study=self.config.name,
                label=agent.label,
                run=run,
                workspace=ws.path,
                log_path=self.layout.log_path,
                run_dir=self.layout.run_dir(agent.label, run),
                harness_files=tuple(ws.path / n for n in HARNESS_FILES),
            )
        )
        try:
            if state.next_index == 0:
                self.run_experiment(agent, ws, state, view, guard, "baseline", None)
            end_kind, reason = "limit", self._finished(agent, state)
            if reason is None:
                setup = AgentSetup(
                    label=agent.label,
                    adapter=agent.adapter,
                    options=dict(agent.options),
                    limits=dict(agent.limits),
                    seed=self.config.run_seed(agent.label, run),
                    run=run,
                    base_dir=self.config.base_dir,
                    study_dir=self.layout.root,
                    study=self.config.name,
                )
                try:
                    agent_obj = self.make_agent(setup)
                    if getattr(agent_obj, "mode", None) == "autonomous":
                        end_kind, reason = self._drive_autonomous(
                            agent, agent_obj, ws, state, view, guard
                        )
                    else:
                        end_kind, reason = self._drive_stepwise(
                            agent, agent_obj, ws, state, view, guard
                        )
                except (HpdreamError, WorkspaceError) as exc:
                    if isinstance(exc, StudyError):
                        raise
                    end_kind, reason = "error", f"{type(exc).__name__}: {exc}"
        except KeyboardInterrupt:
            with contextlib.suppress(WorkspaceError):
                ws.reset(state.best_commit)
            view.state, view.reason = "stopped", "interrupted"
            self._run_meta(
                agent,
                state,
                state="interrupted",
                reason="interrupted (resume by running the study again)",
                end_kind="interrupted",
            )
            self.progress.run_finished(view)
            raise
        state_word = "finished" if end_kind != "error" else "stopped"
        view.state, view.reason = state_word, reason
        self._run_meta(
            agent,
            state,
            state=state_word,
            reason=reason,
            end_kind=end_kind,
            ended_at=self.now().isoformat(),
        )
        self.progress.run_finished(view)
        return self._summary(state, state_word, reason)

    @staticmethod
    def _summary(state: RunState, word: str, reason: str | None) -> RunSummary:
        return RunSummary(
            label=state.label,
            run=state.run,
            experiments=state.next_index,
            best_val_bpb=None if state.best is None else state.best.val_bpb,
            state=word,
            reason=reason,
            kept=sum(1 for r in state.rows if r.status == "keep"),
            crashed=sum(1 for r in state.rows if r.status == "crash"),
        )

    # -- stepwise -----------------------------------------------------------------------

    def _drive_stepwise(
        self,
        agent: AgentConfig,
        agent_obj: StepwiseAgent,
        ws: Workspace,
        state: RunState,
        view: RunView,
        guard: RunGuard,
    ) -> tuple[str, str]:
        program = (
            (ws.path / PROGRAM_MD).read_text(encoding="utf-8")
            if (ws.path / PROGRAM_MD).is_file()
            else ""
        )
        while True:
            reason = self._finished(agent, state)
            if reason is not None:
                return ("crashes" if reason.startswith("max_crashes") else "limit"), reason
            self._check_interrupt()
            left = None if agent.experiments is None else agent.experiments - state.next_index
            seconds_left = (
                None if agent.hours is None else agent.hours * 3600 - self._elapsed(state)
            )
            context = StepContext(
                study=self.config.name,
                label=agent.label,
                run=state.run,
                index=state.next_index,
                train_py=state.best_source,
                baseline_train_py=state.baseline_source,
                history=tuple(state.history),
                workspace=ws.path,
                seed=self.config.run_seed(agent.label, state.run),
                experiments_left=left,
                seconds_left=seconds_left,
                protocol=program,
            )
            t0 = self.clock()
            answer = agent_obj.propose(context)
            spent = self.clock() - t0
            if isinstance(answer, Stop):
                return "agent", answer.reason
            if not isinstance(answer, Proposal):
                raise StudyError(
                    f"agent {agent.label!r} returned {answer!r}, not a Proposal or a Stop"
                )
            if answer.train_py is not None:
                ws.write_train_py(answer.train_py)
            seconds = answer.agent_seconds if answer.agent_seconds is not None else spent
            self.run_experiment(
                agent,
                ws,
                state,
                view,
                guard,
                answer.description,
                answer.hypothesis,
                answer.usage,
                seconds,
            )

    # -- autonomous ---------------------------------------------------------------------

    def _drive_autonomous(
        self,
        agent: AgentConfig,
        agent_obj: AutonomousAgent,
        ws: Workspace,
        state: RunState,
        view: RunView,
        guard: RunGuard,
    ) -> tuple[str, str]:
        layout = self.layout
        home = layout.home(agent.label, state.run)
        home.mkdir(parents=True, exist_ok=True)
        sock = socket_path_for(ws.path)
        budget_left = None if agent.experiments is None else agent.experiments - state.next_index
        context = RunContext(
            study=self.config.name,
            label=agent.label,
            run=state.run,
            workspace=ws.path,
            prompt=(ws.path / PROGRAM_MD).read_text(encoding="utf-8"),
            run_command=f"./{RUN_EXPERIMENT}",
            env={"HPDREAM_RUN_SOCKET": str(sock)},
            home=home,
            run_dir=layout.run_dir(agent.label, state.run),
            transcript_path=layout.transcript(agent.label, state.run),
            log_path=layout.log_path,
            history=tuple(state.history),
            resumed=state.next_index > 1,
            limits=dict(agent.limits),
            experiments_left=budget_left,
            seconds_left=None if agent.hours is None else agent.hours * 3600 - self._elapsed(state),
            seed=self.config.run_seed(agent.label, state.run),
        )
        session: AgentSession = agent_obj.start(context)
        ended: list[RunEnd] = []
        failed: list[BaseException] = []

        def work() -> None:
            try:
                ended.append(session.run())
            except BaseException as exc:  # reported on the main thread
                failed.append(exc)

        stop_reason: str | None = None
        with ExperimentServer(sock) as server:
            worker = threading.Thread(
                target=work, name=f"agent-{agent.label}-{state.run}", daemon=True
            )
            worker.start()
            stopped_at: float | None = None
            try:
                while worker.is_alive():
                    self._check_interrupt()
                    if stop_reason is None:
                        stop_reason = self._finished(agent, state)
                        if stop_reason is not None:
                            session.stop(stop_reason)
                            stopped_at = self.clock()
                    elif stopped_at is not None and self.clock() - stopped_at > self.stop_timeout:
                        self._warn(
                            state,
                            f"the agent's session did not end within {self.stop_timeout:g} s "
                            "of being stopped; it was left behind",
                        )
                        break
                    request = server.next_request(self.poll_seconds)
                    if request is not None:
                        self._serve(agent, ws, state, view, guard, session, request, stop_reason)
                worker.join(timeout=0 if worker.is_alive() else None)
            except BaseException:
                session.stop("interrupted")
                worker.join(timeout=30)
                raise
        if failed:
            raise failed[0]
        end = ended[0] if ended else RunEnd("the agent's session ended")
        if stop_reason is not None:
            return ("crashes" if stop_reason.startswith("max_crashes") else "limit"), stop_reason
        return ("error" if end.error else "agent"), (
            end.reason if not end.error else f"{end.reason}: {end.error}"
        )

    def _serve(
        self,
        agent: AgentConfig,
        ws: Workspace,
        state: RunState,
        view: RunView,
        guard: RunGuard,
        session: AgentSession,
        request: Request,
        stop_reason: str | None,
    ) -> None:
        if request.op == "log":
            request.finish(log_table(state.rows), EXIT_OK)
            return
        if stop_reason is not None:
            request.finish(
                f"run_experiment: this run is over ({stop_reason}). Stop now.", EXIT_OVER
            )
            return
        report: StepReport = session.begin_experiment()
        request.send(
            "accepted",
            f"experiment {state.next_index}: training (this takes a while)...",
            index=state.next_index,
        )
        record = self.run_experiment(
            agent,
            ws,
            state,
            view,
            guard,
            request.description or "",
            request.hypothesis,
            report.usage,
            report.agent_seconds,
        )
        exit_code = EXIT_CRASH if record.experiment.status == "crash" else EXIT_OK
        session.end_experiment(ExperimentOutcome(record.experiment, record.message, record.last))
        request.finish(record.message, exit_code, status=record.experiment.status)

    # -- one experiment -----------------------------------------------------------------

    def run_experiment(
        self,
        agent: AgentConfig,
        ws: Workspace,
        state: RunState,
        view: RunView,
        guard: RunGuard,
        description: str,
        hypothesis: str | None,
        usage: Usage | None = None,
        agent_seconds: float | None = None,
    ) -> ExperimentRecord:
        """Commit, check, train, classify, log, keep or reset: one experiment, whoever asked for it."""
        assert self._writer is not None, "run_experiment is called inside Study.run"
        index = state.next_index
        t0 = self.clock()
        self.progress.experiment_started(view, index, description)
        exp_dir = self.layout.experiment_dir(agent.label, state.run, index)
        parts = _Parts()
        try:
            exp_dir.mkdir(parents=True, exist_ok=True)
            try:
                source_text = ws.read_train_py()
                problems = []
            except WorkspaceError as exc:
                # train.py deleted or unreadable: log the attempt against the best version
                problems = [str(exc)]
                source_text = state.best_source
                ws.write_train_py(source_text)
            commit = ws.commit_experiment(index, description, hypothesis)
            parts.lap("commit")
            problems = problems or list(guard.before_experiment(source_text))
            parts.lap("guard")
            (exp_dir / "train.py").write_text(source_text, encoding="utf-8")
            diff = diff_sources(state.best_source, source_text)
            (exp_dir / "diff.patch").write_text(diff.text, encoding="utf-8")
            parts.lap("files")
            started_at = self.now()
            result: TrainOutcome | None = None
            error: str | None
            if problems:
                error = "violation: " + "; ".join(problems)
                self._warn_harness_changed(state, problems)
            else:
                budget_kwargs = self.config.training.run_kwargs()
                try:
                    result = self.trainer(exp_dir / "train.py", out_dir=exp_dir, **budget_kwargs)
                except HpdreamError as exc:
                    # a request the trainer refuses (unknown preset, missing data, no such
                    # device) fails every experiment alike: stop the study and say why
                    raise StudyError(f"training cannot run ({type(exc).__name__}): {exc}") from exc
                parts.lap("train")
                self._check_interrupt()
                error = None if result.ok else (result.error or "training failed (no reason given)")
            val = _finite(result.val_bpb) if result is not None and result.ok else None
            if result is not None and result.ok and (val is None or val <= 0):
                error = f"no usable val_bpb ({result.val_bpb!r})"
                val = None
            label_fields, classify_error = self._classify(
                index, description, hypothesis, state.best_source, source_text
            )
            parts.lap("classify")
            best_val = None if state.best is None else state.best.val_bpb
            if error is not None or val is None:
                status = "crash"
            elif self.config.keep.improves(val, best_val):
                status = "keep"
            else:
                status = "discard"
            peak = _finite(getattr(result, "peak_vram_mb", None)) if result is not None else None
            total = self.clock() - t0
            row = Experiment.from_values(
                {
                    "study": self.config.name,
                    "agent": agent.label,
                    "run": state.run,
                    "index": index,
                    "started_at": started_at,
                    "status": status,
                    "val_bpb": val if status != "crash" else None,
                    "memory_gb": None if peak is None else round(peak / 1024, 4),
                    "training_seconds": _nonneg(getattr(result, "training_seconds", None)),
                    "total_seconds": round(total, 3),
                    "num_params_m": _nonneg(getattr(result, "num_params_m", None)),
                    **label_fields,
                    "description": description,
                    "hypothesis": hypothesis,
                    "commit": commit,
                    "diff_added": diff.added,
                    "diff_removed": diff.removed,
                    "agent_seconds": None
                    if agent_seconds is None
                    else round(max(0.0, agent_seconds), 3),
                    **_usage_columns(usage),
                    "error": _first_line(error),
                }
            )
            best_before = state.best
            tail = (
                _tail(getattr(result, "output_path", None))
                if status == "crash" and result
                else None
            )
            after = attrs.evolve(state, rows=[*state.rows, row])
            last = self._finished(agent, after) is not None
            margin = (
                self.config.keep.margin(best_before.val_bpb)
                if best_before and best_before.val_bpb
                else 0.0
            )
            message = result_message(
                row, best_before, margin=margin, done=index + 1, limit=agent.experiments, tail=tail
            )
            if last:
                message += "\nThis run's limits are reached: stop now."
            # the experiment's files are complete before its row exists (a kill in between
            # leaves files without a row, which a resume removes, never a row without files)
            write_json(
                exp_dir / "experiment.json",
                {
                    "format_version": META_FORMAT_VERSION,
                    "row": {
                        k: (v.isoformat() if isinstance(v, datetime) else v)
                        for k, v in row.to_values().items()
                    },
                    "message": message,
                    "classify_error": classify_error,
                    "violations": problems,
                    "trainer_summary": getattr(result, "summary", None),
                    "output_path": _str(getattr(result, "output_path", None)),
                    "summary_path": _str(getattr(result, "summary_path", None)),
                    "num_steps": getattr(result, "num_steps", None),
                    "harness_seconds": parts.seconds,
                },
            )
            self._check_interrupt()
            moved_aside = len(self._writer.replaced)
            self._writer.append(row)  # the commit point: from here on the experiment happened
        except BaseException:
            with contextlib.suppress(WorkspaceError):
                ws.reset(state.best_commit)
            raise
        for aside in self._writer.replaced[moved_aside:]:
            self._warn(
                state,
                f"experiment {index}: another file had replaced the log; the harness's rows "
                f"were put back and that file kept as {aside}",
            )
        guard.after_experiment()
        if classify_error is not None:
            self._warn(
                state,
                f"experiment {index}: the classifier failed ({classify_error}); category unknown",
            )
        state.rows.append(row)
        if status == "keep":
            state.best = row
            state.best_commit = commit
            state.best_source = source_text
        ws.reset(state.best_commit)
        state.history.append(Attempt(row, source_text, message))
        view.done = state.next_index
        view.last_status = status
        view.best = None if state.best is None else state.best.val_bpb
        self._run_meta(agent, state)
        self.progress.experiment_done(view, row)
        return ExperimentRecord(row, message, last)

    def _warn_harness_changed(self, state: RunState, problems: list[str]) -> None:
        """Say once per run what to do when hpdream's own code or data changed under it."""
        changed = [
            p
            for p in problems
            if p.startswith(("harness_modified", "harness_missing", "harness_added"))
        ]
        warnings = state.meta.get("warnings")
        said = isinstance(warnings, list) and any(
            str(w).startswith("hpdream's own code or data") for w in warnings
        )
        if changed and not said:
            self._warn(
                state,
                "hpdream's own code or data changed while this run was going "
                f"({changed[0]}); its experiments fail as violations until the files are as "
                "they were. If you edited hpdream, stop the study, undo the edit and run it "
                "again (it resumes); do not edit hpdream while a study runs",
            )

    def _warn(self, state: RunState, message: str) -> None:
        """A problem that does not stop the run: kept in run.json, printed the first time."""
        warnings = state.meta.setdefault("warnings", [])
        assert isinstance(warnings, list)
        if not self._warned:
            print(f"hpdream: warning: {state.label} run {state.run}: {message}", file=sys.stderr)
            self._warned = True
        if len(warnings) < 50:
            warnings.append(message)

    def _classify(
        self, index: int, description: str, hypothesis: str | None, old: str, new: str
    ) -> tuple[dict[str, Any], str | None]:
        if index == 0:
            return {"category": BASELINE, "subcategory": None, "multi": False}, None
        if self.classifier is None:
            return {"category": UNKNOWN, "subcategory": None, "multi": False}, None
        try:
            label = self.classifier(description, hypothesis=hypothesis, old_code=old, new_code=new)
        except Exception as exc:
            # a label can be given again later from the row and its diff; an experiment that
            # trained for minutes cannot: log it as "unknown" with the reason in experiment.json
            # and in the run's warnings, and keep the study going
            return {
                "category": UNKNOWN,
                "subcategory": None,
                "multi": False,
            }, f"{type(exc).__name__}: {exc}"
        category = getattr(label, "category", None) or UNKNOWN
        subcategory = getattr(label, "subcategory", None) or None
        return {
            "category": category,
            "subcategory": subcategory,
            "multi": bool(getattr(label, "multi", False)),
        }, None


def expected_cycle(rows: list[Experiment]) -> float:
    """Seconds the next experiment of a run is expected to take, agent time included.

    The median over its experiments after the baseline (which may also have
    prepared the data), or the baseline's own time when it is the only one; 0
    before any. A run with an ``hours`` limit does not start an experiment
    that would not end within it.
    """
    timed = [r for r in rows if r.total_seconds is not None]
    later = [r for r in timed if r.index > 0] or timed
    spans = [(r.total_seconds or 0.0) + (r.agent_seconds or 0.0) for r in later]
    if not spans:
        return 0.0
    spans.sort()
    mid = len(spans) // 2
    return spans[mid] if len(spans) % 2 else (spans[mid - 1] + spans[mid]) / 2


class _Parts:
    """Wall seconds of the harness's steps of one experiment (written to experiment.json)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 6)
        self._last = now


def _nonneg(value: Any) -> float | None:
    v = _finite(value)
    return None if v is None or v < 0 else v


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- status ---------------------------------------------------------------------------


def study_status(output: str | Path) -> list[RunSummary]:
    """The runs of a study's output folder (those configured and those with files), from its
    log and run metadata, in the order the study runs them."""
    layout = Layout(Path(output))
    config = read_json(layout.config_path)
    if config is None:
        raise StudyError(f"{layout.root} is not a study's output folder (no readable study.json)")
    rows: list[Experiment] = []
    if layout.log_path.exists():
        rows = list(read_log(layout.log_path).experiments)
    grouped = group_rows(rows, str(config.get("name")))
    out = []
    keys: dict[tuple[str, int], None] = {}
    agents = [a for a in config.get("agents", []) if isinstance(a, dict)]
    most = max((int(a.get("replicates", 1)) for a in agents), default=0)
    for r in range(most):
        for a in agents:
            if r < int(a.get("replicates", 1)):
                keys[(str(a.get("label")), r)] = None
    found = set(grouped)
    runs_dir = layout.root / "runs"
    if runs_dir.is_dir():
        for label_dir in runs_dir.iterdir():
            for run_dir in label_dir.glob("run-*"):
                with contextlib.suppress(ValueError):
                    found.add((label_dir.name, int(run_dir.name.removeprefix("run-"))))
    keys.update(dict.fromkeys(sorted(found - set(keys))))
    for label, run in keys:
        items = grouped.get((label, run), [])
        meta: Mapping[str, Any] = read_json(layout.run_meta(label, run)) or {}
        kept = [e for e in items if e.status == "keep" and e.val_bpb is not None]
        out.append(
            RunSummary(
                label=label,
                run=run,
                experiments=len(items),
                best_val_bpb=kept[-1].val_bpb if kept else None,
                state=str(meta.get("state", "not started" if not items else "unknown")),
                reason=meta.get("reason") if isinstance(meta.get("reason"), str) else None,
                kept=len(kept),
                crashed=sum(1 for e in items if e.status == "crash"),
            )
        )
    return out


def recreate_agent(output: str | Path, label: str, run: int = 0) -> Any:
    """The agent of one run of a past study, re-created from its ``run.json`` (adapter, options, seed).

    For replaying or continuing a run elsewhere; the log's agent label and run
    name the run.
    """
    layout = Layout(Path(output))
    meta = read_json(layout.run_meta(label, run))
    config = read_json(layout.config_path) or {}
    if meta is None:
        raise StudyError(
            f"{layout.run_meta(label, run)} is missing or unreadable: no run {run} of {label!r} here"
        )
    base = config.get("source")
    setup = AgentSetup(
        label=label,
        adapter=str(meta["adapter"]),
        options=dict(meta.get("options") or {}),
        limits={
            k: v
            for k, v in (meta.get("limits") or {}).items()
            if k not in ("experiments", "hours", "max_crashes_in_a_row")
        },
        seed=int(meta.get("seed", 0)),
        run=run,
        base_dir=Path(base).parent if isinstance(base, str) else layout.root,
        study_dir=layout.root,
        study=str(meta.get("study", "")),
    )
    return create_agent(setup)
