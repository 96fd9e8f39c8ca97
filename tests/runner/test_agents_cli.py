"""The coding-agent CLI adapters: event parsers, command lines, and whole runs with fake CLIs."""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import read_log
from hpdream_runner.agents.cli import (
    CLI_ADAPTERS,
    ClaudeCodeAdapter,
    ClaudeStreamParser,
    CliSession,
    CodexAdapter,
    CodexStreamParser,
    GeminiCliAdapter,
    GeminiStreamParser,
)
from hpdream_runner.agents.containment import containment_guard
from hpdream_runner.agents.limits import RunLimits
from hpdream_runner.agents.options import AgentConfigError
from hpdream_runner.agents.pricing import PriceTable
from hpdream_runner.agents.redact import Redactor
from hpdream_runner.agents.transcript import TranscriptWriter, Usage, read_transcript
from hpdream_runner.study import Study, parse_study

FAKES = Path(__file__).resolve().parent / "fakes"
sys.path.insert(0, str(FAKES))

from experiments import ExperimentDesk  # noqa: E402  (the fakes folder is not a package)

KEY = "sk-test-Q2hlY2sgdGhhdCB0aGlzIG5ldmVyIGxlYWtz"
FAKE_OF = {"claude-code": "fake_claude.py", "codex": "fake_codex.py", "gemini": "fake_gemini.py"}
MODEL_OF = {
    "claude-code": "claude-sonnet-4-6",
    "codex": "gpt-5.4",
    "gemini": "gemini-3-flash-preview",
}
PRICES = PriceTable.default()


def lines(*objs: dict[str, Any]) -> list[str]:
    return [json.dumps(o) for o in objs]


# -- Claude Code stream-json --------------------------------------------------------------

CLAUDE_USAGE = {
    "input_tokens": 10,
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 3000,
    "output_tokens": 50,
}


def claude_message(
    msg_id: str, *blocks: dict[str, Any], usage: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": list(blocks),
            "stop_reason": None,
            "usage": usage or CLAUDE_USAGE,
        },
        "parent_tool_use_id": None,
        "session_id": "sess-1",
    }


def test_claude_parser_reads_session_messages_tools_and_counts_each_message_once() -> None:
    p = ClaudeStreamParser(lambda m, u: PRICES.priced(m, u))
    out = [
        p.feed(x)
        for x in lines(
            {
                "type": "system",
                "subtype": "init",
                "session_id": "sess-1",
                "model": "claude-opus-4-6[1m]",
                "tools": ["Bash"],
                "permissionMode": "acceptEdits",
            },
            claude_message("msg_1", {"type": "thinking", "thinking": "hmm", "signature": "x"}),
            claude_message("msg_1", {"type": "text", "text": "Let me lower the LR."}),
            claude_message(
                "msg_1",
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "Edit",
                    "input": {"file_path": "train.py"},
                },
            ),
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": "toolu_1",
                            "type": "tool_result",
                            "content": [{"type": "text", "text": "updated"}],
                        }
                    ],
                },
                "session_id": "sess-1",
            },
            {
                "type": "system",
                "subtype": "compact_boundary",
                "session_id": "sess-1",
                "compact_metadata": {"trigger": "auto", "pre_tokens": 190000},
            },
        )
    ]
    assert p.session_id == "sess-1"
    kinds = [e.kind for o in out for e in o.events]
    assert kinds == [
        "session",
        "thinking",
        "usage",
        "message",
        "tool_call",
        "tool_result",
        "compaction",
    ]
    tool = next(e for o in out for e in o.events if e.kind == "tool_call")
    assert (tool.tool, tool.call_id, tool.data["input"]) == (
        "Edit",
        "toolu_1",
        {"file_path": "train.py"},
    )
    result = next(e for o in out for e in o.events if e.kind == "tool_result")
    assert result.text == "updated" and result.call_id == "toolu_1"
    total = sum((o.usage for o in out), Usage())
    assert total.turns == 1  # three events of one message: one response
    assert (
        total.input_tokens == 3210
        and total.cached_input_tokens == 3000
        and total.cache_write_tokens == 200
    )
    assert total.output_tokens == 50
    expected = PRICES.cost("claude-opus-4-6", total)
    assert total.cost_usd == pytest.approx(expected)


def test_claude_result_is_authoritative_and_reconciles_cost() -> None:
    p = ClaudeStreamParser(lambda m, u: PRICES.priced(m, u))
    attributed = Usage()
    for x in lines(
        claude_message("m1", {"type": "text", "text": "a"}),
        claude_message("m2", {"type": "text", "text": "b"}),
    ):
        attributed = attributed + p.feed(x).usage
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 3,
        "result": "done",
        "session_id": "sess-1",
        "total_cost_usd": 0.5,
        "usage": {
            "input_tokens": 25,
            "cache_creation_input_tokens": 400,
            "cache_read_input_tokens": 6000,
            "output_tokens": 130,
        },
    }
    last = p.feed(json.dumps(result))
    attributed = attributed + last.usage
    assert attributed.cost_usd == pytest.approx(0.5)
    assert attributed.input_tokens == 25 + 400 + 6000 and attributed.output_tokens == 130
    assert attributed.turns == 3
    assert p.end is not None and not p.end.is_error and p.end.text == "done"


def test_claude_error_result_and_assistant_error_are_errors() -> None:
    p = ClaudeStreamParser()
    a = p.feed(
        json.dumps(
            {
                **claude_message("m", {"type": "text", "text": "API Error: 401"}),
                "error": "authentication_failed",
            }
        )
    )
    b = p.feed(
        json.dumps(
            {
                "type": "result",
                "subtype": "error_max_turns",
                "is_error": True,
                "num_turns": 9,
                "session_id": "s",
                "usage": {},
            }
        )
    )
    assert [e.kind for e in a.events][-2:] == ["error", "usage"] or "error" in [
        e.kind for e in a.events
    ]
    assert "error" in [e.kind for e in b.events]
    assert p.end is not None and p.end.is_error and p.end.subtype == "error_max_turns"
    assert len(p.errors) == 2


def test_non_json_output_is_kept_as_raw() -> None:
    for parser in (ClaudeStreamParser(), CodexStreamParser(), GeminiStreamParser()):
        out = parser.feed("Warning: something printed as text\n")
        assert [e.kind for e in out.events] == ["raw"]
        assert parser.feed("   \n").events == ()


@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 500), st.integers(0, 500)),
        min_size=1,
        max_size=20,
    )
)
def test_claude_messages_repeated_in_any_order_are_counted_by_their_largest_usage(
    events: list[tuple[int, int, int]],
) -> None:
    p = ClaudeStreamParser()
    total = Usage()
    largest: dict[int, tuple[int, int]] = {}
    for msg, inp, out in events:
        usage = {"input_tokens": inp, "output_tokens": out}
        total = (
            total
            + p.feed(
                json.dumps(claude_message(f"m{msg}", {"type": "text", "text": "x"}, usage=usage))
            ).usage
        )
        a, b = largest.get(msg, (0, 0))
        largest[msg] = (max(a, inp), max(b, out))
    assert total.turns == len(largest)
    assert total.input_tokens == sum(a for a, _ in largest.values())
    assert total.output_tokens == sum(b for _, b in largest.values())


# -- Codex exec --json ----------------------------------------------------------------------


def test_codex_parser_reads_items_usage_and_failures() -> None:
    p = CodexStreamParser(lambda m, u: PRICES.priced(m, u), model="gpt-5.4")
    cmd = {
        "id": "item_2",
        "type": "command_execution",
        "command": "bash -lc 'python run_experiment.py'",
        "aggregated_output": "",
        "exit_code": None,
        "status": "in_progress",
    }
    out = [
        p.feed(x)
        for x in lines(
            {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
            {"type": "turn.started"},
            {
                "type": "item.completed",
                "item": {"id": "item_0", "type": "reasoning", "text": "**Plan**"},
            },
            {
                "type": "item.completed",
                "item": {"id": "item_1", "type": "agent_message", "text": "Trying a lower LR."},
            },
            {"type": "item.started", "item": cmd},
            {
                "type": "item.completed",
                "item": {
                    **cmd,
                    "aggregated_output": "val_bpb 1.02",
                    "exit_code": 0,
                    "status": "completed",
                },
            },
            {
                "type": "item.completed",
                "item": {
                    "id": "item_3",
                    "type": "file_change",
                    "changes": [{"path": "train.py", "kind": "update"}],
                    "status": "completed",
                },
            },
            {
                "type": "turn.completed",
                "usage": {
                    "input_tokens": 24763,
                    "cached_input_tokens": 24448,
                    "output_tokens": 122,
                },
            },
        )
    ]
    assert p.session_id == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    kinds = [e.kind for o in out for e in o.events]
    assert kinds == [
        "session",
        "thinking",
        "message",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "usage",
    ]
    total = sum((o.usage for o in out), Usage())
    assert total.turns == 3  # message, command, file change
    assert (total.input_tokens, total.cached_input_tokens, total.output_tokens) == (
        24763,
        24448,
        122,
    )
    assert total.cost_usd == pytest.approx((315 * 2.5 + 24448 * 0.25 + 122 * 15) / 1e6)
    failed = p.feed(
        json.dumps({"type": "turn.failed", "error": {"message": "429 Too Many Requests"}})
    )
    assert failed.events[0].kind == "error" and "429" in failed.events[0].text
    assert p.end is not None and p.end.is_error


# -- Gemini CLI stream-json -------------------------------------------------------------------


def test_gemini_parser_joins_deltas_counts_turns_and_thoughts() -> None:
    p = GeminiStreamParser(lambda m, u: PRICES.priced(m, u))
    out = [
        p.feed(x)
        for x in lines(
            {
                "type": "init",
                "timestamp": "2026-01-01T00:00:00Z",
                "session_id": "g-1",
                "model": "gemini-3-flash-preview",
            },
            {"type": "message", "role": "user", "content": "Do research"},
            {"type": "message", "role": "assistant", "content": "I will ", "delta": True},
            {"type": "message", "role": "assistant", "content": "edit.", "delta": True},
            {
                "type": "tool_use",
                "tool_name": "replace",
                "tool_id": "t1",
                "parameters": {"file_path": "train.py"},
            },
            {"type": "tool_result", "tool_id": "t1", "status": "success", "output": ""},
            {
                "type": "tool_use",
                "tool_name": "run_shell_command",
                "tool_id": "t2",
                "parameters": {"command": "python run_experiment.py"},
            },
            {
                "type": "tool_result",
                "tool_id": "t2",
                "status": "error",
                "error": {"type": "shell", "message": "exit 1"},
            },
            {"type": "error", "severity": "warning", "message": "Loop detected"},
            {
                "type": "result",
                "status": "success",
                "stats": {
                    "total_tokens": 1300,
                    "input_tokens": 1000,
                    "output_tokens": 200,
                    "cached": 400,
                    "input": 600,
                    "duration_ms": 5,
                    "tool_calls": 2,
                },
            },
        )
    ]
    events = [e for o in out for e in o.events]
    assert [e.kind for e in events] == [
        "session",
        "prompt",
        "message",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "error",
        "result",
        "usage",
    ]
    assert events[2].text == "I will edit."
    assert events[6].text == "exit 1"
    total = sum((o.usage for o in out), Usage())
    assert total.turns == 2
    assert (
        total.input_tokens,
        total.cached_input_tokens,
        total.output_tokens,
        total.reasoning_tokens,
    ) == (1000, 400, 300, 100)
    assert total.cost_usd == pytest.approx((600 * 0.5 + 400 * 0.05 + 300 * 3.0) / 1e6)


def test_gemini_error_result() -> None:
    p = GeminiStreamParser()
    out = p.feed(
        json.dumps(
            {
                "type": "result",
                "status": "error",
                "error": {"type": "FatalTurnError", "message": "quota"},
                "stats": {},
            }
        )
    )
    assert "error" in [e.kind for e in out.events]
    assert p.end is not None and p.end.is_error and p.end.text == "quota"


# -- command lines ----------------------------------------------------------------------------


def test_claude_command_line() -> None:
    a = ClaudeCodeAdapter({"model": "claude-opus-4-6[1m]", "max_turns": 500})
    argv = a.command(prompt="PROTOCOL", session_id=None, run_command="python run_experiment.py")
    assert argv[:5] == ["-p", "PROTOCOL", "--output-format", "stream-json", "--verbose"]
    assert argv[argv.index("--model") + 1] == "claude-opus-4-6[1m]"
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert "Bash(python run_experiment.py:*)" in argv[argv.index("--allowedTools") + 1]
    assert argv[argv.index("--max-turns") + 1] == "500"
    assert "--resume" not in argv
    resumed = a.command(prompt="go on", session_id="abc", run_command="x")
    assert resumed[resumed.index("--resume") + 1] == "abc"


def test_codex_command_line() -> None:
    a = CodexAdapter({"model": "gpt-5.4", "network_access": True})
    argv = a.command(prompt="PROTOCOL", session_id=None, run_command="x")
    assert argv[:5] == ["exec", "--json", "--sandbox", "workspace-write", "--model"]
    assert "sandbox_workspace_write.network_access=true" in argv
    assert argv[-1] == "PROTOCOL"
    resumed = a.command(prompt="go on", session_id="th-1", run_command="x")
    assert resumed[-3:] == ["resume", "th-1", "go on"]


def test_gemini_command_line() -> None:
    a = GeminiCliAdapter({"model": "gemini-3-flash-preview"})
    argv = a.command(prompt="PROTOCOL", session_id="g-9", run_command="python run_experiment.py")
    assert argv[:4] == ["--prompt", "PROTOCOL", "--output-format", "stream-json"]
    assert argv[argv.index("--approval-mode") + 1] == "auto_edit"
    assert "run_shell_command(python run_experiment.py)" in argv[argv.index("--allowed-tools") + 1]
    assert argv[argv.index("--resume") + 1] == "g-9"


def test_bad_options_are_named() -> None:
    with pytest.raises(AgentConfigError, match=r"agent 'codex': unknown options \['sandbx'\]"):
        CodexAdapter({"sandbx": "workspace-write"})
    with pytest.raises(AgentConfigError, match=r"'sandbox'.*not one of"):
        CodexAdapter({"sandbox": "everything"})
    with pytest.raises(AgentConfigError, match=r"'max_relaunches'.*>= 0"):
        ClaudeCodeAdapter({"max_relaunches": -1})


def test_usability_needs_executable_and_key(tmp_path: Path) -> None:
    exe = tmp_path / "claude"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    a = ClaudeCodeAdapter()
    missing = a.usability({"PATH": str(tmp_path / "nowhere")})
    assert not missing.usable and len(missing.problems) == 2
    ok = a.usability({"PATH": str(tmp_path), "ANTHROPIC_API_KEY": KEY})
    assert ok.usable and ok.executable == str(exe) and ok.key_env == "ANTHROPIC_API_KEY"


# -- whole runs with fake CLIs ---------------------------------------------------------------


class Run:
    """One agent run of a fake CLI against the test's experiment desk."""

    def __init__(self, tmp: Path, cli: str, **env: str) -> None:
        self.tmp = tmp
        self.cli = cli
        self.workspace = tmp / "workspace"
        self.workspace.mkdir(parents=True)
        (self.workspace / "train.py").write_text("DEPTH = 4\nMATRIX_LR = 0.04\n", encoding="utf-8")
        self.home = tmp / "agent-home"
        self.env = env

    def go(
        self,
        *,
        stop_after: int | None = None,
        limits: RunLimits | None = None,
        guard: Any = None,
        **options: Any,
    ) -> Any:
        with ExperimentDesk(self.workspace, guard=guard) as desk:
            opts = {
                "executable": str(FAKES / FAKE_OF[self.cli]),
                "model": MODEL_OF[self.cli],
                "env": {"FAKE_RUN": json.dumps(desk.run_argv), **self.env},
                "relaunch_delay": 0.0,
                "kill_grace": 1.0,
                **options,
            }
            adapter = CLI_ADAPTERS[self.cli](opts)
            redactor = Redactor([KEY])
            self.transcript_path = self.tmp / "session.jsonl"
            with TranscriptWriter(
                self.transcript_path, redactor=redactor, header={"agent": self.cli}
            ) as tw:
                session = CliSession(
                    adapter,
                    workspace=self.workspace,
                    home=self.home,
                    prompt="PROTOCOL: improve train.py, run `python run_experiment.py`, repeat.",
                    run_command="python run_experiment.py",
                    limits=limits or RunLimits(max_seconds=60),
                    key=KEY,
                    transcript=tw,
                    redactor=redactor,
                    environ={
                        "PATH": "/usr/bin:/bin",
                        "SECRET_TOKEN": "do-not-pass",
                        "LANG": "C.UTF-8",
                    },
                )
                desk.session = session
                if stop_after is not None:

                    def stopper() -> None:
                        while len(desk.rows) < stop_after:
                            time.sleep(0.02)
                        session.stop("experiment budget spent")

                    threading.Thread(target=stopper, daemon=True).start()
                self.outcome = session.run()
            self.rows = list(desk.rows)
        return self.outcome

    def launch(self, n: int) -> dict[str, Any]:
        return json.loads((self.home / f"fake-launch-{n}.json").read_text())


@pytest.fixture(params=sorted(FAKE_OF))
def cli(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_a_run_produces_rows_transcripts_and_tokens(tmp_path: Path, cli: str) -> None:
    run = Run(tmp_path, cli, FAKE_EXPERIMENTS="2")
    outcome = run.go(stop_after=4)
    assert outcome.reason == "stopped: experiment budget spent"
    assert len(run.rows) >= 4
    # the fake CLI edited train.py, and every experiment got the agent's step
    assert (
        "MATRIX_LR" in (run.workspace / "train.py").read_text()
        or "DEPTH" in (run.workspace / "train.py").read_text()
    )
    assert all(r.description for r in run.rows)
    assert all(r.agent_seconds >= 0 for r in run.rows)
    assert all(any(e.kind == "tool_call" for e in r.events) for r in run.rows)
    attributed = sum((r.usage for r in run.rows), Usage()) + outcome.unattributed
    assert attributed.total_tokens == outcome.usage.total_tokens > 0
    assert attributed.turns == outcome.usage.turns > 0
    assert outcome.usage.cost_usd is not None and outcome.usage.cost_usd > 0
    # two experiments per launch: the CLI ended early and was resumed
    assert outcome.relaunches >= 1
    second = run.launch(1)["argv"]
    session_id = outcome.launches[0].session_id
    assert session_id and session_id in second
    t = read_transcript(run.transcript_path)
    kinds = {e.kind for e in t}
    assert {
        "launch",
        "session",
        "tool_call",
        "tool_result",
        "exit",
        "relaunch",
        "experiment",
    } <= kinds
    assert t.header["agent"] == cli


def test_claude_cost_attributed_over_a_launch_equals_the_reported_total(tmp_path: Path) -> None:
    run = Run(tmp_path, "claude-code", FAKE_EXPERIMENTS="3")
    outcome = run.go(max_relaunches=0)
    assert outcome.reason == "max_relaunches: 0 relaunches used"
    assert len(run.rows) == 3
    reported = read_transcript(run.transcript_path).of_kind("result")
    assert len(reported) == 1
    attributed = sum((r.usage for r in run.rows), Usage()) + outcome.unattributed
    assert attributed.cost_usd == pytest.approx(reported[0].data["total_cost_usd"], rel=1e-9)
    assert attributed.turns == reported[0].data["num_turns"] == 6
    # per-message estimates land on each experiment; the side request's cost after the last
    assert run.rows[0].usage.cost_usd == pytest.approx(2 * 0.012861)
    assert outcome.unattributed.cost_usd == pytest.approx(0.001)


def test_each_relaunch_is_recorded_and_resumes(tmp_path: Path, cli: str) -> None:
    run = Run(tmp_path, cli, FAKE_EXPERIMENTS="1", FAKE_MODE="exit_early")
    outcome = run.go(stop_after=3)
    assert len(run.rows) >= 3
    assert outcome.relaunches >= 2
    assert all(launch.exit_code == 3 for launch in outcome.launches[:-1])
    relaunches = read_transcript(run.transcript_path).of_kind("relaunch")
    assert len(relaunches) == outcome.relaunches
    assert all(r.data["resume"] and r.data["session_id"] == outcome.session_id for r in relaunches)
    assert all(
        outcome.session_id in run.launch(n)["argv"] for n in range(1, outcome.relaunches + 1)
    )


def test_an_api_error_is_recorded_and_the_cli_relaunched(tmp_path: Path, cli: str) -> None:
    run = Run(tmp_path, cli, FAKE_EXPERIMENTS="1", FAKE_MODE="error_first")
    run.go(stop_after=2)
    assert len(run.rows) >= 2
    t = read_transcript(run.transcript_path)
    errors = t.of_kind("error")
    assert errors, "the CLI's error event is in the transcript"
    assert run.outcome.launches[0].exit_code == 1
    assert run.outcome.launches[0].error


@pytest.mark.slow
def test_a_hanging_cli_is_stopped_at_its_step_limit(tmp_path: Path, cli: str) -> None:
    run = Run(tmp_path, cli, FAKE_MODE="hang")
    started = time.monotonic()
    outcome = run.go(limits=RunLimits(max_step_seconds=1.0, max_seconds=30))
    assert time.monotonic() - started < 10
    assert outcome.limit is not None and outcome.limit.limit == "max_step_seconds"
    assert outcome.reason.startswith("max_step_seconds")
    assert outcome.launches[0].end == "limit"
    assert read_transcript(run.transcript_path).of_kind("limit")


def test_turn_and_token_limits_end_the_run(tmp_path: Path) -> None:
    run = Run(tmp_path, "claude-code", FAKE_EXPERIMENTS="50")
    outcome = run.go(limits=RunLimits(max_turns=5, max_seconds=60))
    assert outcome.limit is not None and outcome.limit.limit == "max_turns"
    assert 5 <= outcome.usage.turns <= 7
    (tmp_path / "b").mkdir()
    run2 = Run(tmp_path / "b", "claude-code", FAKE_EXPERIMENTS="50")
    outcome2 = run2.go(limits=RunLimits(max_cost_usd=0.05, max_seconds=60))
    assert outcome2.limit is not None and outcome2.limit.limit == "max_cost_usd"


def test_a_cli_that_never_runs_an_experiment_ends_the_run(tmp_path: Path) -> None:
    run = Run(tmp_path, "codex", FAKE_EXPERIMENTS="0")
    outcome = run.go(max_idle_launches=2)
    assert outcome.reason.startswith("agent_stalled: 2 launches in a row ran no experiment")
    assert len(outcome.launches) == 2


def test_missing_executable_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    run = Run(tmp_path, "gemini")
    outcome = run.go(executable=str(tmp_path / "no-such-gemini"))
    assert outcome.reason.startswith("agent_failed: executable")
    assert outcome.launches == ()


def test_agent_environment_holds_only_what_it_needs_and_no_key_leaks(
    tmp_path: Path, cli: str
) -> None:
    run = Run(tmp_path, cli, FAKE_EXPERIMENTS="1")
    run.go(stop_after=1)
    env = set(run.launch(0)["env"])
    assert "SECRET_TOKEN" not in env
    adapter = CLI_ADAPTERS[cli]()
    base = {
        "PATH",
        "HOME",
        "TMPDIR",
        "TERM",
        "NO_COLOR",
        "LANG",
        "SHELL",
        "FAKE_RUN",
        "FAKE_EXPERIMENTS",
    }
    shell = {"PWD", "SHLVL", "_"}  # what a shell in between may add
    # only its own key (another CLI's key variable is absent), and what the CLI needs headless
    assert env <= base | shell | set(adapter.agent_key_vars) | set(adapter.adapter_env())
    assert set(adapter.adapter_env()) <= env
    key_vars = CLI_ADAPTERS[cli].agent_key_vars
    assert set(key_vars) <= env
    assert run.launch(0)["cwd"] == str(run.workspace.resolve())
    for path in [run.transcript_path, *run.home.rglob("*")]:
        if path.is_file() and not path.name.startswith("fake-"):
            assert KEY not in path.read_text(errors="replace"), path


def test_a_study_with_each_cli_logs_rows_transcripts_and_tokens(
    tmp_path: Path, cli: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv(CLI_ADAPTERS[cli].key_envs[0], KEY)
    run_argv = json.dumps(["./run_experiment", "{description}", "--hypothesis", "{hypothesis}"])
    data = {
        "name": "clis",
        "experiments": 6,
        "training": {"preset": "cpu-tiny", "trainer": "synthetic"},
        "agents": [
            {
                "adapter": cli,
                "label": cli,
                "options": {
                    "executable": str(FAKES / FAKE_OF[cli]),
                    "model": MODEL_OF[cli],
                    "relaunch_delay": 0.0,
                    "env": {"FAKE_RUN": run_argv, "FAKE_EXPERIMENTS": "2"},
                },
                "limits": {"max_seconds": 60},
            }
        ],
    }
    config = parse_study(data, base_dir=tmp_path, output=tmp_path / "out")
    guard = functools.partial(containment_guard, protected=())
    result = Study(config, guard=guard, handle_signals=False).run()
    rows = read_log(result.log_path).experiments
    assert [r.index for r in rows] == [0, 1, 2, 3, 4, 5]
    assert all(r.status != "crash" for r in rows), [r.error for r in rows]
    assert all(r.description and r.agent_seconds is not None for r in rows[1:])
    with_tokens = [r for r in rows[1:] if r.input_tokens]
    if cli == "claude-code":
        assert len(with_tokens) == 5  # per-message usage: every experiment gets its own
    else:
        # tokens reported when a launch ends land on the next experiment; the others are unknown
        assert [r.index for r in with_tokens] == [3, 5]
        assert all(
            r.input_tokens is None and r.cost_usd is None for r in rows[1:] if r.index not in (3, 5)
        )
    assert all(r.output_tokens and r.cost_usd and r.cost_usd > 0 for r in with_tokens)
    transcript = read_transcript(result.output / "runs" / cli / "run-0" / "transcript.jsonl")
    assert len(transcript.of_kind("experiment")) == 5
    assert len(transcript.of_kind("relaunch")) >= 2
    assert transcript.header["adapter"] == cli


def test_a_key_the_agent_prints_is_redacted_everywhere(tmp_path: Path, cli: str) -> None:
    run = Run(tmp_path, cli, FAKE_EXPERIMENTS="1", FAKE_MODE="leak")
    run.go(stop_after=1)
    raw = [e for e in read_transcript(run.transcript_path).of_kind("raw", "stderr")]
    assert any("API_KEY=[REDACTED]" in e.text for e in raw)
    files = [run.transcript_path, *(p for p in run.home.rglob("*") if p.is_file())]
    assert any(p.name.startswith("stderr-") for p in files)
    for path in files:
        if not path.name.startswith("fake-"):
            assert KEY not in path.read_text(errors="replace"), path
