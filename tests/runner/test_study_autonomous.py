"""Autonomous agents: the agent runs ./run_experiment itself; the orchestrator serves it over a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hpdream_core import read_log
from hpdream_runner.agents import (
    AgentSetup,
    ExperimentOutcome,
    RunContext,
    RunEnd,
    StepReport,
    Usage,
    set_constants,
)
from hpdream_runner.study import AgentConfig, ExperimentServer, Layout, Study, socket_path_for
from hpdream_runner.study._run_experiment import EXIT_CRASH, EXIT_OK, EXIT_OVER
from tests.runner.study_helpers import MINI_TRAIN_PY, FakeTrainer, make_config, no_guard


def _run_experiment(ws: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # the agent's environment is built from nothing: PATH and what the harness passes
    return subprocess.run(
        ["./run_experiment", *args],
        cwd=ws,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


class FakeSession:
    """Edits train.py and runs ./run_experiment, as a coding agent in its terminal would."""

    def __init__(
        self, context: RunContext, plan: list[tuple[float, str]], use_env: bool = True
    ) -> None:
        self.context = context
        self.plan = plan
        self.use_env = use_env
        self.stopped: str | None = None
        self.outputs: list[subprocess.CompletedProcess[str]] = []
        self.begun = 0
        self.outcomes: list[ExperimentOutcome] = []
        self.log_output = ""

    def run(self) -> RunEnd:
        ws = self.context.workspace
        env = dict(self.context.env) if self.use_env else {}
        for lr, description in self.plan:
            # like a CLI busy with its next step, it notices stop() only when run_experiment refuses
            source = (ws / "train.py").read_text()
            (ws / "train.py").write_text(
                set_constants(source, {"MATRIX_LR": lr}) if lr else source + "# RAISE\n"
            )
            proc = _run_experiment(ws, env, description, "--hypothesis", f"because {lr}")
            self.outputs.append(proc)
            if proc.returncode == EXIT_OVER:
                break
        self.log_output = _run_experiment(ws, env, "--log").stdout
        return RunEnd("the plan is done" if not self.stopped else f"stopped: {self.stopped}")

    def begin_experiment(self) -> StepReport:
        self.begun += 1
        return StepReport(
            Usage(input_tokens=1000 * self.begun, output_tokens=50, cost_usd=0.5), agent_seconds=3.0
        )

    def end_experiment(self, outcome: ExperimentOutcome) -> None:
        self.outcomes.append(outcome)

    def stop(self, reason: str) -> None:
        self.stopped = reason


class FakeAutonomous:
    mode = "autonomous"

    def __init__(self, plan: list[tuple[float, str]], use_env: bool = True) -> None:
        self.plan = plan
        self.use_env = use_env
        self.sessions: list[FakeSession] = []
        self.contexts: list[RunContext] = []

    def start(self, context: RunContext) -> FakeSession:
        self.contexts.append(context)
        self.sessions.append(FakeSession(context, self.plan, self.use_env))
        return self.sessions[-1]


def _study(config: Any, agent: FakeAutonomous) -> Study:
    return Study(
        config,
        trainer=FakeTrainer(MINI_TRAIN_PY, failures={"# RAISE": "exception: ValueError: boom"}),
        guard=no_guard,
        classifier=None,
        make_agent=lambda setup: agent,
        handle_signals=False,
        poll_seconds=0.02,
    )


@pytest.mark.parametrize("use_env", [True, False])
def test_an_autonomous_agent_runs_experiments_through_the_workspace(
    tmp_path: Path, use_env: bool
) -> None:
    plan = [
        (0.064, "raise MATRIX_LR"),
        (0.0, "something that raises"),
        (0.02, "lower MATRIX_LR"),
        (0.05, "one more"),
    ]
    agent = FakeAutonomous(plan, use_env)
    config = make_config(tmp_path, [AgentConfig("fake-cli", "cli")], experiments=4)
    result = _study(config, agent).run()
    rows = list(read_log(Layout(config.output).log_path).experiments)
    assert [r.status for r in rows] == ["keep", "keep", "crash", "discard"]
    assert [r.description for r in rows[1:]] == [
        "raise MATRIX_LR",
        "something that raises",
        "lower MATRIX_LR",
    ]
    assert rows[1].hypothesis == "because 0.064"
    assert [(r.input_tokens, r.output_tokens, r.cost_usd, r.agent_seconds) for r in rows[1:]] == [
        (1000, 50, 0.5, 3.0),
        (2000, 50, 0.5, 3.0),
        (3000, 50, 0.5, 3.0),
    ]
    session = agent.sessions[0]
    codes = [p.returncode for p in session.outputs]
    assert codes == [EXIT_OK, EXIT_CRASH, EXIT_OK, EXIT_OVER]
    assert "experiment 1: keep" in session.outputs[0].stdout
    assert "val_bpb:" in session.outputs[0].stdout
    assert "exception: ValueError: boom" in session.outputs[1].stdout
    assert "limits are reached" in session.outputs[2].stdout
    assert "this run is over" in session.outputs[3].stdout
    assert session.stopped is not None and session.stopped.startswith("experiments:")
    assert [o.experiment.index for o in session.outcomes] == [1, 2, 3]
    assert session.outcomes[-1].last
    assert session.log_output.splitlines()[0] == "index\tstatus\tval_bpb\tdescription"
    assert [line.split("\t")[1] for line in session.log_output.splitlines()[1:]] == [
        "keep",
        "keep",
        "crash",
        "discard",
    ]
    ctx = agent.contexts[0]
    ws = Layout(config.output).workspace("cli", 0)
    assert ctx.workspace == ws and ctx.run_command == "./run_experiment"
    assert ctx.env == {"HPDREAM_RUN_SOCKET": str(socket_path_for(ws))}
    assert not ctx.log_path.is_relative_to(ws) and not ctx.home.is_relative_to(ws)
    assert not ctx.transcript_path.is_relative_to(ws)
    assert "Do not stop" in ctx.prompt and ctx.experiments_left == 3
    assert result.runs[0].state == "finished"
    assert not socket_path_for(ws).exists()  # the harness stopped listening


def test_run_experiment_without_a_harness_says_so(tmp_path: Path) -> None:
    config = make_config(tmp_path, [AgentConfig("fake-cli", "cli")], experiments=1)
    _study(config, FakeAutonomous([])).run()
    ws = Layout(config.output).workspace("cli", 0)
    proc = _run_experiment(ws, {}, "anything")
    assert (
        proc.returncode == EXIT_OVER and "no hpdream study is running this workspace" in proc.stderr
    )
    usage = _run_experiment(ws, {}, "")
    assert usage.returncode == 2 and "give a description" in usage.stderr


def test_the_server_refuses_bad_requests(tmp_path: Path) -> None:
    path = Path("/tmp") / f"hpdream-test-{os.getpid()}-{threading.get_ident()}.sock"
    with ExperimentServer(path) as server:
        for payload, reason in (
            (b"not json\n", "bad request"),
            (b'{"op": "run"}\n', "needs a description"),
            (b'{"op": "rm"}\n', "unknown op"),
        ):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(path))
                s.sendall(payload)
                reply = json.loads(s.makefile().readline())
            assert reply["event"] == "done" and reply["exit"] == 2 and reason in reply["text"]
        assert server.next_request(0.05) is None
        # a good request is queued for the orchestrator's thread
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(path))
            s.sendall(b'{"op": "run", "description": "d", "hypothesis": null}\n')
            request = server.next_request(5)
            assert request is not None and request.op == "run" and request.description == "d"
            request.finish("done!", 0)
            assert json.loads(s.makefile().readline()) == {
                "event": "done",
                "text": "done!",
                "exit": 0,
            }
    assert not path.exists()


def test_the_client_module_runs_stand_alone(tmp_path: Path) -> None:
    """The workspace's run_experiment is plain Python: no hpdream import (the agent may lack it)."""
    config = make_config(tmp_path, [AgentConfig("fake-cli", "cli")], experiments=1)
    _study(config, FakeAutonomous([])).run()
    script = (Layout(config.output).workspace("cli", 0) / "run_experiment").read_text()
    assert script.startswith(f"#!{sys.executable}\n")
    assert "import hpdream" not in script and "from hpdream" not in script
    assert str(socket_path_for(Layout(config.output).workspace("cli", 0))) in script


def test_setup_reaches_the_factory(tmp_path: Path) -> None:
    seen: list[AgentSetup] = []
    agent = FakeAutonomous([])
    config = make_config(
        tmp_path,
        [AgentConfig("fake-cli", "cli", options={"model": "m"}, limits={"max_turns": 3})],
        experiments=2,
    )

    def make(setup: AgentSetup) -> FakeAutonomous:
        seen.append(setup)
        return agent

    Study(
        config,
        trainer=FakeTrainer(MINI_TRAIN_PY),
        guard=no_guard,
        classifier=None,
        make_agent=make,
        handle_signals=False,
    ).run()
    assert seen[0].options == {"model": "m"} and seen[0].limits == {"max_turns": 3}
    assert seen[0].study_dir == config.output and seen[0].study == "test-study"
    assert agent.contexts[0].limits == {"max_turns": 3}


class _Deaf:
    """A session that ignores stop() (a hung CLI the adapter failed to kill)."""

    mode = "autonomous"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = threading.Event()
        self.stopped: list[str] = []

    def start(self, context: RunContext) -> _Deaf:
        return self

    def run(self) -> RunEnd:
        self.running.set()
        self.release.wait(30)
        return RunEnd("released")

    def begin_experiment(self) -> StepReport:
        return StepReport()

    def end_experiment(self, outcome: ExperimentOutcome) -> None:
        return None

    def stop(self, reason: str) -> None:
        self.stopped.append(reason)


def test_a_session_that_ignores_stop_is_left_behind(tmp_path: Path) -> None:
    deaf = _Deaf()
    now = [0.0]

    def clock() -> float:
        if deaf.running.is_set():
            now[0] += 1.0  # time passes once the agent works (one second per look at the clock)
        return now[0]

    agent = AgentConfig("deaf", "deaf", experiments=None, hours=0.01)  # 36 s of that clock
    config = make_config(tmp_path, [agent], experiments=None)
    study = Study(
        config,
        trainer=FakeTrainer(MINI_TRAIN_PY),
        guard=no_guard,
        classifier=None,
        make_agent=lambda setup: deaf,
        handle_signals=False,
        poll_seconds=0.01,
        stop_timeout=5.0,
        clock=clock,
    )
    try:
        result = study.run()
    finally:
        deaf.release.set()
    assert deaf.stopped and deaf.stopped[0].startswith("hours:")
    assert result.runs[0].state == "finished"
    assert result.runs[0].reason and result.runs[0].reason.startswith("hours:")
    meta = json.loads(Layout(config.output).run_meta("deaf", 0).read_text())
    assert any("did not end within 5 s" in w for w in meta["warnings"])
