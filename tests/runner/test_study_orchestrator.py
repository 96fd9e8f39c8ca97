"""The experiment loop with injected trainers: rows, commits, resets, crashes, limits, resume."""

from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from hpdream_core import Experiment, read_log
from hpdream_runner.agents import (
    AgentSetup,
    Proposal,
    StepContext,
    Stop,
    Usage,
    set_constants,
)
from hpdream_runner.study import (
    AgentConfig,
    KeepRule,
    Layout,
    Study,
    StudyConfigError,
    StudyError,
    Workspace,
)
from tests.runner.study_helpers import MINI_TRAIN_PY, FakeTrainer, make_config, no_guard

STABLE = (
    "study",
    "agent",
    "run",
    "index",
    "status",
    "val_bpb",
    "category",
    "description",
    "hypothesis",
    "diff_added",
    "diff_removed",
    "error",
)


def _stable(rows: list[Experiment]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(r, c) for c in STABLE) for r in rows]


def _study(config: Any, trainer: Any = None, **kwargs: Any) -> Study:
    return Study(
        config,
        trainer=trainer or FakeTrainer(MINI_TRAIN_PY),
        guard=kwargs.pop("guard", no_guard),
        classifier=kwargs.pop("classifier", None),
        handle_signals=False,
        **kwargs,
    )


def _rows(config: Any) -> list[Experiment]:
    return list(read_log(Layout(config.output).log_path, strict=True).experiments)


def test_two_agents_rows_commits_and_resets(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        [
            AgentConfig(
                "coordinate-search", "coord", options={"params": ["MATRIX_LR", "WARMDOWN_RATIO"]}
            ),
            AgentConfig("random-search", "rand", options={"params": ["MATRIX_LR", "EMBEDDING_LR"]}),
        ],
        experiments=6,
    )
    result = _study(config).run()
    rows = _rows(config)
    layout = Layout(config.output)
    assert [(r.label, r.experiments, r.state) for r in result.runs] == [
        ("coord", 6, "finished"),
        ("rand", 6, "finished"),
    ]
    for label in ("coord", "rand"):
        mine = [r for r in rows if r.agent == label]
        assert [r.index for r in mine] == list(range(6))
        base = mine[0]
        assert (base.category, base.description, base.status, base.diff_added) == (
            "baseline",
            "baseline",
            "keep",
            0,
        )
        ws = Workspace(layout.workspace(label, 0))
        assert ws.is_clean()
        best = [r for r in mine if r.status == "keep"][-1]
        assert ws.head() == best.commit
        assert (
            ws.read_train_py()
            == (layout.experiment_dir(label, 0, best.index) / "train.py").read_text()
        )
        for r in mine:
            exp = layout.experiment_dir(label, 0, r.index)
            assert r.commit and ws.experiment_commit(r.index) == r.commit
            assert (
                ws.show(r.commit) == (exp / "train.py").read_text()
            )  # the commit holds what was trained
            for name in ("train.py", "diff.patch", "experiment.json", "output.log", "summary.json"):
                assert (exp / name).is_file(), (label, r.index, name)
            record = json.loads((exp / "experiment.json").read_text())
            assert record["row"]["index"] == r.index and record["row"]["status"] == r.status
            if r.index:
                assert r.diff_added and r.diff_removed
                assert r.description.count(" -> ") >= 1 and r.hypothesis
                assert r.agent_seconds is not None and r.total_seconds is not None
                assert r.input_tokens is None and r.cost_usd is None
        meta = json.loads(layout.run_meta(label, 0).read_text())
        assert (
            meta["state"] == "finished" and meta["end_kind"] == "limit" and meta["experiments"] == 6
        )
        assert meta["best_val_bpb"] == best.val_bpb and meta["trainer"].startswith("injected")
        assert meta["versions"]["hpdream-runner"] and meta["hardware"]["cpu_count"]
        assert (ws.path / "program.md").read_text().count("run_experiment") >= 2
        assert (ws.path / "run_experiment").stat().st_mode & 0o111
    resolved = json.loads(layout.config_path.read_text())
    assert resolved["name"] == "test-study" and resolved["agents"][1]["label"] == "rand"
    # the coordinate search kept its first step up (the synthetic optimum is above 0.04)
    coord = [r for r in rows if r.agent == "coord"]
    assert coord[1].description == "MATRIX_LR 0.04 -> 0.08" and coord[1].status == "keep"


def _replay_config(tmp_path: Path, versions: list[tuple[str, str]], **kwargs: Any) -> Any:
    files, descriptions = [], []
    for i, (text, description) in enumerate(versions):
        f = tmp_path / f"v{i}.py"
        f.write_text(text, encoding="utf-8")
        files.append(str(f))
        descriptions.append(description)
    agent = AgentConfig("replay", "replay", options={"files": files, "descriptions": descriptions})
    return make_config(
        tmp_path, [agent], experiments=len(versions) + 1 + kwargs.pop("extra", 0), **kwargs
    )


def test_replay_gives_the_known_pattern(tmp_path: Path) -> None:
    up = set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.064})
    versions = [
        (up, "raise MATRIX_LR to 0.064"),  # towards the synthetic optimum: keep
        (set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.02}), "lower MATRIX_LR"),  # worse: discard
        (
            set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 1.0}),
            "MATRIX_LR 1.0",
        ),  # diverges: crash (NaN)
        (MINI_TRAIN_PY.replace("DEPTH = 2", "DEPTH = = 2"), "typo"),  # does not parse: crash
        (set_constants(up, {"EMBEDDING_LR": 0.42}), "and EMBEDDING_LR 0.42"),  # better still: keep
        (up, "back to MATRIX_LR 0.064 only"),  # worse than the best: discard
    ]
    config = _replay_config(tmp_path, versions)
    _study(config).run()
    rows = _rows(config)
    assert [r.status for r in rows] == [
        "keep",
        "keep",
        "discard",
        "crash",
        "crash",
        "keep",
        "discard",
    ]
    assert [r.description for r in rows[1:]] == [d for _, d in versions]
    assert "NaN" in (rows[3].error or "") and rows[3].val_bpb is None
    assert "SyntaxError" in (rows[4].error or "")
    assert rows[1].diff_added == 1 and rows[1].diff_removed == 1
    # the diff of each experiment is against the best version at the time (MATRIX_LR 0.064 kept)
    assert rows[5].diff_added == 1 and rows[5].diff_removed == 1
    patch = (Layout(config.output).experiment_dir("replay", 0, 5) / "diff.patch").read_text()
    changed = [
        line for line in patch.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["-EMBEDDING_LR = 0.6", "+EMBEDDING_LR = 0.42"]
    ws = Workspace(Layout(config.output).workspace("replay", 0))
    assert ws.read_train_py() == versions[4][0] and ws.head() == rows[5].commit


def test_crashes_become_rows_and_the_run_goes_on(tmp_path: Path) -> None:
    failures = {
        "# RAISE": "exception: ValueError: boom (train.py line 12)",
        "# NAN": "nan: the loss became NaN at step 3",
        "# SLOW": "timeout: killed after 90 s (budget 30 s + grace 60 s)",
        "# OOM": "oom: CUDA out of memory",
    }
    versions = [(MINI_TRAIN_PY + f"{marker}\n", f"try {marker}") for marker in failures]
    versions.append((set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.064}), "a good change"))
    config = _replay_config(tmp_path, versions)
    trainer = FakeTrainer(MINI_TRAIN_PY, failures=failures)
    _study(config, trainer).run()
    rows = _rows(config)
    assert [r.status for r in rows] == ["keep", "crash", "crash", "crash", "crash", "keep"]
    assert [r.error for r in rows[1:5]] == list(failures.values())
    assert all(r.val_bpb is None and r.category for r in rows[1:5])
    assert len(trainer.calls) == 6
    # after each crash the workspace was reset: the next experiment started from the best
    layout = Layout(config.output)
    for r in rows[1:5]:
        record = json.loads(
            (layout.experiment_dir("replay", 0, r.index) / "experiment.json").read_text()
        )
        assert "error:" in record["message"] and "end of the training output" in record["message"]
        assert "step 1" in record["message"]
    assert Workspace(layout.workspace("replay", 0)).head() == rows[5].commit


def test_a_violation_is_a_crash_that_is_not_trained(tmp_path: Path) -> None:
    class Guard:
        def __init__(self) -> None:
            self.after = 0

        def before_experiment(self, train_py: str) -> list[str]:
            return ["train.py reads the validation data"] if "CHEAT" in train_py else []

        def after_experiment(self) -> None:
            self.after += 1

    guards: list[Guard] = []

    def factory(context: Any) -> Guard:
        assert context.log_path == Layout(config.output).log_path
        assert context.workspace == Layout(config.output).workspace("replay", 0)
        guards.append(Guard())
        return guards[-1]

    versions = [
        (MINI_TRAIN_PY + "CHEAT = 1\n", "peek"),
        (set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.05}), "fair"),
    ]
    config = _replay_config(tmp_path, versions)
    trainer = FakeTrainer(MINI_TRAIN_PY)
    _study(config, trainer, guard=factory).run()
    rows = _rows(config)
    assert [r.status for r in rows] == ["keep", "crash", "keep"]
    assert rows[1].error == "violation: train.py reads the validation data"
    assert len(trainer.calls) == 2  # the violation was not trained
    assert guards[0].after == 3


def test_a_change_to_hpdream_itself_is_explained_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Guard:
        def before_experiment(self, train_py: str) -> list[str]:
            return ["harness_modified: /src/hpdream_core/_params.py: contents changed"]

        def after_experiment(self) -> None:
            pass

    versions = [
        (set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.05}), "one"),
        (set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.03}), "two"),
    ]
    config = _replay_config(tmp_path, versions)
    _study(config, FakeTrainer(MINI_TRAIN_PY), guard=lambda context: Guard()).run()
    assert [r.status for r in _rows(config)] == ["crash", "crash", "crash"]
    run_meta = json.loads(next(Layout(config.output).root.rglob("run.json")).read_text())
    said = [w for w in run_meta["warnings"] if w.startswith("hpdream's own code or data")]
    assert len(said) == 1 and "_params.py" in said[0] and "resumes" in said[0]
    assert "hpdream's own code or data changed" in capsys.readouterr().err


def test_a_replaced_log_gets_the_harness_rows_back(tmp_path: Path) -> None:
    class Guard:
        calls = 0

        def before_experiment(self, train_py: str) -> list[str]:
            Guard.calls += 1
            if Guard.calls == 2:  # between experiments, something swaps the log
                forged = log_path.with_name("forged.csv")
                forged.write_text("study,agent\ns,forged\n")
                forged.replace(log_path)
            return []

        def after_experiment(self) -> None:
            pass

    versions = [
        (set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.05}), "one"),
        (set_constants(MINI_TRAIN_PY, {"MATRIX_LR": 0.03}), "two"),
    ]
    config = _replay_config(tmp_path, versions)
    log_path = Layout(config.output).log_path
    _study(config, FakeTrainer(MINI_TRAIN_PY), guard=lambda context: Guard()).run()
    assert [r.description for r in _rows(config)] == ["baseline", "one", "two"]
    aside = log_path.with_name("experiments.csv.replaced-1")
    assert aside.read_text() == "study,agent\ns,forged\n"
    run_meta = json.loads(next(Layout(config.output).root.rglob("run.json")).read_text())
    assert "another file had replaced the log" in run_meta["warnings"][0]


@attrs.frozen
class _Label:
    category: str
    subcategory: str | None
    multi: bool


class _Scripted:
    """A stepwise agent that reports usage, as a model-backed agent would."""

    mode = "stepwise"

    def __init__(self, setup: AgentSetup) -> None:
        self.setup = setup
        self.seen: list[StepContext] = []

    def propose(self, context: StepContext) -> Proposal | Stop:
        self.seen.append(context)
        if context.index > 2:
            return Stop("out of ideas")
        lr = 0.05 if context.index == 1 else 0.03
        return Proposal(
            description=f"MATRIX_LR -> {lr}",
            hypothesis="a higher learning rate trains faster",
            train_py=set_constants(context.train_py, {"MATRIX_LR": lr}),
            usage=Usage(input_tokens=100 * context.index, output_tokens=7, cost_usd=0.25),
            agent_seconds=12.5,
        )


def test_classifier_usage_and_the_agent_context(tmp_path: Path) -> None:
    made: list[_Scripted] = []

    def make(setup: AgentSetup) -> _Scripted:
        made.append(_Scripted(setup))
        return made[-1]

    calls: list[dict[str, Any]] = []

    def classify(
        description: str, *, hypothesis: Any = None, old_code: Any = None, new_code: Any = None
    ) -> _Label:
        calls.append(
            {"description": description, "hypothesis": hypothesis, "old": old_code, "new": new_code}
        )
        return _Label("hyperparameters", "learning_rate", False)

    config = make_config(
        tmp_path, [AgentConfig("scripted", "scripted", options={"x": 1})], experiments=10
    )
    result = _study(config, classifier=classify, make_agent=make).run()
    rows = _rows(config)
    assert len(rows) == 3 and result.runs[0].reason == "out of ideas"
    assert rows[0].category == "baseline" and len(calls) == 2  # the baseline is not classified
    assert [(r.category, r.subcategory) for r in rows[1:]] == [
        ("hyperparameters", "learning_rate")
    ] * 2
    assert calls[0]["old"] == MINI_TRAIN_PY and "MATRIX_LR = 0.05" in calls[0]["new"]
    assert [(r.input_tokens, r.output_tokens, r.cost_usd, r.agent_seconds) for r in rows[1:]] == [
        (100, 7, 0.25, 12.5),
        (200, 7, 0.25, 12.5),
    ]
    agent = made[0]
    assert agent.setup.options == {"x": 1} and agent.setup.label == "scripted"
    ctx = agent.seen[1]
    assert ctx.index == 2 and [a.index for a in ctx.history] == [0, 1]
    assert "experiment 1: keep" in ctx.history[1].message
    assert ctx.experiments_left == 8 and "run_experiment" in ctx.protocol
    assert ctx.best is not None and ctx.best.index == 1 and "MATRIX_LR = 0.05" in ctx.train_py
    meta = json.loads(Layout(config.output).run_meta("scripted", 0).read_text())
    assert meta["end_kind"] == "agent" and meta["reason"] == "out of ideas"
    # a run its agent ended is not resumed, even with a higher limit
    again = make_config(
        tmp_path, [AgentConfig("scripted", "scripted", options={"x": 1})], experiments=20
    )
    _study(again, classifier=classify, make_agent=make).run()
    assert len(_rows(config)) == 3 and len(made) == 1


def test_an_agent_is_recreated_from_its_run(tmp_path: Path) -> None:
    from hpdream_runner.agents import CoordinateSearch
    from hpdream_runner.study import recreate_agent

    options = {"params": ["MATRIX_LR"], "factor": 3.0}
    config = make_config(
        tmp_path, [AgentConfig("coordinate-search", "coord", options=options)], experiments=2
    )
    _study(config).run()
    agent = recreate_agent(config.output, "coord", 0)
    assert isinstance(agent, CoordinateSearch) and agent.options["factor"] == 3.0
    assert tuple(agent.options["params"]) == ("MATRIX_LR",)
    with pytest.raises(StudyError, match="no run 5"):
        recreate_agent(config.output, "coord", 5)


def test_stop_after_crashes_in_a_row(tmp_path: Path) -> None:
    agent = AgentConfig(
        "random-search", "rand", options={"params": ["MATRIX_LR"]}, max_crashes_in_a_row=3
    )
    config = make_config(tmp_path, [agent], experiments=50)
    trainer = FakeTrainer(MINI_TRAIN_PY, failures={"MATRIX_LR": "exception: the GPU fell off"})
    result = _study(config, trainer).run()
    assert len(_rows(config)) == 3
    assert result.runs[0].reason == "max_crashes_in_a_row: 3 crashes in a row"
    assert result.runs[0].best_val_bpb is None


def test_hours_limit(tmp_path: Path) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 100.0
        return now[0]

    agent = AgentConfig(
        "random-search", "rand", options={"params": ["MATRIX_LR"]}, experiments=None, hours=0.5
    )
    config = make_config(tmp_path, [agent], experiments=None)
    result = _study(config, clock=clock).run()
    n = len(_rows(config))
    assert 2 <= n < 10
    assert result.runs[0].reason is not None and result.runs[0].reason.startswith("hours:")


def test_no_experiment_is_started_that_would_overrun_the_hours(tmp_path: Path) -> None:
    now = [0.0]

    def advance(_n: int) -> None:
        now[0] += 60.0  # every experiment "trains" for a minute

    agent = AgentConfig(
        "random-search", "rand", options={"params": ["MATRIX_LR"]}, experiments=None, hours=0.045
    )
    config = make_config(tmp_path, [agent], experiments=None)
    trainer = FakeTrainer(MINI_TRAIN_PY, on_call=advance)
    result = _study(config, trainer, clock=lambda: now[0]).run()
    rows = _rows(config)
    # 162 s: the baseline (60 s) and one more (to 120 s); a third would end at 180 s
    assert len(rows) == 2
    assert [r.total_seconds for r in rows] == [60.0, 60.0]
    assert (
        result.runs[0].reason
        == "hours: 0.0333 of 0.045 used, too little left for another experiment (~60 s)"
    )


def test_expected_cycle() -> None:
    from hpdream_runner.study._orchestrator import expected_cycle

    def row(index: int, total: float | None, agent: float | None = None) -> Experiment:
        return Experiment.from_values(
            {
                "study": "s",
                "agent": "a",
                "run": 0,
                "index": index,
                "status": "discard",
                "val_bpb": 1.0,
                "description": "d",
                "total_seconds": total,
                "agent_seconds": agent,
            }
        )

    assert expected_cycle([]) == 0.0
    assert expected_cycle([row(0, 90.0)]) == 90.0  # only the baseline: its time
    assert expected_cycle([row(0, 90.0), row(1, 30.0, 5.0), row(2, 40.0), row(3, None)]) == 37.5
    assert expected_cycle([row(0, 90.0), row(1, 30.0), row(2, 40.0), row(3, 20.0)]) == 30.0


def test_resume_after_an_interrupt_gives_the_same_rows(tmp_path: Path) -> None:
    agents = [
        AgentConfig(
            "coordinate-search",
            "coord",
            options={"params": ["MATRIX_LR", "WARMDOWN_RATIO", "EMBEDDING_LR"]},
        ),
        AgentConfig(
            "tpe", "tpe", options={"params": ["MATRIX_LR", "WARMDOWN_RATIO"], "startup_trials": 2}
        ),
    ]
    reference = make_config(tmp_path / "ref", agents, experiments=7)
    _study(reference).run()
    expected = _stable(_rows(reference))

    config = make_config(tmp_path / "int", agents, experiments=7)
    for stop_at in (3, 9, 2, 5):  # interrupt in the middle of some training call, again and again

        def on_call(n: int, stop_at: int = stop_at) -> None:
            if n == stop_at:
                raise KeyboardInterrupt

        trainer = FakeTrainer(MINI_TRAIN_PY, on_call=on_call)
        with contextlib.suppress(KeyboardInterrupt):
            _study(config, trainer).run()
        layout = Layout(config.output)
        for label in ("coord", "tpe"):
            ws = Workspace(layout.workspace(label, 0))
            if ws.exists():
                assert ws.is_clean()  # never half-edited
        rows = _rows(config)
        assert _stable(rows) == expected[: len(rows)]
    _study(config).run()
    assert _stable(_rows(config)) == expected


def test_resume_repairs_a_workspace_killed_before_its_reset(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        [AgentConfig("random-search", "rand", options={"params": ["MATRIX_LR"]})],
        experiments=4,
    )
    _study(config).run()
    layout = Layout(config.output)
    ws = Workspace(layout.workspace("rand", 0))
    best = ws.head()
    # as if killed mid-experiment: train.py edited and committed, git's lock left behind,
    # a folder of files for an experiment that has no row, and a row cut in half
    ws.write_train_py(MINI_TRAIN_PY + "# half-done\n")
    ws.commit_experiment(4, "in flight")
    (ws.git_dir / "index.lock").write_text("")
    (layout.experiment_dir("rand", 0, 4)).mkdir(parents=True)
    with layout.log_path.open("a", encoding="utf-8", newline="") as f:
        f.write(
            'test-study,rand,0,4,2026-01-01T00:00:00Z,discard,1.7,,,,,unknown,,false,"cut in the mid'
        )
    bigger = make_config(
        tmp_path,
        [AgentConfig("random-search", "rand", options={"params": ["MATRIX_LR"]})],
        experiments=6,
    )
    _study(bigger).run()
    rows = _rows(config)
    assert [r.index for r in rows] == list(range(6))
    assert rows[4].description != "cut in the mid"
    assert (
        (layout.log_path.parent / "experiments.csv.cut")
        .read_text()
        .startswith("test-study,rand,0,4")
    )
    assert ws.is_clean() and not (ws.git_dir / "index.lock").exists()
    kept = [r for r in rows if r.status == "keep"][-1]
    assert ws.head() == kept.commit
    assert best in {r.commit for r in rows[:4]}


def test_lost_workspace_is_rebuilt_from_the_snapshots(tmp_path: Path) -> None:
    import shutil

    agent = AgentConfig("coordinate-search", "coord", options={"params": ["MATRIX_LR"]})
    config = make_config(tmp_path, [agent], experiments=3)
    _study(config).run()
    layout = Layout(config.output)
    best_before = Workspace(layout.workspace("coord", 0)).read_train_py()
    shutil.rmtree(layout.workspace("coord", 0))
    _study(make_config(tmp_path, [agent], experiments=5)).run()
    assert Workspace(layout.workspace("coord", 0)).is_clean()
    rows = _rows(config)
    assert len(rows) == 5
    assert "MATRIX_LR = 0.08" in best_before and rows[3].description.startswith("MATRIX_LR 0.08 ->")


def test_a_locked_study_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path, [AgentConfig("random-search", "rand")], experiments=2)
    layout = Layout(config.output)
    layout.root.mkdir(parents=True)
    with layout.lock_path.open("a+") as f:
        f.write("pid 99999\n")
        f.flush()
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StudyError, match="being run by pid 99999"):
            _study(config).run()
    _study(config).run()  # free again
    assert len(_rows(config)) == 2


def test_changed_settings_are_refused_on_resume(tmp_path: Path) -> None:
    config = make_config(tmp_path, [AgentConfig("random-search", "rand")], experiments=2)
    _study(config).run()
    changed = attrs.evolve(config, keep=KeepRule(0.5))
    with pytest.raises(StudyConfigError, match="keep"):
        _study(changed).run()
    other_baseline = make_config(
        tmp_path,
        [AgentConfig("random-search", "rand")],
        experiments=2,
        train_py=MINI_TRAIN_PY + "X = 1\n",
    )
    with pytest.raises(StudyError, match=r"baseline train\.py differs"):
        _study(other_baseline).run()


def test_the_default_guard_lets_a_typo_crash_and_catches_a_cheat(tmp_path: Path) -> None:
    from hpdream_runner.study import GuardContext, default_guard
    from hpdream_runner.training import baseline_train_py

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "program.md").write_text("protocol\n")
    log = tmp_path / "experiments.csv"
    log.write_text("")
    context = GuardContext("s", "a", 0, ws, log, tmp_path / "run", (ws / "program.md",))
    guard = default_guard(context)
    base = baseline_train_py("cpu-tiny")
    assert guard.before_experiment(base) == []
    assert guard.before_experiment(base.replace("DEPTH = 2", "DEPTH = = 2")) == []  # a crash, later
    cheat = base.replace("run = harness.start(globals())", "run = None")
    assert any("harness" in p for p in guard.before_experiment(cheat))
    (ws / "program.md").write_text("tampered\n")
    assert any("program.md" in p for p in guard.before_experiment(base))


def test_a_trainer_that_refuses_the_request_stops_the_study(tmp_path: Path) -> None:
    from hpdream_core import HpdreamError

    def refuse(train_py: Path, **kwargs: Any) -> Any:
        raise HpdreamError("unknown preset 'cpu-huge'")

    config = make_config(tmp_path, [AgentConfig("random-search", "rand")], experiments=3)
    with pytest.raises(StudyError, match=r"training cannot run.*cpu-huge"):
        _study(config, refuse).run()
    assert _rows(config) == []
    assert Workspace(Layout(config.output).workspace("rand", 0)).is_clean()


def test_an_agent_error_stops_its_run_only(tmp_path: Path) -> None:
    agents = [
        AgentConfig("random-search", "broken", options={"params": ["NOPE"]}),
        AgentConfig("random-search", "fine", options={"params": ["MATRIX_LR"]}),
    ]
    config = make_config(tmp_path, agents, experiments=3)
    result = _study(config).run()
    broken, fine = result.runs
    assert broken.state == "stopped" and "NOPE" in (broken.reason or "")
    assert broken.experiments == 1  # the baseline ran
    assert fine.state == "finished" and fine.experiments == 3
