"""The HTTP-API agents against mock servers speaking each API's request and response shapes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import Experiment
from hpdream_runner.agents import Attempt, Proposal, StepContext, Stop
from hpdream_runner.agents.http import (
    PROVIDERS,
    HttpAgent,
    HttpStepwiseAgent,
    ToolCall,
    WorkspaceTools,
    parse_retry_after,
)
from hpdream_runner.agents.limits import RunLimits
from hpdream_runner.agents.options import AgentConfigError
from hpdream_runner.agents.pricing import PriceTable
from hpdream_runner.agents.redact import Redactor
from hpdream_runner.agents.transcript import TranscriptWriter, read_transcript

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

from chat_server import EDIT, READ, RUN, TEXT, Action, ChatServer, chat_reply

KEY = "sk-test-bm8gbGVha3MgaW4gdGhlIGxvZ3MgcGxlYXNl"
TRAIN = "DEPTH = 4\nMATRIX_LR = 0.04\nWARMUP = 10\n"
MODEL = {
    "anthropic": "claude-opus-4-6",
    "openai": "gpt-5.4",
    "openai-compatible": "qwen3-coder",
    "gemini-api": "gemini-3-flash-preview",
}
PRICES = PriceTable.default()


def anthropic_reply(n: int, action: Action) -> dict[str, Any]:
    name, args = action
    content: list[dict[str, Any]] = [{"type": "text", "text": f"step {n}"}]
    if name:
        content.append({"type": "tool_use", "id": f"toolu_{n:02d}", "name": name, "input": args})
    else:
        content = [{"type": "text", "text": args["text"]}]
    return {
        "id": f"msg_{n:02d}",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": content,
        "stop_reason": "tool_use" if name else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 100,
            "cache_creation_input_tokens": 10,
            "cache_read_input_tokens": 50,
            "output_tokens": 20,
        },
    }


def openai_reply(n: int, action: Action) -> dict[str, Any]:
    name, args = action
    output: list[dict[str, Any]] = [
        {
            "type": "reasoning",
            "id": f"rs_{n}",
            "summary": [{"type": "summary_text", "text": "thinking"}],
        }
    ]
    if name:
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{n}",
                "call_id": f"call_{n}",
                "name": name,
                "arguments": json.dumps(args),
                "status": "completed",
            }
        )
    else:
        output.append(
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": args["text"], "annotations": []}],
            }
        )
    return {
        "id": f"resp_{n:02d}",
        "object": "response",
        "status": "completed",
        "model": "gpt-5.4-2026-03-05",
        "output": output,
        "usage": {
            "input_tokens": 120,
            "input_tokens_details": {"cached_tokens": 100},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 10},
            "total_tokens": 150,
        },
    }


def gemini_reply(n: int, action: Action) -> dict[str, Any]:
    name, args = action
    part: dict[str, Any] = (
        {"functionCall": {"name": name, "args": args}, "thoughtSignature": f"c2lnLXtu{n}"}
        if name
        else {"text": args["text"]}
    )
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "plan", "thought": True}, part]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 300,
            "candidatesTokenCount": 25,
            "thoughtsTokenCount": 15,
            "totalTokenCount": 340,
            "cachedContentTokenCount": 100,
        },
        "modelVersion": "gemini-3-flash-preview",
    }


REPLY: dict[str, Callable[[int, Action], dict[str, Any]]] = {
    "anthropic": anthropic_reply,
    "openai": openai_reply,
    "openai-compatible": chat_reply,
    "gemini-api": gemini_reply,
}
PATH = {
    "anthropic": "/v1/messages",
    "openai": "/v1/responses",
    "openai-compatible": "/v1/chat/completions",
    "gemini-api": "/v1beta/models/gemini-3-flash-preview:generateContent",
}


class FakeApi:
    """A MockTransport handler: scripted replies, optional errors first, every request kept."""

    def __init__(
        self, provider: str, actions: list[Action], errors: list[httpx.Response] | None = None
    ) -> None:
        self.provider = provider
        self.actions = list(actions)
        self.errors = list(errors or [])
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.content))
        if self.errors:
            return self.errors.pop(0)
        n = len(self.bodies)
        action = self.actions.pop(0) if self.actions else TEXT
        return httpx.Response(200, json=REPLY[self.provider](n, action))


def options(provider: str, **extra: Any) -> dict[str, Any]:
    base = {"model": MODEL[provider]}
    if provider == "openai-compatible":
        base["base_url"] = "http://127.0.0.1:8000/v1"
    return {**base, **extra}


def make_agent(
    provider: str,
    api: FakeApi,
    workspace: Path,
    *,
    sleeps: list[float] | None = None,
    transcript: Path | None = None,
    limits: RunLimits | None = None,
    key: str | None = KEY,
    **extra: Any,
) -> HttpAgent:
    redactor = Redactor()
    writer = None if transcript is None else TranscriptWriter(transcript, redactor=redactor)
    agent = HttpAgent(
        PROVIDERS[provider](options(provider, **extra)),
        key=key,
        client=httpx.Client(transport=httpx.MockTransport(api)),
        prices=PRICES,
        limits=limits,
        redactor=redactor,
        transcript=writer,
        environ={},
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        rng=lambda: 0.5,
    )
    agent.start(workspace, "PROTOCOL: lower val_bpb.")
    return agent


def baseline() -> Experiment:
    return Experiment.baseline(study="s", agent="a", val_bpb=1.5)


def second(val: float = 1.4) -> Experiment:
    return Experiment.from_values(
        {
            "study": "s",
            "agent": "a",
            "run": 0,
            "index": 1,
            "status": "keep",
            "val_bpb": val,
            "description": "matrix_lr 0.04 -> 0.03",
        }
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "train.py").write_text(TRAIN, encoding="utf-8")
    (ws / "program.md").write_text("PROTOCOL", encoding="utf-8")
    return ws


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_tool_loop_edits_train_py_and_proposes_then_gets_the_result(
    provider: str, workspace: Path
) -> None:
    api = FakeApi(provider, [READ, EDIT, RUN, READ, RUN])
    agent = make_agent(provider, api, workspace)
    first = agent.step([baseline()])
    assert first.proposal is not None and first.end_reason is None
    assert first.proposal.description == "matrix_lr 0.04 -> 0.03"
    assert first.proposal.hypothesis == "less noise"
    assert "MATRIX_LR = 0.03" in (workspace / "train.py").read_text()
    assert len(api.requests) == 3
    assert first.usage.turns == 3
    if provider == "openai-compatible":
        assert first.usage.cost_usd is None  # no price for a self-hosted model
    else:
        assert first.usage.cost_usd is not None and first.usage.cost_usd > 0
    # the read_file result went back to the model in the second request
    assert TRAIN.splitlines()[0] in json.dumps(api.bodies[1])
    # the next step starts by answering the run_experiment call with the experiment's result
    result_line = "experiment 1: val_bpb 1.400000 (best so far), kept"
    nxt = agent.step([baseline(), second()], last_result=result_line)
    assert nxt.proposal is not None
    assert result_line in json.dumps(api.bodies[3])
    for request in api.requests:
        assert request.url.path == PATH[provider]


def test_each_api_gets_its_own_request_shape(provider: str, workspace: Path) -> None:
    api = FakeApi(provider, [EDIT, RUN])
    make_agent(provider, api, workspace).step([baseline()])
    first, second_body = api.bodies[0], api.bodies[1]
    h = api.requests[0].headers
    if provider == "anthropic":
        assert h["x-api-key"] == KEY and h["anthropic-version"] == "2023-06-01"
        assert first["model"] == "claude-opus-4-6" and first["max_tokens"] == 8192
        assert first["system"].endswith("PROTOCOL: lower val_bpb.")
        assert {t["name"] for t in first["tools"]} >= {
            "read_file",
            "edit_train_py",
            "run_experiment",
        }
        assert "input_schema" in first["tools"][0]
        assert second_body["messages"][1]["role"] == "assistant"
        result = second_body["messages"][2]["content"][0]
        assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01"
    elif provider == "openai":
        assert h["authorization"] == f"Bearer {KEY}"
        assert first["instructions"].endswith("PROTOCOL: lower val_bpb.")
        assert first["tools"][0]["type"] == "function" and "parameters" in first["tools"][0]
        assert second_body["previous_response_id"] == "resp_01"
        assert second_body["input"] == [
            {"type": "function_call_output", "call_id": "call_1", "output": "train.py edited."}
        ]
    elif provider == "openai-compatible":
        assert h["authorization"] == f"Bearer {KEY}"
        assert first["messages"][0]["role"] == "system"
        assert first["tools"][0]["type"] == "function" and "function" in first["tools"][0]
        assert second_body["messages"][2]["tool_calls"][0]["id"] == "call_1"
        assert second_body["messages"][3] == {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": "train.py edited.",
        }
    else:
        assert h["x-goog-api-key"] == KEY
        assert "key=" not in str(api.requests[0].url)
        assert first["systemInstruction"]["parts"][0]["text"].endswith("PROTOCOL: lower val_bpb.")
        assert "functionDeclarations" in first["tools"][0]
        model_turn = second_body["contents"][1]
        assert model_turn["role"] == "model"
        assert model_turn["parts"][1]["thoughtSignature"] == "c2lnLXtu1"  # sent back verbatim
        response = second_body["contents"][2]["parts"][0]["functionResponse"]
        assert response == {"name": "edit_train_py", "response": {"result": "train.py edited."}}


def test_usage_is_read_in_hpdream_conventions(provider: str, workspace: Path) -> None:
    api = FakeApi(provider, [RUN])
    out = make_agent(provider, api, workspace).step([baseline()])
    u = out.usage
    expected = {
        "anthropic": (160, 50, 10, 20, 0),
        "openai": (120, 100, 0, 30, 10),
        "openai-compatible": (200, 0, 0, 40, 0),
        "gemini-api": (300, 100, 0, 40, 15),
    }[provider]
    assert (
        u.input_tokens,
        u.cached_input_tokens,
        u.cache_write_tokens,
        u.output_tokens,
        u.reasoning_tokens,
    ) == expected
    assert u.turns == 1
    if provider == "openai-compatible":
        assert u.cost_usd is None  # a self-hosted model has no price unless one is given
    else:
        assert u.cost_usd == pytest.approx(PRICES.cost(MODEL[provider], u, single_request=True))


def retry_after(status: int, seconds: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, headers={"retry-after": seconds}, json=body)


def test_429_and_529_and_503_are_retried_honouring_retry_after(
    workspace: Path, tmp_path: Path
) -> None:
    errors = [
        retry_after(
            429,
            "7",
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        ),
        httpx.Response(
            529,
            json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
        httpx.Response(503, text="upstream unavailable"),
    ]
    api = FakeApi("anthropic", [RUN], errors)
    sleeps: list[float] = []
    out = make_agent(
        "anthropic", api, workspace, sleeps=sleeps, transcript=tmp_path / "t.jsonl"
    ).step([baseline()])
    assert out.proposal is not None
    assert len(api.requests) == 4
    assert sleeps[0] == pytest.approx(7.0)  # the server's retry-after is honoured
    assert sleeps[1:] == pytest.approx(
        [2.0, 4.0]
    )  # exponential backoff otherwise (jitter fixed at 0)
    retries = read_transcript(tmp_path / "t.jsonl").of_kind("retry")
    assert [r.data["status"] for r in retries] == [429, 529, 503]
    assert retries[1].data["kind"] == "overloaded_error"


def test_gemini_retry_delay_and_openai_retry_after_ms(workspace: Path) -> None:
    gem = FakeApi(
        "gemini-api",
        [RUN],
        [
            httpx.Response(
                429,
                json={
                    "error": {
                        "code": 429,
                        "status": "RESOURCE_EXHAUSTED",
                        "message": "rate",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                                "retryDelay": "37s",
                            }
                        ],
                    }
                },
            )
        ],
    )
    sleeps: list[float] = []
    assert (
        make_agent("gemini-api", gem, workspace, sleeps=sleeps).step([baseline()]).proposal
        is not None
    )
    assert sleeps == [pytest.approx(37.0)]
    oa = FakeApi(
        "openai",
        [RUN],
        [
            httpx.Response(
                429,
                headers={"retry-after-ms": "2500"},
                json={
                    "error": {
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                        "message": "Rate limit reached",
                    }
                },
            )
        ],
    )
    sleeps2: list[float] = []
    assert (
        make_agent("openai", oa, workspace, sleeps=sleeps2).step([baseline()]).proposal is not None
    )
    assert sleeps2 == [pytest.approx(2.5)]


@pytest.mark.parametrize(
    ("provider_name", "response", "kind"),
    [
        (
            "anthropic",
            httpx.Response(
                401,
                json={
                    "type": "error",
                    "error": {
                        "type": "authentication_error",
                        "message": f"invalid x-api-key {KEY}",
                    },
                },
            ),
            "authentication_error",
        ),
        (
            "anthropic",
            httpx.Response(
                400,
                json={
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Your credit balance is too low to access the Anthropic API.",
                    },
                },
            ),
            "spend_limit",
        ),
        (
            "openai",
            httpx.Response(
                429,
                json={
                    "error": {
                        "message": "You exceeded your current quota",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            ),
            "spend_limit",
        ),
        (
            "openai",
            httpx.Response(
                401,
                json={
                    "error": {
                        "message": f"Incorrect API key provided: {KEY}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            ),
            "invalid_api_key",
        ),
        (
            "gemini-api",
            httpx.Response(
                400,
                json={
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            ),
            "INVALID_ARGUMENT",
        ),
        (
            "openai-compatible",
            httpx.Response(
                404, json={"error": {"message": "model not found", "type": "NotFoundError"}}
            ),
            "NotFoundError",
        ),
    ],
)
def test_errors_that_cannot_pass_are_not_retried_and_end_the_run(
    provider_name: str, response: httpx.Response, kind: str, workspace: Path, tmp_path: Path
) -> None:
    api = FakeApi(provider_name, [RUN], [response])
    sleeps: list[float] = []
    out = make_agent(
        provider_name, api, workspace, sleeps=sleeps, transcript=tmp_path / "t.jsonl"
    ).step([baseline()])
    assert out.proposal is None and out.end_reason is not None
    assert out.end_reason.startswith("api_error") and kind in out.end_reason
    assert len(api.requests) == 1 and sleeps == []
    assert KEY not in out.end_reason
    assert KEY not in (tmp_path / "t.jsonl").read_text()


def test_transient_errors_give_up_after_the_policy(workspace: Path) -> None:
    api = FakeApi("openai-compatible", [RUN], [httpx.Response(503, text="loading model")] * 5)
    out = make_agent("openai-compatible", api, workspace, max_attempts=3).step([baseline()])
    assert out.proposal is None and "gave up after 3 attempts" in (out.end_reason or "")
    assert len(api.requests) == 3


def test_a_retry_after_longer_than_the_time_left_is_not_waited(workspace: Path) -> None:
    api = FakeApi(
        "anthropic",
        [RUN],
        [
            retry_after(
                429, "120", {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}}
            )
        ],
    )
    sleeps: list[float] = []
    out = make_agent("anthropic", api, workspace, sleeps=sleeps).step([baseline()], seconds_left=30)
    assert out.proposal is None and "no time left" in (out.end_reason or "")
    assert sleeps == []


def test_connection_errors_are_retried(workspace: Path) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=chat_reply(1, RUN))

    agent = HttpAgent(
        PROVIDERS["openai-compatible"](options("openai-compatible")),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        environ={},
        sleep=lambda s: None,
    )
    agent.start(workspace, "P")
    assert agent.step([baseline()]).proposal is not None
    assert calls["n"] == 2


def test_a_model_that_stops_without_an_experiment_is_reminded(
    provider: str, workspace: Path
) -> None:
    api = FakeApi(provider, [TEXT, RUN])
    out = make_agent(provider, api, workspace).step([baseline()])
    assert out.proposal is not None
    assert "call run_experiment" in json.dumps(api.bodies[1])
    stalled = make_agent(provider, FakeApi(provider, [TEXT] * 5), workspace, max_nudges=1).step(
        [baseline()]
    )
    assert stalled.proposal is None and (stalled.end_reason or "").startswith("agent_stalled")


def test_step_and_run_limits_end_the_run(workspace: Path) -> None:
    api = FakeApi("anthropic", [READ] * 10)
    out = make_agent("anthropic", api, workspace, limits=RunLimits(max_step_turns=3)).step(
        [baseline()]
    )
    assert out.proposal is None and out.limit is not None and out.limit.limit == "max_step_turns"
    assert len(api.requests) == 3
    api2 = FakeApi("openai", [RUN] * 10)
    agent = make_agent("openai", api2, workspace, limits=RunLimits(max_cost_usd=0.0005))
    steps = [agent.step([baseline()]) for _ in range(3)]
    assert steps[-1].proposal is None and steps[-1].limit is not None
    assert steps[-1].limit.limit == "max_cost_usd"


def test_tools_stay_inside_the_workspace(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("harness secret")
    tools = WorkspaceTools(workspace, log=lambda: [baseline(), second()])
    assert tools.run(ToolCall("1", "read_file", {"path": "../secret.txt"})).startswith("error:")
    assert tools.run(ToolCall("1", "read_file", {"path": "/etc/passwd"})).startswith("error:")
    assert tools.run(ToolCall("1", "read_file", {"path": "program.md"})) == "PROTOCOL"
    missing = tools.run(ToolCall("1", "edit_train_py", {"old_text": "nope", "new_text": "x"}))
    assert missing.startswith("error: old_text does not occur in train.py")
    (workspace / "train.py").write_text("A = 1\nA = 1\n")
    assert "occurs 2 times" in tools.run(
        ToolCall("1", "edit_train_py", {"old_text": "A = 1", "new_text": "A = 2"})
    )
    assert tools.run(ToolCall("1", "write_train_py", {"content": "B = 2\n"})).startswith(
        "train.py written"
    )
    assert (workspace / "train.py").read_text() == "B = 2\n"
    assert tools.run(ToolCall("1", "write_train_py", {"content": "  "})).startswith("error:")
    log = tools.run(ToolCall("1", "view_log", {"last": 1}))
    assert "matrix_lr" in log and "baseline" not in log.splitlines()[1]
    assert tools.run(ToolCall("1", "rm", {})).startswith("error: unknown tool")
    assert tools.run(ToolCall("1", "read_file", {}, raw_arguments="{not json")).startswith("error:")


def test_malformed_arguments_go_back_to_the_model_as_an_error(workspace: Path) -> None:
    class BadArgs(FakeApi):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            self.bodies.append(json.loads(request.content))
            if len(self.bodies) == 1:
                reply = openai_reply(1, READ)
                reply["output"][1]["arguments"] = '{"path": '
                return httpx.Response(200, json=reply)
            return httpx.Response(200, json=openai_reply(len(self.bodies), RUN))

    api = BadArgs("openai", [])
    out = make_agent("openai", api, workspace).step([baseline()])
    assert out.proposal is not None
    assert "not a JSON object" in api.bodies[1]["input"][0]["output"]


def test_openai_without_store_resends_the_conversation(workspace: Path) -> None:
    api = FakeApi("openai", [READ, RUN])
    make_agent("openai", api, workspace, store=False).step([baseline()])
    second_body = api.bodies[1]
    assert second_body["store"] is False and "previous_response_id" not in second_body
    kinds = [item.get("type", item.get("role")) for item in second_body["input"]]
    assert kinds == ["user", "reasoning", "function_call", "function_call_output"]


def test_missing_key_and_missing_model_are_configuration_errors(workspace: Path) -> None:
    with pytest.raises(AgentConfigError, match="no API key in ANTHROPIC_API_KEY"):
        HttpAgent(PROVIDERS["anthropic"]({"model": "claude-opus-4-6"}), environ={})
    with pytest.raises(AgentConfigError, match="'model' is required"):
        HttpAgent(PROVIDERS["openai"]({}), environ={"OPENAI_API_KEY": KEY})
    with pytest.raises(AgentConfigError, match="base_url"):
        HttpAgent(PROVIDERS["openai-compatible"]({"model": "m"}), environ={})
    # a local server needs no key: no authorization header is sent
    api = FakeApi("openai-compatible", [RUN])
    make_agent("openai-compatible", api, workspace, key=None).step([baseline()])
    assert "authorization" not in api.requests[0].headers


@given(st.floats(0, 1e6, allow_nan=False), st.integers(0, 10**7))
def test_retry_after_parsing(seconds: float, ms: int) -> None:
    assert parse_retry_after({"retry-after": f"{seconds}"}) == pytest.approx(seconds)
    assert parse_retry_after({"retry-after-ms": str(ms), "retry-after": "999"}) == pytest.approx(
        ms / 1000
    )


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = datetime(2026, 5, 1, 12, 0, 42, tzinfo=UTC)
    assert (
        parse_retry_after({"retry-after": format_datetime(later, usegmt=True)}, now=lambda: now)
        == 42
    )
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


# -- a real loopback server and the harness's stepwise protocol ---------------------------------------


def context(workspace: Path, history: tuple[Attempt, ...]) -> StepContext:
    return StepContext(
        study="s",
        label="local",
        run=0,
        index=len(history),
        train_py=TRAIN,
        baseline_train_py=TRAIN,
        history=history,
        workspace=workspace,
        seed=0,
        protocol="PROTOCOL",
    )


def test_stepwise_agent_against_a_loopback_server(workspace: Path, tmp_path: Path) -> None:
    with ChatServer([EDIT, RUN, RUN]) as server:
        agent = HttpStepwiseAgent(
            PROVIDERS["openai-compatible"]({"model": "qwen3-coder", "base_url": server.url}),
            label="local",
            limits={"max_step_turns": 5},
            transcript_path=tmp_path / "transcript.jsonl",
            environ={"OPENAI_COMPATIBLE_API_KEY": KEY},
        )
        first = agent.propose(
            context(workspace, (Attempt(baseline(), TRAIN, "baseline: val_bpb 1.5"),))
        )
        assert isinstance(first, Proposal)
        assert first.train_py is None and first.description == "matrix_lr 0.04 -> 0.03"
        assert (
            first.usage is not None
            and first.usage.input_tokens == 400
            and first.agent_seconds is not None
        )
        history = (
            Attempt(baseline(), TRAIN, "baseline"),
            Attempt(second(), TRAIN, "experiment 1: kept, val_bpb 1.4"),
        )
        assert isinstance(agent.propose(context(workspace, history)), Proposal)
        path, headers, body = server.seen[-1]
        assert path == "/v1/chat/completions"
        assert headers["authorization"] == f"Bearer {KEY}"
        assert body["messages"][-1] == {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": "experiment 1: kept, val_bpb 1.4",
        }
        stop = agent.propose(context(workspace, history))
        assert isinstance(stop, Stop) and stop.reason.startswith("agent_stalled")
    text = (tmp_path / "transcript.jsonl").read_text()
    assert KEY not in text
    t = read_transcript(tmp_path / "transcript.jsonl")
    assert t.header["adapter"] == "openai-compatible"
    assert {"prompt", "tool_call", "tool_result", "usage"} <= {e.kind for e in t}
