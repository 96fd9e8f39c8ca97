"""The built-in agents: random search, coordinate search, TPE, replay; and the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpdream_core import Experiment, HpdreamError
from hpdream_runner.agents import (
    AgentSetup,
    AgentSpec,
    Attempt,
    CoordinateSearch,
    Proposal,
    RandomSearch,
    StepContext,
    Stop,
    TpeSearch,
    UnknownAgentError,
    agent_specs,
    build_space,
    create_agent,
    get_agent,
    read_constants,
    register_agent,
    unregister_agent,
)
from hpdream_runner.agents.options import AgentConfigError
from hpdream_runner.study import SyntheticTrainer
from tests.runner.study_helpers import MINI_TRAIN_PY

PARAMS = ("MATRIX_LR", "WARMDOWN_RATIO", "DEPTH")


def _row(index: int, status: str, val: float | None, description: str | None = None) -> Experiment:
    return Experiment.from_values(
        {
            "study": "s",
            "agent": "a",
            "run": 0,
            "index": index,
            "status": status,
            "val_bpb": val,
            "description": description or ("baseline" if index == 0 else f"exp {index}"),
        }
    )


def _context(
    history: list[Attempt], train_py: str, *, seed: int = 7, tmp: Path = Path("/nonexistent")
) -> StepContext:
    return StepContext(
        study="s",
        label="a",
        run=0,
        index=len(history),
        train_py=train_py,
        baseline_train_py=MINI_TRAIN_PY,
        history=tuple(history),
        workspace=tmp,
        seed=seed,
    )


def drive(agent: Any, n: int, trainer: SyntheticTrainer | None = None) -> list[Attempt]:
    """Run the keep/reset protocol in memory with the synthetic landscape, as the harness does."""
    trainer = trainer or SyntheticTrainer(MINI_TRAIN_PY)
    val, _ = trainer.val_bpb(MINI_TRAIN_PY)
    history = [Attempt(_row(0, "keep", val), MINI_TRAIN_PY, "")]
    best_val, best_src = val, MINI_TRAIN_PY
    for i in range(1, n):
        answer = agent.propose(_context(history, best_src))
        if isinstance(answer, Stop):
            break
        assert isinstance(answer, Proposal) and answer.train_py is not None
        v, err = trainer.val_bpb(answer.train_py)
        if err is not None:
            status = "crash"
        elif v is not None and best_val is not None and v < best_val:
            status = "keep"
        else:
            status = "discard"
        row = _row(i, status, v if status != "crash" else None, answer.description)
        history.append(Attempt(row.evolve(hypothesis=answer.hypothesis), answer.train_py, ""))
        if status == "keep":
            best_val, best_src = v, answer.train_py
    return history


def test_registry_lists_the_builtins() -> None:
    names = {s.name for s in agent_specs()}
    assert {"random-search", "coordinate-search", "tpe", "replay"} <= names
    assert get_agent("tpe").mode == "stepwise"


def test_unknown_adapter_names_the_known_ones() -> None:
    with pytest.raises(UnknownAgentError, match="random-search") as info:
        get_agent("no-such-agent")
    assert "no-such-agent" in str(info.value)


def test_options_are_validated() -> None:
    with pytest.raises(AgentConfigError, match="unknown options"):
        create_agent(AgentSetup(label="x", adapter="random-search", options={"nope": 1}))
    with pytest.raises(AgentConfigError, match="changes"):
        create_agent(AgentSetup(label="x", adapter="random-search", options={"changes": "two"}))


def test_register_a_custom_agent_and_refuse_a_duplicate() -> None:
    class Fixed:
        mode = "stepwise"

        def propose(self, context: StepContext) -> Proposal | Stop:
            return Stop("nothing to do")

    spec = AgentSpec("test-fixed", "stepwise", lambda setup: Fixed(), "a test agent")
    register_agent(spec)
    try:
        assert get_agent("test-fixed") is spec
        with pytest.raises(HpdreamError, match="already registered"):
            register_agent(AgentSpec("test-fixed", "stepwise", lambda s: Fixed(), "another"))
        agent = create_agent(AgentSetup(label="f", adapter="test-fixed", options={}))
        assert isinstance(agent.propose(_context([], MINI_TRAIN_PY)), Stop)  # type: ignore[union-attr]
    finally:
        unregister_agent("test-fixed")
    with pytest.raises(UnknownAgentError):
        get_agent("test-fixed")


def test_a_factory_of_the_wrong_mode_is_refused() -> None:
    class Wrong:
        mode = "autonomous"

    spec = AgentSpec("test-wrong", "stepwise", lambda s: Wrong(), "wrong mode")  # type: ignore[arg-type,return-value]
    with pytest.raises(HpdreamError, match="registered as 'stepwise'"):
        spec.create(AgentSetup(label="w", adapter="test-wrong", options={}))


def test_random_search_is_deterministic_and_in_bounds() -> None:
    space = build_space(MINI_TRAIN_PY, PARAMS)
    a = RandomSearch({"params": PARAMS}, "a")
    b = RandomSearch({"params": PARAMS}, "a")
    history = [Attempt(_row(0, "keep", 1.6), MINI_TRAIN_PY, "")]
    for seed in range(20):
        pa = a.propose(_context(history, MINI_TRAIN_PY, seed=seed))
        pb = b.propose(_context(history, MINI_TRAIN_PY, seed=seed))
        assert isinstance(pa, Proposal) and isinstance(pb, Proposal)
        assert pa == pb
        assert pa.train_py is not None
        values = space.values(pa.train_py)
        assert all(space[n].contains(v) for n, v in values.items())
        assert " -> " in pa.description and pa.hypothesis and pa.description in pa.hypothesis
    seeds = {a.propose(_context(history, MINI_TRAIN_PY, seed=s)).description for s in range(20)}  # type: ignore[union-attr]
    assert len(seeds) > 15  # different seeds, different samples


def test_random_search_with_changes_touches_that_many() -> None:
    agent = RandomSearch({"params": PARAMS, "changes": 1}, "a")
    history = [Attempt(_row(0, "keep", 1.6), MINI_TRAIN_PY, "")]
    for seed in range(10):
        p = agent.propose(_context(history, MINI_TRAIN_PY, seed=seed))
        assert isinstance(p, Proposal)
        assert p.description.count(" -> ") == 1


def test_coordinate_search_walks_one_constant_at_a_time() -> None:
    agent = CoordinateSearch(
        {"params": ("MATRIX_LR", "WARMDOWN_RATIO"), "factor": 2.0, "refinements": 1}, "c"
    )
    history = drive(agent, 40)
    descriptions = [a.experiment.description for a in history[1:]]
    assert descriptions[0] == "MATRIX_LR 0.04 -> 0.08"  # first move: the first constant, up
    assert all(d.count(" -> ") == 1 for d in descriptions)
    # the synthetic optimum of MATRIX_LR is 1.6 x baseline: up helps once, the next step up does not
    statuses = [a.experiment.status for a in history[1:3]]
    assert statuses == ["keep", "discard"]
    assert descriptions[1] == "MATRIX_LR 0.08 -> 0.16"
    # then it moves on to the next constant (no step down: it came from below)
    assert descriptions[2].startswith("WARMDOWN_RATIO")
    # the search ends with a Stop once the refinements are spent, well before 40
    assert len(history) < 40
    best = min(a.experiment.val_bpb for a in history if a.experiment.val_bpb is not None)
    assert best < history[0].experiment.val_bpb  # type: ignore[operator]


def test_coordinate_search_tries_down_when_up_fails() -> None:
    agent = CoordinateSearch({"params": ("EMBEDDING_LR",), "factor": 2.0, "refinements": 0}, "c")
    history = drive(agent, 10)
    d = [a.experiment.description for a in history[1:]]
    # the optimum is 0.7 x baseline: up fails, down (0.3) ... then a second step down
    assert d[0] == "EMBEDDING_LR 0.6 -> 1.2"
    assert d[1] == "EMBEDDING_LR 0.6 -> 0.3"


def test_coordinate_search_resumes_to_the_same_proposal() -> None:
    options = {"params": PARAMS, "factor": 2.0, "refinements": 2}
    history = drive(CoordinateSearch(options, "c"), 12)
    for k in range(2, len(history)):
        fresh = CoordinateSearch(options, "c")  # a new agent after a restart
        best = [a for a in history[:k] if a.experiment.status == "keep"][-1].train_py
        p = fresh.propose(_context(history[:k], best or MINI_TRAIN_PY))
        assert isinstance(p, Proposal)
        assert p.train_py == history[k].train_py


def test_tpe_uses_the_history_and_stays_in_bounds() -> None:
    options = {"params": ("MATRIX_LR", "WARMDOWN_RATIO", "TOTAL_BATCH_SIZE"), "startup_trials": 3}
    agent = TpeSearch(options, "t")
    history = drive(agent, 14)
    assert len(history) == 14
    space = build_space(MINI_TRAIN_PY, options["params"])  # type: ignore[arg-type]
    for a in history[1:]:
        assert a.train_py is not None
        assert all(space[n].contains(v) for n, v in space.values(a.train_py).items())
        assert "TPE" in (a.experiment.hypothesis or "")
    # deterministic: a fresh agent given the same history proposes the same train.py
    for k in (4, 9, 13):
        best = [a for a in history[:k] if a.experiment.status == "keep"][-1].train_py
        again = TpeSearch(options, "t").propose(_context(history[:k], best or MINI_TRAIN_PY))
        assert isinstance(again, Proposal)
        assert again.train_py == history[k].train_py


def test_tpe_proposal_depends_on_the_history() -> None:
    options = {"params": ("MATRIX_LR", "WARMDOWN_RATIO"), "startup_trials": 2}
    base = [Attempt(_row(0, "keep", 1.6), MINI_TRAIN_PY, "")]
    good = read_constants(MINI_TRAIN_PY)
    from hpdream_runner.agents import set_constants

    rows = []
    for i, (lr, wd) in enumerate([(0.05, 0.6), (0.02, 0.1), (0.15, 0.85), (0.064, 0.6)], start=1):
        src = set_constants(MINI_TRAIN_PY, {"MATRIX_LR": lr, "WARMDOWN_RATIO": wd})
        val = 1.5 + abs(lr - 0.064) + abs(wd - 0.6)
        rows.append(Attempt(_row(i, "discard", val), src, ""))
    p1 = TpeSearch(options, "t").propose(_context(base + rows, MINI_TRAIN_PY))
    p2 = TpeSearch(options, "t").propose(_context(base + rows[:2], MINI_TRAIN_PY))
    assert isinstance(p1, Proposal) and isinstance(p2, Proposal)
    assert p1.train_py != p2.train_py
    assert good["MATRIX_LR"] == 0.04


def test_replay_from_files(tmp_path: Path) -> None:
    from hpdream_runner.agents import set_constants

    files = []
    for i, lr in enumerate((0.05, 0.03), start=1):
        f = tmp_path / f"v{i}.py"
        f.write_text(set_constants(MINI_TRAIN_PY, {"MATRIX_LR": lr}), encoding="utf-8")
        files.append(f.name)
    agent = create_agent(
        AgentSetup(
            label="r",
            adapter="replay",
            options={"files": files, "descriptions": ["up"]},
            base_dir=tmp_path,
        )
    )
    history = [Attempt(_row(0, "keep", 1.6), MINI_TRAIN_PY, "")]
    p1 = agent.propose(_context(history, MINI_TRAIN_PY))  # type: ignore[union-attr]
    assert (
        isinstance(p1, Proposal)
        and p1.description == "up"
        and "MATRIX_LR = 0.05" in (p1.train_py or "")
    )
    history.append(Attempt(_row(1, "keep", 1.5), p1.train_py, ""))
    p2 = agent.propose(_context(history, MINI_TRAIN_PY))  # type: ignore[union-attr]
    assert isinstance(p2, Proposal) and p2.description == "replay of v2.py"
    history.append(Attempt(_row(2, "discard", 1.7), p2.train_py, ""))
    assert isinstance(agent.propose(_context(history, MINI_TRAIN_PY)), Stop)  # type: ignore[union-attr]


def test_replay_options_errors(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match="either files or from_study"):
        create_agent(AgentSetup(label="r", adapter="replay", options={}))
    with pytest.raises(AgentConfigError, match="cannot read"):
        create_agent(
            AgentSetup(
                label="r", adapter="replay", options={"files": ["missing.py"]}, base_dir=tmp_path
            )
        )
    with pytest.raises(AgentConfigError, match="does not exist"):
        create_agent(AgentSetup(label="r", adapter="replay", options={"from_study": str(tmp_path)}))


def test_space_errors_name_the_agent() -> None:
    agent = RandomSearch({"params": ("NOPE",)}, "my-label")
    with pytest.raises(AgentConfigError, match=r"my-label.*NOPE"):
        agent.propose(_context([Attempt(_row(0, "keep", 1.6), MINI_TRAIN_PY, "")], MINI_TRAIN_PY))
