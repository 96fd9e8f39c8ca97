"""The four model APIs: how a tool-using conversation is sent and read.

========================  ===================================================================
provider                  request / response
========================  ===================================================================
``anthropic``             ``POST {base}/v1/messages``; headers ``x-api-key``,
                          ``anthropic-version``; ``tools`` with ``input_schema``; the reply's
                          ``content`` holds ``text``, ``thinking`` and ``tool_use`` blocks;
                          results go back as ``tool_result`` blocks in a user message;
                          ``usage``: ``input_tokens``, ``cache_read_input_tokens``,
                          ``cache_creation_input_tokens``, ``output_tokens``
``openai``                ``POST {base}/responses`` (Responses API); ``Authorization: Bearer``;
                          ``tools`` of ``type: function``; ``output`` items ``message``,
                          ``reasoning``, ``function_call`` (``call_id``, ``arguments`` as JSON
                          text); results go back as ``function_call_output`` items with
                          ``previous_response_id``; ``usage``: ``input_tokens`` (with
                          ``input_tokens_details.cached_tokens``), ``output_tokens``
``openai-compatible``     ``POST {base}/chat/completions`` (Chat Completions, as served by
                          vLLM, Ollama, llama.cpp); ``choices[0].message.tool_calls``;
                          results go back as ``role: tool`` messages; ``usage``:
                          ``prompt_tokens``, ``completion_tokens``
``gemini-api``            ``POST {base}/models/{model}:generateContent``; header
                          ``x-goog-api-key``; ``tools[].functionDeclarations``; the reply's
                          ``candidates[0].content.parts`` hold ``text`` (``thought: true`` for
                          reasoning) and ``functionCall``; results go back as
                          ``functionResponse`` parts; ``usageMetadata``: ``promptTokenCount``,
                          ``cachedContentTokenCount``, ``candidatesTokenCount``,
                          ``thoughtsTokenCount``
========================  ===================================================================
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from hpdream_runner.agents.cli._events import _obj, _seq, claude_usage
from hpdream_runner.agents.http._client import (
    classify_anthropic,
    classify_gemini,
    classify_openai,
)
from hpdream_runner.agents.http._tools import ToolCall, ToolSpec
from hpdream_runner.agents.options import Option, parse_options
from hpdream_runner.agents.transcript import Usage


@attrs.frozen
class Reply:
    """One model response, in hpdream's terms."""

    texts: tuple[str, ...]
    thinking: tuple[str, ...]
    calls: tuple[ToolCall, ...]
    usage: Usage
    stop: str
    model: str | None = None


@attrs.frozen
class ToolResult:
    call: ToolCall
    output: str
    is_error: bool = False


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _arguments(call_id: str, name: str, raw: Any) -> ToolCall:
    """A tool call whose arguments arrive as a JSON text (OpenAI) or an object."""
    if isinstance(raw, Mapping):
        return ToolCall(call_id, name, dict(raw))
    if raw is None or raw == "":
        return ToolCall(call_id, name, {})
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return ToolCall(call_id, name, {}, raw_arguments=raw)
        if isinstance(parsed, dict):
            return ToolCall(call_id, name, parsed)
        return ToolCall(call_id, name, {}, raw_arguments=raw)
    return ToolCall(call_id, name, {}, raw_arguments=json.dumps(raw))


COMMON_HTTP_OPTIONS: tuple[Option, ...] = (
    Option("model", "str", None, "model name (required)"),
    Option("base_url", "str", None, "API base URL (default: the provider's public endpoint)"),
    Option(
        "key_env",
        "str",
        None,
        "harness environment variable holding the API key (default: the provider's)",
    ),
    Option("max_output_tokens", "int", 8192, "output tokens allowed per response", minimum=1),
    Option("request_timeout", "float", 600.0, "seconds one HTTP request may take", minimum=1),
    Option(
        "max_attempts",
        "int",
        8,
        "tries of one request on transient errors (429, 503, 529, ...)",
        minimum=1,
    ),
    Option(
        "max_retry_delay",
        "float",
        60.0,
        "longest backoff between tries, seconds (retry-after can ask more)",
        minimum=0,
    ),
    Option(
        "max_nudges",
        "int",
        3,
        "reminders to call run_experiment when the model stops without one",
        minimum=0,
    ),
    Option(
        "extra_body",
        "object",
        {},
        "extra fields merged into every request body (e.g. thinking, reasoning, temperature)",
    ),
    Option("headers", "table", {}, "extra HTTP headers (not secrets)"),
)


class Provider(abc.ABC):
    """One API's conversation: it builds requests and reads responses; the agent loops."""

    name: ClassVar[str]
    title: ClassVar[str]
    key_envs: ClassVar[tuple[str, ...]]
    requires_key: ClassVar[bool] = True
    default_base_url: ClassVar[str | None]
    OPTIONS: ClassVar[tuple[Option, ...]] = COMMON_HTTP_OPTIONS

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options(self.name, self.OPTIONS, options or {})
        self.tools: tuple[ToolSpec, ...] = ()
        self.system = ""

    @property
    def model(self) -> str | None:
        return self.options["model"]

    @property
    def base_url(self) -> str:
        url = self.options["base_url"] or self.default_base_url or ""
        return url.rstrip("/")

    def key_env_names(self) -> tuple[str, ...]:
        chosen = self.options["key_env"]
        return (chosen,) if chosen else self.key_envs

    @abc.abstractmethod
    def classify(self, status: int, body: Any) -> tuple[bool, str, str]:
        """Whether an error response may pass by retrying: (retryable, kind, message)."""

    def begin(self, system: str, user: str, tools: Sequence[ToolSpec]) -> None:
        """Start the conversation: the system prompt, the first user message, the tools."""
        self.system = system
        self.tools = tuple(tools)
        self._begin(user)

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, **self.options["extra_body"]}

    def headers(self, key: str | None) -> dict[str, str]:
        return {"content-type": "application/json", **self.options["headers"], **self._auth(key)}

    @abc.abstractmethod
    def _auth(self, key: str | None) -> dict[str, str]: ...

    @abc.abstractmethod
    def url(self) -> str: ...

    @abc.abstractmethod
    def _begin(self, user: str) -> None: ...

    @abc.abstractmethod
    def request(self) -> dict[str, Any]:
        """The body of the next request."""

    @abc.abstractmethod
    def read(self, body: Mapping[str, Any]) -> Reply:
        """Read a response and add the model's turn to the conversation."""

    @abc.abstractmethod
    def add_results(self, results: Sequence[ToolResult], note: str | None = None) -> None:
        """Send tool results back (and an optional user note with them)."""

    @abc.abstractmethod
    def add_user(self, text: str) -> None:
        """A user message (a nudge) after a turn that called no tool."""


# ----------------------------------------------------------------------------------------


class AnthropicProvider(Provider):
    name = "anthropic"
    title = "Anthropic Messages API"
    key_envs = ("ANTHROPIC_API_KEY",)
    default_base_url = "https://api.anthropic.com"

    def classify(self, status: int, body: Any) -> tuple[bool, str, str]:
        return classify_anthropic(status, body)

    OPTIONS = (
        *COMMON_HTTP_OPTIONS,
        Option("anthropic_version", "str", "2023-06-01", "anthropic-version header"),
        Option("betas", "list", (), "anthropic-beta features, e.g. context-1m-2025-08-07"),
    )

    def _auth(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self.options["anthropic_version"]}
        if key:
            headers["x-api-key"] = key
        if self.options["betas"]:
            headers["anthropic-beta"] = ",".join(self.options["betas"])
        return headers

    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def _begin(self, user: str) -> None:
        self.messages: list[dict[str, Any]] = [{"role": "user", "content": user}]

    def request(self) -> dict[str, Any]:
        return self._body(
            {
                "model": self.model,
                "max_tokens": self.options["max_output_tokens"],
                "system": self.system,
                "messages": self.messages,
                "tools": [
                    {
                        "name": t.name,
                        "description": t.description,
                        "input_schema": dict(t.parameters),
                    }
                    for t in self.tools
                ],
            }
        )

    def read(self, body: Mapping[str, Any]) -> Reply:
        content = _seq(body.get("content"))
        texts, thinking, calls = [], [], []
        for block in content:
            if not isinstance(block, Mapping):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            elif block.get("type") == "thinking":
                thinking.append(str(block.get("thinking", "")))
            elif block.get("type") == "tool_use":
                calls.append(
                    _arguments(
                        str(block.get("id", "")), str(block.get("name", "")), block.get("input")
                    )
                )
        self.messages.append({"role": "assistant", "content": content})
        usage_raw = _obj(body.get("usage"))
        return Reply(
            tuple(texts),
            tuple(thinking),
            tuple(calls),
            claude_usage(usage_raw).evolve(turns=1),
            str(body.get("stop_reason", "")),
            body.get("model") if isinstance(body.get("model"), str) else None,
        )

    def add_results(self, results: Sequence[ToolResult], note: str | None = None) -> None:
        blocks: list[dict[str, Any]] = [
            {
                "type": "tool_result",
                "tool_use_id": r.call.call_id,
                "content": r.output,
                **({"is_error": True} if r.is_error else {}),
            }
            for r in results
        ]
        if note:
            blocks.append({"type": "text", "text": note})
        self.messages.append({"role": "user", "content": blocks})

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})


# ----------------------------------------------------------------------------------------


class OpenAIResponsesProvider(Provider):
    name = "openai"
    title = "OpenAI Responses API"
    key_envs = ("OPENAI_API_KEY",)
    default_base_url = "https://api.openai.com/v1"

    def classify(self, status: int, body: Any) -> tuple[bool, str, str]:
        return classify_openai(status, body)

    OPTIONS = (
        *COMMON_HTTP_OPTIONS,
        Option(
            "store",
            "bool",
            True,
            "keep responses server-side and chain them with previous_response_id; false: resend the whole conversation",
        ),
    )

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def url(self) -> str:
        return f"{self.base_url}/responses"

    def _begin(self, user: str) -> None:
        self.pending: list[dict[str, Any]] = [{"role": "user", "content": user}]
        self.history: list[dict[str, Any]] = []
        self.previous: str | None = None

    def request(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "instructions": self.system,
            "tools": [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                }
                for t in self.tools
            ],
            "max_output_tokens": self.options["max_output_tokens"],
        }
        if self.options["store"]:
            body["input"] = self.pending
            if self.previous:
                body["previous_response_id"] = self.previous
        else:
            body["input"] = self.history + self.pending
            body["store"] = False
            body["include"] = ["reasoning.encrypted_content"]
        return self._body(body)

    def read(self, body: Mapping[str, Any]) -> Reply:
        output = _seq(body.get("output"))
        texts, thinking, calls = [], [], []
        for item in output:
            if not isinstance(item, Mapping):
                continue
            kind = item.get("type")
            if kind == "message":
                for part in item.get("content") or []:
                    if isinstance(part, Mapping) and part.get("type") == "output_text":
                        texts.append(str(part.get("text", "")))
            elif kind == "reasoning":
                for part in item.get("summary") or []:
                    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                        thinking.append(part["text"])
            elif kind == "function_call":
                calls.append(
                    _arguments(
                        str(item.get("call_id", "")),
                        str(item.get("name", "")),
                        item.get("arguments"),
                    )
                )
        if not self.options["store"]:
            self.history.extend(self.pending)
            self.history.extend(dict(i) for i in output if isinstance(i, Mapping))
        self.pending = []
        self.previous = str(body["id"]) if isinstance(body.get("id"), str) else None
        u = _obj(body.get("usage"))
        cached = _int((u.get("input_tokens_details") or {}).get("cached_tokens"))
        reasoning = _int((u.get("output_tokens_details") or {}).get("reasoning_tokens"))
        usage = Usage(
            input_tokens=_int(u.get("input_tokens")),
            output_tokens=_int(u.get("output_tokens")),
            cached_input_tokens=cached,
            reasoning_tokens=reasoning,
            turns=1,
        )
        stop = str(body.get("status", ""))
        details = body.get("incomplete_details")
        if isinstance(details, Mapping) and details.get("reason"):
            stop += f":{details['reason']}"
        return Reply(
            tuple(texts),
            tuple(thinking),
            tuple(calls),
            usage,
            stop,
            body.get("model") if isinstance(body.get("model"), str) else None,
        )

    def add_results(self, results: Sequence[ToolResult], note: str | None = None) -> None:
        for r in results:
            self.pending.append(
                {"type": "function_call_output", "call_id": r.call.call_id, "output": r.output}
            )
        if note:
            self.pending.append({"role": "user", "content": note})

    def add_user(self, text: str) -> None:
        self.pending.append({"role": "user", "content": text})


# ----------------------------------------------------------------------------------------


class ChatCompletionsProvider(Provider):
    name = "openai-compatible"
    title = "OpenAI-compatible Chat Completions (vLLM, Ollama, llama.cpp, ...)"
    key_envs = ("OPENAI_COMPATIBLE_API_KEY",)
    requires_key = False
    default_base_url = None

    def classify(self, status: int, body: Any) -> tuple[bool, str, str]:
        return classify_openai(status, body)

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _begin(self, user: str) -> None:
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": user},
        ]

    def request(self) -> dict[str, Any]:
        return self._body(
            {
                "model": self.model,
                "messages": self.messages,
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description,
                            "parameters": dict(t.parameters),
                        },
                    }
                    for t in self.tools
                ],
                "tool_choice": "auto",
                "max_tokens": self.options["max_output_tokens"],
            }
        )

    def read(self, body: Mapping[str, Any]) -> Reply:
        choices = _seq(body.get("choices"))
        choice = _obj(choices[0]) if choices else {}
        message = _obj(choice.get("message"))
        texts = (
            [message["content"]]
            if isinstance(message.get("content"), str) and message["content"]
            else []
        )
        thinking = []
        for key in ("reasoning_content", "reasoning"):
            if isinstance(message.get(key), str) and message[key]:
                thinking.append(message[key])
        calls = []
        raw_calls = _seq(message.get("tool_calls"))
        for i, tc in enumerate(raw_calls):
            if not isinstance(tc, Mapping):
                continue
            fn = _obj(tc.get("function"))
            call_id = str(tc.get("id") or f"call_{len(self.messages)}_{i}")
            calls.append(_arguments(call_id, str(fn.get("name", "")), fn.get("arguments")))
        assistant: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if calls:
            assistant["tool_calls"] = [
                {
                    "id": c.call_id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.raw_arguments
                        if c.raw_arguments is not None
                        else json.dumps(dict(c.arguments)),
                    },
                }
                for c in calls
            ]
        self.messages.append(assistant)
        u = _obj(body.get("usage"))
        usage = Usage(
            input_tokens=_int(u.get("prompt_tokens")),
            output_tokens=_int(u.get("completion_tokens")),
            cached_input_tokens=_int((u.get("prompt_tokens_details") or {}).get("cached_tokens")),
            reasoning_tokens=_int(
                (u.get("completion_tokens_details") or {}).get("reasoning_tokens")
            ),
            turns=1,
        )
        return Reply(
            tuple(texts),
            tuple(thinking),
            tuple(calls),
            usage,
            str(choice.get("finish_reason", "")),
            body.get("model") if isinstance(body.get("model"), str) else None,
        )

    def add_results(self, results: Sequence[ToolResult], note: str | None = None) -> None:
        for r in results:
            self.messages.append(
                {"role": "tool", "tool_call_id": r.call.call_id, "content": r.output}
            )
        if note:
            self.messages.append({"role": "user", "content": note})

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})


# ----------------------------------------------------------------------------------------


class GeminiProvider(Provider):
    name = "gemini-api"
    title = "Gemini API generateContent"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"

    def classify(self, status: int, body: Any) -> tuple[bool, str, str]:
        return classify_gemini(status, body)

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": key} if key else {}

    def url(self) -> str:
        return f"{self.base_url}/models/{self.model}:generateContent"

    def _begin(self, user: str) -> None:
        self.contents: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": user}]}]

    def request(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "systemInstruction": {"parts": [{"text": self.system}]},
            "contents": self.contents,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": t.name,
                            "description": t.description,
                            "parameters": dict(t.parameters),
                        }
                        for t in self.tools
                    ]
                }
            ],
            "generationConfig": {"maxOutputTokens": self.options["max_output_tokens"]},
        }
        extra = dict(self.options["extra_body"])
        if isinstance(extra.get("generationConfig"), Mapping):
            body["generationConfig"] = {**body["generationConfig"], **extra.pop("generationConfig")}
        return {**body, **extra}

    def read(self, body: Mapping[str, Any]) -> Reply:
        candidates = _seq(body.get("candidates"))
        cand = _obj(candidates[0]) if candidates else {}
        content = _obj(cand.get("content"))
        parts = _seq(content.get("parts"))
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        for i, part in enumerate(parts):
            if not isinstance(part, Mapping):
                continue
            if isinstance(part.get("functionCall"), Mapping):
                fc = part["functionCall"]
                call_id = str(fc.get("id") or f"gemini_{len(self.contents)}_{i}")
                calls.append(_arguments(call_id, str(fc.get("name", "")), fc.get("args")))
            elif isinstance(part.get("text"), str):
                (thinking if part.get("thought") else texts).append(part["text"])
        # the model's turn goes back verbatim: Gemini 3 needs its thought signatures
        self.contents.append(
            {"role": "model", "parts": [dict(p) for p in parts if isinstance(p, Mapping)]}
        )
        self._ids = {
            c.call_id: (str(c.call_id) if not c.call_id.startswith("gemini_") else None)
            for c in calls
        }
        m = _obj(body.get("usageMetadata"))
        thoughts = _int(m.get("thoughtsTokenCount"))
        usage = Usage(
            input_tokens=_int(m.get("promptTokenCount")) + _int(m.get("toolUsePromptTokenCount")),
            cached_input_tokens=_int(m.get("cachedContentTokenCount")),
            output_tokens=_int(m.get("candidatesTokenCount")) + thoughts,
            reasoning_tokens=thoughts,
            turns=1,
        )
        stop = str(cand.get("finishReason", ""))
        feedback = body.get("promptFeedback")
        if not candidates and isinstance(feedback, Mapping):
            stop = f"blocked:{feedback.get('blockReason', '')}"
        return Reply(
            tuple(texts),
            tuple(thinking),
            tuple(calls),
            usage,
            stop,
            body.get("modelVersion") if isinstance(body.get("modelVersion"), str) else None,
        )

    def add_results(self, results: Sequence[ToolResult], note: str | None = None) -> None:
        ids = getattr(self, "_ids", {})
        parts: list[dict[str, Any]] = []
        for r in results:
            response: dict[str, Any] = {
                "name": r.call.name,
                "response": {"error" if r.is_error else "result": r.output},
            }
            if ids.get(r.call.call_id):
                response["id"] = r.call.call_id
            parts.append({"functionResponse": response})
        if note:
            parts.append({"text": note})
        self.contents.append({"role": "user", "parts": parts})

    def add_user(self, text: str) -> None:
        self.contents.append({"role": "user", "parts": [{"text": text}]})


#: The HTTP providers by name.
PROVIDERS: dict[str, type[Provider]] = {
    p.name: p
    for p in (AnthropicProvider, OpenAIResponsesProvider, ChatCompletionsProvider, GeminiProvider)
}
