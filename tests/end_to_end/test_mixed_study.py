"""A study file mixing a CLI agent, an HTTP agent and a built-in agent runs end to end.

The CLI agent is the fake Claude Code (tests/runner/fakes/fake_claude.py),
which prints Claude Code's real stream-json events and runs experiments
through the workspace's ``run_experiment``; the HTTP agent talks to a
loopback OpenAI-compatible server; the built-in agent is random search.
Training is the synthetic trainer, so the whole study takes about a second.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pytest

from hpdream_core import read_log
from hpdream_runner.agents import get_agent
from hpdream_runner.agents.containment import containment_guard
from hpdream_runner.agents.transcript import read_transcript
from hpdream_runner.study import Study, load_study

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "runner" / "fakes"
sys.path.insert(0, str(FAKES))

from chat_server import EDIT, READ, RUN, ChatServer  # noqa: E402  (fakes is not a package)

CLAUDE_KEY = "sk-ant-api03-ZmFrZS1rZXktZm9yLWEtbWl4ZWQtc3R1ZHk"
LOCAL_KEY = "sk-local-bG9vcGJhY2stc2VydmVyLWtleQ"


def write_study(folder: Path, server_url: str) -> Path:
    (folder / "prices.toml").write_text(
        '[models."qwen3-coder"]\ninput = 0.10\noutput = 0.40\nsource = "our GPU hours"\n',
        encoding="utf-8",
    )
    run_argv = json.dumps(["./run_experiment", "{description}", "--hypothesis", "{hypothesis}"])
    study = f"""
name = "mixed-e2e"
seed = 3
experiments = 5

[training]
preset = "cpu-tiny"
trainer = "synthetic"

[[agents]]
adapter = "claude-code"
label = "claude-fake"
options = {{ executable = "{FAKES / "fake_claude.py"}", model = "claude-sonnet-4-6", relaunch_delay = 0.0, env = {{ FAKE_RUN = '{run_argv}', FAKE_EXPERIMENTS = "3" }} }}
limits = {{ max_seconds = 60, max_cost_usd = 5.0 }}

[[agents]]
adapter = "openai-compatible"
label = "local-qwen"
options = {{ model = "qwen3-coder", base_url = "{server_url}", prices = "prices.toml" }}
limits = {{ max_step_turns = 6 }}

[[agents]]
adapter = "random-search"
label = "random"
"""
    path = folder / "study.toml"
    path.write_text(study, encoding="utf-8")
    return path


def test_a_mixed_study_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", CLAUDE_KEY)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", LOCAL_KEY)
    with ChatServer([READ, EDIT, RUN] + [READ, RUN] * 10) as server:
        config = load_study(write_study(tmp_path, server.url), output=tmp_path / "out")
        # the guard checks the log, the workspace's harness files and train.py; hpdream's own
        # code is left out here (other tests cover it) so that an edit to the source tree
        # while this test runs cannot make it fail
        guard = functools.partial(containment_guard, protected=())
        result = Study(config, guard=guard, handle_signals=False).run()
    assert [r.state for r in result.runs] == ["finished"] * 3
    rows = read_log(result.log_path).experiments
    by_agent = {
        label: [r for r in rows if r.agent == label]
        for label in ("claude-fake", "local-qwen", "random")
    }
    for label, agent_rows in by_agent.items():
        assert [r.index for r in agent_rows] == [0, 1, 2, 3, 4], label
        assert all(r.status != "crash" for r in agent_rows), [
            (r.index, r.error) for r in agent_rows
        ]
    # the CLI agent: tokens, cost (as Claude Code reports it) and agent time on every experiment
    for r in by_agent["claude-fake"][1:]:
        assert r.input_tokens and r.output_tokens and r.cost_usd and r.cost_usd > 0
        assert r.agent_seconds is not None and r.description
    # the HTTP agent: tokens, and cost from the study's own price table
    for r in by_agent["local-qwen"][1:]:
        assert r.input_tokens and r.input_tokens > 0 and r.output_tokens
        assert r.cost_usd == pytest.approx((r.input_tokens * 0.10 + r.output_tokens * 0.40) / 1e6)
    assert by_agent["local-qwen"][1].hypothesis == "less noise"
    # the built-in agent uses no model
    assert all(r.input_tokens is None and r.cost_usd is None for r in by_agent["random"])
    # transcripts: the CLI's events and relaunches, the HTTP agent's tool calls
    claude = read_transcript(result.output / "runs" / "claude-fake" / "run-0" / "transcript.jsonl")
    kinds = {e.kind for e in claude}
    assert {"session", "tool_call", "tool_result", "usage", "experiment", "relaunch"} <= kinds
    assert claude.header["adapter"] == "claude-code"
    summary = json.loads(
        (result.output / "runs" / "claude-fake" / "run-0" / "agent.json").read_text()
    )
    assert summary["adapter"] == "claude-code" and summary["relaunches"] >= 1
    assert summary["reason"].startswith("stopped") and summary["usage"]["turns"] > 0
    local = read_transcript(result.output / "runs" / "local-qwen" / "run-0" / "transcript.jsonl")
    assert {"tool_call", "tool_result", "usage"} <= {e.kind for e in local}
    # keys never reach a file the study wrote
    for path in result.output.rglob("*"):
        if path.is_file() and not path.name.startswith("fake-"):
            text = path.read_text(errors="replace")
            assert CLAUDE_KEY not in text and LOCAL_KEY not in text, path
    # the loopback server saw the local key on every request, and nothing else secret
    assert all(h["authorization"] == f"Bearer {LOCAL_KEY}" for _, h, _ in server.seen)
    assert all(CLAUDE_KEY not in json.dumps(body) for _, _, body in server.seen)


def test_the_example_mixed_study_is_valid() -> None:
    config = load_study(
        REPO / "examples" / "mixed-study.toml", output=REPO / "runs" / "never-written"
    )
    adapters = {a.adapter for a in config.agents}
    assert adapters == {"claude-code", "openai", "random-search"}
    modes = {get_agent(a.adapter).mode for a in config.agents}
    assert modes == {"autonomous", "stepwise"}
    for agent in config.agents:
        get_agent(agent.adapter).parse_options(agent.options)
