"""Parsers of the three CLIs' machine-readable event streams.

Each parser is fed one stdout line at a time and returns what the line
means in hpdream's terms: transcript events and the token usage that became
known with it (a delta, attributed by the caller to the experiment in
progress). It also keeps the session id (for resuming), the model, and the
CLI's own end-of-session summary.

Stream formats (one JSON object per line):

- Claude Code ``claude -p --output-format stream-json --verbose``: ``system``
  (subtype ``init`` with ``session_id``, ``model``, ``tools``;
  ``compact_boundary``; ``api_retry``), ``assistant`` and ``user`` events
  wrapping Messages-API messages (``text``, ``thinking``, ``tool_use``,
  ``tool_result`` blocks; ``usage`` per message, repeated on every event of
  the same message id), and a final ``result`` (``subtype``, ``is_error``,
  ``num_turns``, ``total_cost_usd``, ``usage``, ``session_id``).
- Codex ``codex exec --json``: ``thread.started`` (``thread_id``),
  ``turn.started``, ``item.started`` / ``item.updated`` / ``item.completed``
  (items ``agent_message``, ``reasoning``, ``command_execution``,
  ``file_change``, ``mcp_tool_call``, ``web_search``, ``todo_list``,
  ``error``), ``turn.completed`` (``usage``: ``input_tokens``,
  ``cached_input_tokens``, ``output_tokens``), ``turn.failed``, ``error``.
- Gemini CLI ``gemini -p … --output-format stream-json``: ``init``
  (``session_id``, ``model``), ``message`` (``role``, ``content``,
  ``delta``), ``tool_use`` (``tool_name``, ``tool_id``, ``parameters``),
  ``tool_result`` (``tool_id``, ``status``, ``output`` / ``error``),
  ``error`` (``severity``, ``message``), ``result`` (``status``, ``stats``:
  ``input_tokens``, ``output_tokens``, ``total_tokens``, ``cached``, …).

Turns: Claude Code's per-message usage counts one turn per model response;
Codex and Gemini CLI do not report responses, so a turn is counted for each
model action seen (a message, a command, an edit, a tool call; for Gemini,
each run of assistant output between tool results). Codex and Gemini CLI
report tokens only when a turn or session ends, so their usage lands on the
experiment in progress at that moment.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from hpdream_runner.agents.transcript import TranscriptEvent, Usage

#: Prices a usage on a model: (model, usage) -> usage with cost filled in where known.
Pricer = Callable[[str | None, Usage], Usage]


def _no_price(_model: str | None, usage: Usage) -> Usage:
    return usage


@attrs.frozen
class Parsed:
    """What one line meant."""

    events: tuple[TranscriptEvent, ...] = ()
    usage: Usage = Usage()


@attrs.frozen
class SessionEnd:
    """The CLI's own summary of a session (or of one ``codex exec`` turn)."""

    is_error: bool
    subtype: str
    text: str = ""
    usage: Usage | None = None


def _obj(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _obj_or_none(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _seq(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float):
        return max(0, int(value))
    return 0


def _text_of(content: Any) -> str:
    """Text of a tool result's ``content``: a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False)


class StreamParser(abc.ABC):
    """Base: JSON decoding, raw lines, session id, end-of-session summary."""

    cli: str = ""

    def __init__(self, pricer: Pricer | None = None, model: str | None = None) -> None:
        self._price = pricer or _no_price
        self.session_id: str | None = None
        self.model: str | None = model
        self.end: SessionEnd | None = None
        self.errors: list[str] = []
        #: usage attributed so far from this stream
        self.counted = Usage()

    def feed(self, line: str) -> Parsed:
        text = line.strip()
        if not text:
            return Parsed()
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return Parsed((TranscriptEvent("raw", text=text),))
        if not isinstance(obj, dict):
            return Parsed((TranscriptEvent("raw", text=text),))
        parsed = self._event(obj)
        if not parsed.usage.is_empty:
            self.counted = self.counted + parsed.usage
        return parsed

    def finish(self) -> Parsed:
        """Called when the stream closes: flush anything buffered."""
        return Parsed()

    @abc.abstractmethod
    def _event(self, obj: dict[str, Any]) -> Parsed:
        """Interpret one decoded event."""

    def _error(self, message: str, **data: Any) -> TranscriptEvent:
        self.errors.append(message)
        return TranscriptEvent("error", text=message, data=data)


# ----------------------------------------------------------------------------------------
# Claude Code


def claude_usage(u: Mapping[str, Any]) -> Usage:
    """A Messages-API ``usage`` object in hpdream's conventions."""
    cache_read = _as_int(u.get("cache_read_input_tokens"))
    cache_write = _as_int(u.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_as_int(u.get("input_tokens")) + cache_read + cache_write,
        output_tokens=_as_int(u.get("output_tokens")),
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


class ClaudeStreamParser(StreamParser):
    cli = "claude-code"

    def __init__(self, pricer: Pricer | None = None, model: str | None = None) -> None:
        super().__init__(pricer, model)
        self._messages: dict[str, Usage] = {}

    def _event(self, obj: dict[str, Any]) -> Parsed:
        kind = obj.get("type")
        if isinstance(obj.get("session_id"), str) and obj["session_id"]:
            self.session_id = obj["session_id"]
        if kind == "system":
            return self._system(obj)
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "user":
            return self._user(obj)
        if kind == "result":
            return self._result(obj)
        if kind == "stream_event":  # partial messages (--include-partial-messages): redundant
            return Parsed()
        return Parsed((TranscriptEvent("raw", text=json.dumps(obj, ensure_ascii=False)),))

    def _system(self, obj: dict[str, Any]) -> Parsed:
        sub = obj.get("subtype")
        if sub == "init":
            if isinstance(obj.get("model"), str):
                self.model = obj["model"]
            data: dict[str, Any] = {
                k: obj[k]
                for k in (
                    "session_id",
                    "model",
                    "tools",
                    "permissionMode",
                    "cwd",
                    "claude_code_version",
                )
                if k in obj
            }
            return Parsed((TranscriptEvent("session", data=data),))
        if sub == "compact_boundary":
            meta = obj.get("compact_metadata") or {}
            return Parsed((TranscriptEvent("compaction", data=dict(meta)),))
        if sub == "api_retry":
            data = {
                k: v for k, v in obj.items() if k not in ("type", "subtype", "uuid", "session_id")
            }
            return Parsed((TranscriptEvent("retry", data=data),))
        return Parsed((TranscriptEvent("raw", text=json.dumps(obj, ensure_ascii=False)),))

    def _assistant(self, obj: dict[str, Any]) -> Parsed:
        message = obj.get("message")
        if not isinstance(message, Mapping):
            return Parsed((TranscriptEvent("raw", text=json.dumps(obj, ensure_ascii=False)),))
        model = message.get("model") if isinstance(message.get("model"), str) else self.model
        events: list[TranscriptEvent] = []
        sub_agent = obj.get("parent_tool_use_id")
        extra = {"parent_tool_use_id": sub_agent} if sub_agent else {}
        for block in message.get("content") or []:
            if not isinstance(block, Mapping):
                continue
            btype = block.get("type")
            if btype == "text":
                events.append(
                    TranscriptEvent(
                        "message", role="assistant", text=str(block.get("text", "")), data=extra
                    )
                )
            elif btype == "thinking":
                events.append(
                    TranscriptEvent("thinking", text=str(block.get("thinking", "")), data=extra)
                )
            elif btype == "tool_use":
                events.append(
                    TranscriptEvent(
                        "tool_call",
                        tool=str(block.get("name", "")),
                        call_id=block.get("id"),
                        data={"input": block.get("input", {}), **extra},
                    )
                )
        if obj.get("error"):
            events.append(self._error(f"assistant error: {obj['error']}", error=obj["error"]))
        usage = Usage()
        raw_usage = message.get("usage")
        msg_id = message.get("id")
        if isinstance(raw_usage, Mapping):
            now = claude_usage(raw_usage)
            key = str(msg_id) if msg_id else f"_anon{len(self._messages)}"
            before = self._messages.get(key)
            usage = now.evolve(turns=1) if before is None else now.remainder(before).evolve(turns=0)
            self._messages[key] = (
                now
                if before is None
                else Usage(
                    input_tokens=max(now.input_tokens, before.input_tokens),
                    output_tokens=max(now.output_tokens, before.output_tokens),
                    cached_input_tokens=max(now.cached_input_tokens, before.cached_input_tokens),
                    cache_write_tokens=max(now.cache_write_tokens, before.cache_write_tokens),
                )
            )
            if not usage.is_empty:
                usage = self._price(model, usage)
                events.append(
                    TranscriptEvent("usage", data={"message_id": msg_id, **usage.to_dict()})
                )
        return Parsed(tuple(events), usage)

    def _user(self, obj: dict[str, Any]) -> Parsed:
        message = obj.get("message")
        if not isinstance(message, Mapping):
            return Parsed()
        content = message.get("content")
        if isinstance(content, str):
            return Parsed((TranscriptEvent("prompt", role="user", text=content),))
        events = []
        for block in content or []:
            if isinstance(block, Mapping) and block.get("type") == "tool_result":
                events.append(
                    TranscriptEvent(
                        "tool_result",
                        call_id=block.get("tool_use_id"),
                        text=_text_of(block.get("content")),
                        data={"is_error": bool(block.get("is_error", False))},
                    )
                )
            elif isinstance(block, Mapping) and block.get("type") == "text":
                events.append(
                    TranscriptEvent("prompt", role="user", text=str(block.get("text", "")))
                )
        return Parsed(tuple(events))

    def _result(self, obj: dict[str, Any]) -> Parsed:
        usage_raw = _obj(obj.get("usage"))
        cost = obj.get("total_cost_usd")
        total = claude_usage(usage_raw).evolve(
            turns=_as_int(obj.get("num_turns")),
            cost_usd=float(cost)
            if isinstance(cost, int | float) and not isinstance(cost, bool)
            else None,
        )
        is_error = bool(obj.get("is_error", False)) or str(obj.get("subtype", "")).startswith(
            "error"
        )
        subtype = str(obj.get("subtype", "error" if is_error else "success"))
        text = obj.get("result") if isinstance(obj.get("result"), str) else ""
        self.end = SessionEnd(is_error, subtype, text or "", total)
        # the session total is authoritative: what it holds beyond the per-message
        # counts (side requests, rounding of the estimate) is attributed now
        delta = total.remainder(self.counted)
        if total.cost_usd is not None and self.counted.cost_usd is None:
            delta = delta.evolve(cost_usd=total.cost_usd)
        data: dict[str, Any] = {
            k: obj[k]
            for k in (
                "subtype",
                "is_error",
                "num_turns",
                "duration_ms",
                "duration_api_ms",
                "total_cost_usd",
                "usage",
                "modelUsage",
                "permission_denials",
            )
            if k in obj
        }
        events = [TranscriptEvent("result", text=text or "", data=data)]
        if is_error:
            errs = obj.get("errors")
            detail = f": {'; '.join(map(str, errs))}" if isinstance(errs, list) and errs else ""
            events.append(self._error(f"session ended with {subtype}{detail}", subtype=subtype))
        return Parsed(tuple(events), delta)


# ----------------------------------------------------------------------------------------
# Codex CLI

_CODEX_ACTIONS = frozenset(
    {"agent_message", "command_execution", "file_change", "mcp_tool_call", "web_search"}
)


class CodexStreamParser(StreamParser):
    cli = "codex"

    def __init__(self, pricer: Pricer | None = None, model: str | None = None) -> None:
        super().__init__(pricer, model)
        self._started: set[str] = set()

    def _event(self, obj: dict[str, Any]) -> Parsed:
        kind = obj.get("type")
        if kind == "thread.started":
            self.session_id = str(obj.get("thread_id") or "") or self.session_id
            return Parsed(
                (
                    TranscriptEvent(
                        "session", data={"session_id": self.session_id, "model": self.model}
                    ),
                )
            )
        if kind == "turn.started":
            return Parsed()
        if kind in ("item.started", "item.updated", "item.completed"):
            item = obj.get("item")
            if not isinstance(item, Mapping):
                return Parsed((TranscriptEvent("raw", text=json.dumps(obj, ensure_ascii=False)),))
            return self._item(kind, item)
        if kind == "turn.completed":
            u = _obj(obj.get("usage"))
            usage = Usage(
                input_tokens=_as_int(u.get("input_tokens")),
                cached_input_tokens=_as_int(u.get("cached_input_tokens")),
                output_tokens=_as_int(u.get("output_tokens")),
            )
            usage = self._price(self.model, usage)
            self.end = SessionEnd(False, "turn.completed", "", usage)
            return Parsed((TranscriptEvent("usage", data=usage.to_dict()),), usage)
        if kind == "turn.failed":
            err = _obj(obj.get("error"))
            message = str(err.get("message", "turn failed"))
            self.end = SessionEnd(True, "turn.failed", message, None)
            return Parsed((self._error(f"turn failed: {message}"),))
        if kind == "error":
            message = str(obj.get("message", "error"))
            return Parsed((self._error(message),))
        return Parsed((TranscriptEvent("raw", text=json.dumps(obj, ensure_ascii=False)),))

    def _item(self, kind: str, item: Mapping[str, Any]) -> Parsed:
        itype = item.get("type")
        item_id = str(item.get("id", ""))
        events: list[TranscriptEvent] = []
        turns = 0
        if kind == "item.started":
            if itype in ("command_execution", "mcp_tool_call") and item_id not in self._started:
                self._started.add(item_id)
                events.append(self._call(item))
            return Parsed(tuple(events))
        if kind == "item.updated":
            return Parsed()
        # item.completed
        if itype in _CODEX_ACTIONS:
            turns = 1
        if itype == "agent_message":
            events.append(
                TranscriptEvent("message", role="assistant", text=str(item.get("text", "")))
            )
        elif itype == "reasoning":
            events.append(TranscriptEvent("thinking", text=str(item.get("text", ""))))
        elif itype in ("command_execution", "mcp_tool_call"):
            if item_id not in self._started:
                events.append(self._call(item))
            self._started.discard(item_id)
            if itype == "command_execution":
                events.append(
                    TranscriptEvent(
                        "tool_result",
                        call_id=item_id,
                        tool="shell",
                        text=str(item.get("aggregated_output", "")),
                        data={"exit_code": item.get("exit_code"), "status": item.get("status")},
                    )
                )
            else:
                result = item.get("result")
                error = item.get("error")
                text = _text_of(result.get("content")) if isinstance(result, Mapping) else ""
                if isinstance(error, Mapping):
                    text = str(error.get("message", text))
                events.append(
                    TranscriptEvent(
                        "tool_result",
                        call_id=item_id,
                        tool=str(item.get("tool", "")),
                        text=text,
                        data={"status": item.get("status")},
                    )
                )
        elif itype == "file_change":
            changes = _seq(item.get("changes"))
            events.append(
                TranscriptEvent(
                    "tool_call", tool="apply_patch", call_id=item_id, data={"changes": changes}
                )
            )
            events.append(
                TranscriptEvent(
                    "tool_result",
                    tool="apply_patch",
                    call_id=item_id,
                    text=str(item.get("status", "")),
                    data={"status": item.get("status")},
                )
            )
        elif itype == "web_search":
            events.append(
                TranscriptEvent(
                    "tool_call", tool="web_search", call_id=item_id, text=str(item.get("query", ""))
                )
            )
        elif itype == "error":
            events.append(self._error(str(item.get("message", "error")), item=True))
        else:
            events.append(TranscriptEvent("raw", text=json.dumps(dict(item), ensure_ascii=False)))
        return Parsed(tuple(events), Usage(turns=turns))

    @staticmethod
    def _call(item: Mapping[str, Any]) -> TranscriptEvent:
        if item.get("type") == "command_execution":
            return TranscriptEvent(
                "tool_call",
                tool="shell",
                call_id=str(item.get("id", "")),
                text=str(item.get("command", "")),
            )
        return TranscriptEvent(
            "tool_call",
            tool=f"{item.get('server', '')}.{item.get('tool', '')}",
            call_id=str(item.get("id", "")),
            data={"arguments": item.get("arguments")},
        )


# ----------------------------------------------------------------------------------------
# Gemini CLI


class GeminiStreamParser(StreamParser):
    cli = "gemini"

    def __init__(self, pricer: Pricer | None = None, model: str | None = None) -> None:
        super().__init__(pricer, model)
        self._buffer: list[str] = []
        self._in_response = False

    def _flush(self) -> list[TranscriptEvent]:
        if not self._buffer:
            return []
        text = "".join(self._buffer)
        self._buffer = []
        return [TranscriptEvent("message", role="assistant", text=text)]

    def _new_turn(self) -> int:
        if self._in_response:
            return 0
        self._in_response = True
        return 1

    def finish(self) -> Parsed:
        return Parsed(tuple(self._flush()))

    def _event(self, obj: dict[str, Any]) -> Parsed:
        kind = obj.get("type")
        if kind == "init":
            self.session_id = str(obj.get("session_id") or "") or self.session_id
            if isinstance(obj.get("model"), str):
                self.model = obj["model"]
            return Parsed(
                (
                    TranscriptEvent(
                        "session", data={"session_id": self.session_id, "model": self.model}
                    ),
                )
            )
        if kind == "message":
            role = obj.get("role")
            content = str(obj.get("content", ""))
            if role == "assistant":
                turns = self._new_turn()
                if obj.get("delta"):
                    self._buffer.append(content)
                    return Parsed((), Usage(turns=turns))
                events = self._flush()
                events.append(TranscriptEvent("message", role="assistant", text=content))
                return Parsed(tuple(events), Usage(turns=turns))
            events = self._flush()
            self._in_response = False
            events.append(TranscriptEvent("prompt", role=str(role or "user"), text=content))
            return Parsed(tuple(events))
        if kind == "tool_use":
            turns = self._new_turn()
            events = self._flush()
            events.append(
                TranscriptEvent(
                    "tool_call",
                    tool=str(obj.get("tool_name", "")),
                    call_id=obj.get("tool_id"),
                    data={"input": obj.get("parameters", {})},
                )
            )
            return Parsed(tuple(events), Usage(turns=turns))
        if kind == "tool_result":
            events = self._flush()
            self._in_response = False
            err = _obj_or_none(obj.get("error"))
            text = str(obj.get("output", "")) if err is None else str(err.get("message", ""))
            events.append(
                TranscriptEvent(
                    "tool_result",
                    call_id=obj.get("tool_id"),
                    text=text,
                    data={"status": obj.get("status")},
                )
            )
            return Parsed(tuple(events))
        if kind == "error":
            events = self._flush()
            severity = str(obj.get("severity", "error"))
            events.append(self._error(str(obj.get("message", "")), severity=severity))
            return Parsed(tuple(events))
        if kind == "result":
            return self._result(obj)
        return Parsed((TranscriptEvent("raw", text=json.dumps(obj, ensure_ascii=False)),))

    def _stats_usage(self, stats: Mapping[str, Any]) -> Usage:
        inp = _as_int(stats.get("input_tokens"))
        out = _as_int(stats.get("output_tokens"))
        total = _as_int(stats.get("total_tokens"))
        # total_tokens includes the thinking tokens, which output_tokens leaves out
        thoughts = max(0, total - inp - out) if total else 0
        return Usage(
            input_tokens=inp,
            output_tokens=out + thoughts,
            reasoning_tokens=thoughts,
            cached_input_tokens=min(inp, _as_int(stats.get("cached"))),
        )

    def _result(self, obj: dict[str, Any]) -> Parsed:
        events = self._flush()
        self._in_response = False
        stats = _obj(obj.get("stats"))
        usage = self._stats_usage(stats)
        models = stats.get("models")
        if (
            isinstance(models, Mapping)
            and models
            and all(isinstance(v, Mapping) for v in models.values())
        ):
            # per-model breakdown (newer CLIs): price each model at its own rates
            priced = [self._price(str(name), self._stats_usage(m)) for name, m in models.items()]
            costs = [p.cost_usd for p in priced]
            cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
            usage = usage.evolve(cost_usd=cost)
        else:
            usage = self._price(self.model, usage)
        status = str(obj.get("status", "success"))
        is_error = status != "success"
        err = _obj_or_none(obj.get("error"))
        text = str(err.get("message", "")) if err else ""
        self.end = SessionEnd(is_error, status, text, usage)
        events.append(
            TranscriptEvent("result", text=text, data={"status": status, "stats": dict(stats)})
        )
        events.append(TranscriptEvent("usage", data=usage.to_dict()))
        if is_error:
            events.append(self._error(f"session ended with {status}: {text}".rstrip(": ")))
        return Parsed(tuple(events), usage)
