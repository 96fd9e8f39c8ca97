"""The built-in, offline agents: the classical baselines LLM agents are compared with.

All four are stepwise and need no network:

``random-search``
    Samples the searched constants afresh for each experiment (all of them,
    or ``changes`` of them around the best so far).
``coordinate-search``
    Steps one constant at a time, up then down; keeps going while a step
    helps, moves to the next constant when neither direction does, and
    halves its steps after a sweep with no improvement.
``tpe``
    Optuna's tree-structured Parzen estimator over the same space; the run's
    log is its trial history (crashes are failed trials).
``replay``
    Applies a given sequence of ``train.py`` versions, from files or from a
    past study's run; for tests and for re-running a study.

Each is a pure function of the run so far (the log with each experiment's
``train.py``, and a seed): asked again after a restart, it proposes what it
would have proposed, which is what lets a killed study resume to exactly the
rows of an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs

from hpdream_core import read_log
from hpdream_runner.agents._protocol import Proposal, StepContext, Stop
from hpdream_runner.agents._registry import AgentSetup, AgentSpec
from hpdream_runner.agents._space import (
    Number,
    Param,
    SearchSpace,
    SpaceError,
    build_space,
    describe_change,
    set_constants,
)
from hpdream_runner.agents.options import AgentConfigError, Option

_SPACE_OPTIONS: tuple[Option, ...] = (
    Option(
        "params",
        "list",
        (),
        'constants of train.py to search, e.g. ["MATRIX_LR", "ADAM_BETAS[1]"] '
        "(default: the learning rates, weight decay, Adam betas and schedule ratios it defines)",
    ),
    Option(
        "space",
        "object",
        {},
        'bounds per constant, e.g. {MATRIX_LR = {low = 0.01, high = 0.1, scale = "log"}}; '
        "scale is linear, log or pow2",
    ),
)


def _space(setup_options: Mapping[str, Any], source: str, agent: str) -> SearchSpace:
    overrides = setup_options.get("space") or {}
    for name, table in overrides.items():
        if not isinstance(table, Mapping):
            raise AgentConfigError(
                f"agent {agent!r}, option 'space': {name} needs a table of bounds"
            )
    try:
        return build_space(source, setup_options.get("params") or (), overrides)
    except SpaceError as exc:
        raise AgentConfigError(f"agent {agent!r}: {exc}") from None


def _run_seed(context: StepContext, salt: str) -> random.Random:
    # a string seed is hashed with SHA-512: the same on every machine and Python run
    return random.Random(f"{salt}:{context.seed}:{context.run}:{context.index}")


def _sample(param: Param, rng: random.Random) -> Number:
    if param.scale == "pow2":
        lo, hi = param.exponents()
        return int(2 ** rng.randint(lo, hi))
    if param.kind == "int":
        return rng.randint(math.ceil(param.low), math.floor(param.high))
    if param.scale == "log":
        return param.snap(math.exp(rng.uniform(math.log(param.low), math.log(param.high))))
    return param.snap(rng.uniform(param.low, param.high))


class _SpaceAgent:
    """Common ground of the search agents: the space is built from the baseline on first use."""

    mode: ClassVar[Literal["stepwise"]] = "stepwise"
    title: ClassVar[str] = ""

    def __init__(self, options: Mapping[str, Any], label: str) -> None:
        self.options = dict(options)
        self.label = label
        self._space: SearchSpace | None = None

    def space(self, context: StepContext) -> SearchSpace:
        if self._space is None:
            self._space = _space(self.options, context.baseline_train_py, self.label)
        return self._space

    def _propose(self, context: StepContext, new: Mapping[str, Number], why: str) -> Proposal:
        current = self.space(context).values(context.train_py)
        change = describe_change(current, new)
        return Proposal(
            description=change,
            hypothesis=f"{change}: {self.title}, {why}",
            train_py=set_constants(context.train_py, new),
        )


class RandomSearch(_SpaceAgent):
    """Independent random samples of the searched constants."""

    title = "random search"

    def propose(self, context: StepContext) -> Proposal | Stop:
        space = self.space(context)
        current = space.values(context.train_py)
        rng = _run_seed(context, "random-search")
        changes = int(self.options.get("changes") or 0)
        for _ in range(100):
            if changes <= 0 or changes >= len(space.params):
                chosen = list(space.params)
                why = "a fresh sample of every searched constant"
            else:
                chosen = rng.sample(list(space.params), changes)
                why = f"a fresh sample of {changes} constant{'s' if changes > 1 else ''} around the best so far"
            new = {p.name: _sample(p, rng) for p in chosen}
            if any(current[n] != v for n, v in new.items()):
                return self._propose(context, new, why)
        return Stop("random search: the space has no value left that differs from the best")


# --- coordinate search ---------------------------------------------------------------


@attrs.define
class _Coordinate:
    """The state machine of coordinate search; a pure function of the outcomes it is fed."""

    params: tuple[Param, ...]
    factor: float
    refinements: int
    i: int = 0
    direction: int = 1
    tried_other: bool = False
    sweep_improved: bool = False
    level: int = 0

    def step(self, param: Param, value: Number) -> Number | None:
        shrink = 2.0**-self.level
        if param.scale == "pow2":
            exps = param.exponents()
            k = round(math.log2(value)) + self.direction
            return int(2**k) if exps[0] <= k <= exps[1] else None
        if param.scale == "log":
            if value <= 0:
                return None
            target = value * self.factor ** (self.direction * shrink)
        else:
            width = (param.high - param.low) / 4 * shrink
            if param.kind == "int":
                width = max(1.0, round(width))
            target = value + self.direction * width
        if not param.low <= target <= param.high:
            # go to the bound once, then no further
            target = min(max(target, param.low), param.high)
        new = param.snap(target)
        return None if new == value else new

    def advance(self, improved: bool) -> None:
        if improved:
            self.sweep_improved = True
            self.tried_other = True  # we came from the other side: keep going this way
            return
        if not self.tried_other:
            self.direction = -self.direction
            self.tried_other = True
            return
        self.i += 1
        self.direction = 1
        self.tried_other = False
        if self.i == len(self.params):
            self.i = 0
            if not self.sweep_improved:
                self.level += 1
            self.sweep_improved = False

    @property
    def converged(self) -> bool:
        return self.level > self.refinements

    def move(self, values: Mapping[str, Number]) -> tuple[Param, Number] | None:
        """The next move from ``values``, skipping moves that leave the bounds."""
        budget = 2 * len(self.params) * (self.refinements + 2) + 2
        for _ in range(budget):
            if self.converged:
                return None
            param = self.params[self.i]
            new = self.step(param, values[param.name])
            if new is not None:
                return param, new
            self.advance(False)
        return None


class CoordinateSearch(_SpaceAgent):
    """One constant at a time, up then down, with shrinking steps."""

    title = "coordinate search"

    def propose(self, context: StepContext) -> Proposal | Stop:
        space = self.space(context)
        state = _Coordinate(
            space.params, float(self.options["factor"]), int(self.options["refinements"])
        )
        best_source = context.baseline_train_py
        # replay the state machine over the run so far: the outcome of each experiment moves it
        for attempt in context.history:
            if attempt.index == 0:
                if attempt.train_py is not None and attempt.improved:
                    best_source = attempt.train_py
                continue
            if state.move(space.values(best_source)) is None:
                break
            state.advance(attempt.improved)
            if attempt.improved and attempt.train_py is not None:
                best_source = attempt.train_py
        values = space.values(context.train_py)
        found = state.move(values)
        if found is None:
            return Stop("coordinate search converged: no step of any constant is left to try")
        param, new = found
        word = "up" if state.direction > 0 else "down"
        if param.scale == "log":
            step = f"x{float(self.options['factor']) ** 2.0**-state.level:.3g}"
        elif param.scale == "pow2":
            step = "x2"
        else:
            step = f"a step of a quarter of its range / {2**state.level}"
        why = f"one step {word} ({step})"
        return self._propose(context, {param.name: new}, why)


# --- TPE -----------------------------------------------------------------------------


class TpeSearch(_SpaceAgent):
    """Optuna's TPE sampler, with the run's log as its trial history."""

    title = "TPE"

    def _distributions(self, space: SearchSpace) -> dict[str, Any]:
        from optuna.distributions import FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        for p in space.params:
            if p.scale == "pow2":
                lo, hi = p.exponents()
                out[f"{p.name}:log2"] = IntDistribution(lo, hi)
            elif p.kind == "int":
                out[p.name] = IntDistribution(math.ceil(p.low), math.floor(p.high))
            else:
                out[p.name] = FloatDistribution(p.low, p.high, log=p.scale == "log")
        return out

    @staticmethod
    def _to_params(space: SearchSpace, values: Mapping[str, Number]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for p in space.params:
            v = values[p.name]
            if not p.contains(v):
                return None
            if p.scale == "pow2":
                out[f"{p.name}:log2"] = int(v).bit_length() - 1
            else:
                out[p.name] = v
        return out

    def propose(self, context: StepContext) -> Proposal | Stop:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        space = self.space(context)
        distributions = self._distributions(space)
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(
                seed=_run_seed(context, "tpe").randrange(2**31),
                n_startup_trials=int(self.options["startup_trials"]),
            ),
        )
        used = 0
        for attempt in context.history:
            if attempt.train_py is None:
                continue
            try:
                params = self._to_params(space, space.values(attempt.train_py))
            except SpaceError:
                continue
            if params is None:
                continue
            crashed = attempt.experiment.status == "crash" or attempt.experiment.val_bpb is None
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=distributions,
                    value=None if crashed else attempt.experiment.val_bpb,
                    state=optuna.trial.TrialState.FAIL
                    if crashed
                    else optuna.trial.TrialState.COMPLETE,
                )
            )
            used += 1
        current = space.values(context.train_py)
        for _ in range(20):
            trial = study.ask(distributions)
            new: dict[str, Number] = {}
            for p in space.params:
                if p.scale == "pow2":
                    new[p.name] = int(2 ** trial.params[f"{p.name}:log2"])
                else:
                    new[p.name] = p.snap(trial.params[p.name])
            if any(current[n] != v for n, v in new.items()):
                why = f"trial {used + 1}, sampled from a model of the {used} trials so far"
                return self._propose(context, new, why)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return Stop("TPE keeps proposing the best configuration: the search has converged")


# --- replay --------------------------------------------------------------------------


@attrs.frozen
class ReplayStep:
    """One version of train.py to apply, with its description and hypothesis."""

    train_py: str
    description: str
    hypothesis: str | None = None


class Replay:
    """Applies a given sequence of train.py versions, one per experiment, then stops."""

    mode: ClassVar[Literal["stepwise"]] = "stepwise"

    def __init__(self, steps: Sequence[ReplayStep]) -> None:
        self.steps = tuple(steps)

    def propose(self, context: StepContext) -> Proposal | Stop:
        k = context.index - 1
        if k >= len(self.steps):
            return Stop(f"replay finished: all {len(self.steps)} versions applied")
        step = self.steps[k]
        return Proposal(
            description=step.description, hypothesis=step.hypothesis, train_py=step.train_py
        )


def replay_from_files(paths: Iterable[Path], descriptions: Sequence[str] = ()) -> Replay:
    """A replay of the given train.py files, in order."""
    steps: list[ReplayStep] = []
    for i, path in enumerate(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AgentConfigError(f"replay: cannot read {path}: {exc.strerror or exc}") from None
        description = descriptions[i] if i < len(descriptions) else f"replay of {path.name}"
        steps.append(ReplayStep(text, description))
    return Replay(steps)


def replay_from_study(study_dir: Path, label: str, run: int) -> Replay:
    """A replay of one run of a past study (its rows and the train.py stored per experiment)."""
    from hpdream_runner.study._layout import Layout

    layout = Layout(study_dir)
    if not layout.log_path.is_file():
        raise AgentConfigError(
            f"replay: {layout.log_path} does not exist (is {study_dir} a study's output folder?)"
        )
    rows = sorted(
        (e for e in read_log(layout.log_path).experiments if e.agent == label and e.run == run),
        key=lambda e: e.index,
    )
    if not rows:
        raise AgentConfigError(
            f"replay: {layout.log_path} has no rows of agent {label!r}, run {run}"
        )
    steps: list[ReplayStep] = []
    for row in rows:
        if row.index == 0:
            continue
        path = layout.experiment_dir(label, run, row.index) / "train.py"
        if not path.is_file():
            raise AgentConfigError(
                f"replay: {path} is missing (experiment {row.index} of {label!r}, run {run})"
            )
        steps.append(ReplayStep(path.read_text(encoding="utf-8"), row.description, row.hypothesis))
    return Replay(steps)


def _make_replay(setup: AgentSetup) -> Replay:
    opts = setup.options
    files, source = opts.get("files") or (), opts.get("from_study")
    if bool(files) == bool(source):
        raise AgentConfigError(f"agent {setup.label!r} (replay): give either files or from_study")
    if files:
        return replay_from_files(
            [setup.resolve(f) for f in files], tuple(opts.get("descriptions") or ())
        )
    label = opts.get("agent") or setup.label
    run = setup.run if opts.get("run") is None else int(opts["run"])
    return replay_from_study(setup.resolve(str(source)), label, run)


_RANDOM_OPTIONS = (
    *_SPACE_OPTIONS,
    Option(
        "changes", "int", 0, "constants changed per experiment (0: all, sampled afresh)", minimum=0
    ),
)
_COORDINATE_OPTIONS = (
    *_SPACE_OPTIONS,
    Option(
        "factor",
        "float",
        2.0,
        "step factor of log-scaled constants (x factor up, / factor down)",
        minimum=1.01,
    ),
    Option(
        "refinements", "int", 3, "times the steps are halved before the search stops", minimum=0
    ),
)
_TPE_OPTIONS = (
    *_SPACE_OPTIONS,
    Option("startup_trials", "int", 5, "random trials before TPE models the history", minimum=1),
)
_REPLAY_OPTIONS = (
    Option(
        "files",
        "list",
        (),
        "train.py versions to apply, in order (paths relative to the study file)",
    ),
    Option("descriptions", "list", (), "a description for each file (default: 'replay of NAME')"),
    Option("from_study", "str", None, "output folder of a past study whose run to replay"),
    Option(
        "agent",
        "str",
        None,
        "with from_study: the label of the agent to replay (default: this label)",
    ),
    Option(
        "run", "int", None, "with from_study: the run to replay (default: the same run)", minimum=0
    ),
)


def agent_specs() -> tuple[AgentSpec, ...]:
    """The built-in agents (see the module docstring)."""
    return (
        AgentSpec(
            "random-search",
            "stepwise",
            lambda s: RandomSearch(s.options, s.label),
            "random samples of train.py's hyperparameter constants",
            _RANDOM_OPTIONS,
        ),
        AgentSpec(
            "coordinate-search",
            "stepwise",
            lambda s: CoordinateSearch(s.options, s.label),
            "one constant at a time, up then down, shrinking steps",
            _COORDINATE_OPTIONS,
        ),
        AgentSpec(
            "tpe",
            "stepwise",
            lambda s: TpeSearch(s.options, s.label),
            "Optuna's TPE over the same constants; the log is its trial history",
            _TPE_OPTIONS,
        ),
        AgentSpec(
            "replay",
            "stepwise",
            _make_replay,
            "applies a given sequence of train.py versions (files or a past study's run)",
            _REPLAY_OPTIONS,
        ),
    )
