"""The agent interface: what the study harness asks of an agent, and what it gets back.

Two modes, one narrow protocol each (one call, state in, result out):

``stepwise``
    The harness asks for one change at a time. :meth:`StepwiseAgent.propose`
    receives a :class:`StepContext` (the current best ``train.py``, the log so
    far with each experiment's ``train.py``, the workspace) and returns a
    :class:`Proposal` (the new ``train.py``, or ``None`` when the agent edited
    the workspace's file itself through its tools; a description; a
    hypothesis; its usage) or :class:`Stop`. The harness then runs the
    experiment and asks again. The built-in agents and the HTTP-API agents work
    this way.

``autonomous``
    The agent runs the research loop itself, as the seed study's coding-agent
    CLIs did. :meth:`AutonomousAgent.start` receives a :class:`RunContext` and
    returns an :class:`AgentSession`; the harness calls
    :meth:`AgentSession.run` on a worker thread and serves, meanwhile, the
    experiments the agent asks for through the workspace's ``run_experiment``
    command. When a request arrives the harness calls
    :meth:`AgentSession.begin_experiment` (tokens, cost and agent time since the
    previous experiment, which land in the row), and after the row is logged
    :meth:`AgentSession.end_experiment`. :meth:`AgentSession.stop` ends the run
    from outside (the run's experiment or time limit is reached, or the study
    is interrupted).

An ordinary failure of an agent is a value (:class:`Stop` with the reason, a
:class:`RunEnd` with ``error``); exceptions are for agents that cannot run at
all (a bad configuration, a missing executable).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import attrs

from hpdream_core import Experiment
from hpdream_runner.agents.transcript import Usage

Mode = Literal["stepwise", "autonomous"]
MODES: tuple[Mode, ...] = ("stepwise", "autonomous")


@attrs.frozen
class Attempt:
    """One experiment already in the log, with the ``train.py`` it trained.

    ``message`` is the text ``run_experiment`` printed for it (what an agent
    reading its terminal saw).
    """

    experiment: Experiment
    train_py: str | None
    message: str

    @property
    def index(self) -> int:
        return self.experiment.index

    @property
    def improved(self) -> bool:
        """Kept: it beat the best so far (the baseline counts as kept when it ran)."""
        return self.experiment.status == "keep"


@attrs.frozen
class StepContext:
    """What a stepwise agent is given when the harness asks for the next change.

    ``train_py`` is the workspace's ``train.py`` now (the best version so far:
    discarded changes were reset); ``history`` the experiments of this run in
    order, baseline first; ``index`` the index the next experiment will get;
    ``experiments_left`` how many the run may still do (``None``: no count
    limit); ``seconds_left`` its remaining wall-clock time (``None``: no time
    limit). ``workspace`` is the git repository the agent may edit (only
    ``train.py``); ``seed`` a seed for this (study, agent, run).
    """

    study: str
    label: str
    run: int
    index: int
    train_py: str
    baseline_train_py: str
    history: tuple[Attempt, ...]
    workspace: Path
    seed: int
    experiments_left: int | None = None
    seconds_left: float | None = None
    protocol: str = ""

    @property
    def best(self) -> Attempt | None:
        """The kept experiment with the lowest val_bpb, or ``None`` before any succeeded."""
        kept = [a for a in self.history if a.improved and a.experiment.val_bpb is not None]
        return min(kept, key=lambda a: a.experiment.val_bpb or 0.0) if kept else None

    @property
    def train_py_path(self) -> Path:
        return self.workspace / "train.py"


@attrs.frozen
class Proposal:
    """The next experiment a stepwise agent asks for.

    ``train_py``: the full new source of ``train.py``; ``None`` when the agent
    has already edited the workspace's ``train.py`` itself (tool-using agents).
    ``usage``: tokens and cost spent on this step (``None`` for agents that use
    no model). ``agent_seconds``: the agent's own time for this step; when
    ``None`` the harness uses the wall time of :meth:`StepwiseAgent.propose`.
    """

    description: str
    train_py: str | None = None
    hypothesis: str | None = None
    usage: Usage | None = None
    agent_seconds: float | None = None

    def __attrs_post_init__(self) -> None:
        if not self.description.strip():
            raise ValueError("a proposal needs a description of the change")


@attrs.frozen
class Stop:
    """A stepwise agent has nothing more to try (``reason`` is recorded in the run's metadata)."""

    reason: str
    usage: Usage | None = None


@attrs.frozen
class RunContext:
    """What an autonomous agent is given for one run.

    ``prompt``: the protocol (``program.md``) text; ``run_command``: the
    command, relative to the workspace, that runs an experiment (e.g.
    ``./run_experiment "what I changed" --hypothesis "why"``); ``env``:
    variables the agent's process must have for ``run_experiment`` to reach
    the harness (pass them through; they hold no secret); ``home``: a private
    folder outside the workspace for the agent's HOME and session files
    (kept between restarts of the study, which lets a CLI resume its
    session); ``run_dir``: the run's files (outside the workspace);
    ``transcript_path``: where the run's transcript goes; ``log_path``: the
    study's experiments CSV (outside the workspace; only the harness writes
    it). ``resumed`` is true when the study was restarted and this run
    already has experiments (``history``). ``limits`` is the agent's
    ``limits`` table from the study file, unvalidated (the adapter owns its
    meaning). ``seconds_left`` is the run's wall-clock time left.
    """

    study: str
    label: str
    run: int
    workspace: Path
    prompt: str
    run_command: str
    env: Mapping[str, str]
    home: Path
    run_dir: Path
    transcript_path: Path
    log_path: Path
    history: tuple[Attempt, ...] = ()
    resumed: bool = False
    limits: Mapping[str, Any] = attrs.field(factory=dict)
    experiments_left: int | None = None
    seconds_left: float | None = None
    seed: int = 0


@attrs.frozen
class StepReport:
    """What an autonomous agent spent since its previous experiment (lands in the row)."""

    usage: Usage | None = None
    agent_seconds: float | None = None


@attrs.frozen
class ExperimentOutcome:
    """The result of one experiment, as the harness tells it to an autonomous agent."""

    experiment: Experiment
    message: str
    #: the harness ends the run after this experiment (its limits are reached)
    last: bool = False


@attrs.frozen
class RunEnd:
    """How an autonomous agent's run ended: ``reason`` in words; ``error`` when it failed."""

    reason: str
    error: str | None = None
    usage: Usage | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


@runtime_checkable
class StepwiseAgent(Protocol):
    """An agent the harness asks for one change at a time."""

    mode: ClassVar[Literal["stepwise"]]

    def propose(self, context: StepContext) -> Proposal | Stop:
        """The next experiment, given the run so far; :class:`Stop` when done."""
        ...


@runtime_checkable
class AgentSession(Protocol):
    """One run of an autonomous agent (see the module docstring for the call order)."""

    def run(self) -> RunEnd:
        """Work until the run is over; called once, on a worker thread."""
        ...

    def begin_experiment(self) -> StepReport:
        """An experiment request arrived: what the agent spent since the previous one."""
        ...

    def end_experiment(self, outcome: ExperimentOutcome) -> None:
        """The experiment's row is logged."""
        ...

    def stop(self, reason: str) -> None:
        """End the run soon (thread-safe); :meth:`run` then returns."""
        ...


@runtime_checkable
class AutonomousAgent(Protocol):
    """An agent that runs the loop itself through the workspace's ``run_experiment``."""

    mode: ClassVar[Literal["autonomous"]]

    def start(self, context: RunContext) -> AgentSession:
        """A session for one run (not started: the harness calls its :meth:`~AgentSession.run`)."""
        ...


Agent = StepwiseAgent | AutonomousAgent
