"""Transcripts and token usage of external agents, one model for every CLI and API.

Every external agent (Claude Code, Codex CLI, Gemini CLI, the HTTP-API agents)
turns what it sees into :class:`TranscriptEvent` values and counts its tokens
in :class:`Usage`. A transcript is written as JSON Lines: a header line, then
one event per line, flushed line by line, with secrets redacted before the
text reaches the disk (:mod:`hpdream_runner.agents.redact`).

Token conventions (the same for every provider, whatever its own):

- ``input_tokens`` counts every input token the model processed, including
  those read from or written to a prompt cache;
- ``cached_input_tokens`` and ``cache_write_tokens`` are the parts of
  ``input_tokens`` read from and written to the cache;
- ``output_tokens`` counts every generated token, reasoning included;
  ``reasoning_tokens`` is the part spent thinking;
- ``turns`` counts model responses (one request and its answer);
- ``cost_usd`` is ``None`` when unknown, never 0 by default.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs

from hpdream_core import LogFormatError
from hpdream_runner.agents.redact import Redactor

#: Version of the transcript file format (the ``format_version`` of the header line).
TRANSCRIPT_FORMAT_VERSION: Final = 1
TRANSCRIPT_FORMAT: Final = "hpdream-transcript"

#: What a transcript event can be.
EVENT_KINDS: Final = (
    "session",  # a session started: its id, model, tools (CLI init events)
    "prompt",  # the harness sent text to the agent
    "message",  # text from the model
    "thinking",  # reasoning text the model exposed
    "tool_call",  # the model asked for a tool
    "tool_result",  # what the tool returned
    "usage",  # tokens and cost counted
    "compaction",  # the agent compacted its context
    "retry",  # an API call is retried after a transient error
    "error",  # an error the agent or its API reported
    "result",  # the agent's own end-of-session summary
    "launch",  # the harness started the agent process
    "exit",  # the agent process ended
    "relaunch",  # the harness started it again (resuming where it can)
    "limit",  # a run limit was reached
    "experiment",  # the harness ran an experiment for the agent
    "stderr",  # what the agent process wrote to stderr
    "raw",  # an output line that was not an event
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class Usage:
    """Tokens, turns and cost, added up over any span (a response, a step, a run)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    turns: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def is_empty(self) -> bool:
        return self == Usage()

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            turns=self.turns + other.turns,
            cost_usd=cost,
        )

    def remainder(self, counted: Usage) -> Usage:
        """What ``self`` (an authoritative total) holds beyond ``counted``, never negative.

        Used to reconcile a session total reported at the end (Claude Code's
        ``result`` event) with the per-response counts already attributed.
        """
        cost: float | None
        if self.cost_usd is None:
            cost = None
        else:
            cost = max(0.0, self.cost_usd - (counted.cost_usd or 0.0))
        return Usage(
            input_tokens=max(0, self.input_tokens - counted.input_tokens),
            output_tokens=max(0, self.output_tokens - counted.output_tokens),
            cached_input_tokens=max(0, self.cached_input_tokens - counted.cached_input_tokens),
            cache_write_tokens=max(0, self.cache_write_tokens - counted.cache_write_tokens),
            reasoning_tokens=max(0, self.reasoning_tokens - counted.reasoning_tokens),
            turns=max(0, self.turns - counted.turns),
            cost_usd=cost,
        )

    def evolve(self, **changes: Any) -> Usage:
        return attrs.evolve(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        known = {f.name for f in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown usage fields: {sorted(unknown)}")
        return cls(**{k: data[k] for k in known if k in data})


@attrs.frozen
class TranscriptEvent:
    """One thing an agent did or said, as the harness saw it."""

    kind: str = attrs.field(validator=attrs.validators.in_(EVENT_KINDS))
    text: str = ""
    role: str | None = None
    tool: str | None = None
    call_id: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    at: datetime = attrs.field(factory=_utcnow)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at.isoformat(), "kind": self.kind}
        for name in ("text", "role", "tool", "call_id"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.data:
            out["data"] = dict(self.data)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TranscriptEvent:
        return cls(
            kind=data["kind"],
            text=data.get("text", ""),
            role=data.get("role"),
            tool=data.get("tool"),
            call_id=data.get("call_id"),
            data=data.get("data", {}),
            at=datetime.fromisoformat(data["at"]),
        )


class TranscriptWriter:
    """Appends events to a JSON Lines file, redacted, one line at a time.

    Each line is written and closed at once (no file handle stays open), so a
    transcript survives a killed process and nothing needs closing. Safe to
    call from several threads (a CLI agent's reader thread and the
    orchestrator's experiment thread write to the same transcript).
    """

    def __init__(
        self, path: str | Path, *, redactor: Redactor, header: Mapping[str, Any] | None = None
    ) -> None:
        self.path = Path(path)
        self._redactor = redactor
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            head = {
                "format": TRANSCRIPT_FORMAT,
                "format_version": TRANSCRIPT_FORMAT_VERSION,
                **(header or {}),
            }
            self._write_line(head)

    def _write_line(self, obj: Mapping[str, Any]) -> None:
        line = json.dumps(self._redactor.redact_obj(dict(obj)), ensure_ascii=False, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def write(self, event: TranscriptEvent) -> None:
        if self._closed:
            raise ValueError(f"transcript {self.path} is closed")
        self._write_line(event.to_dict())

    def write_all(self, events: Iterable[TranscriptEvent]) -> None:
        for event in events:
            self.write(event)

    def close(self) -> None:
        """Refuse further events (nothing is held open)."""
        self._closed = True

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@attrs.frozen
class Transcript:
    """A transcript read back: its header and its events."""

    path: Path
    header: Mapping[str, Any]
    events: tuple[TranscriptEvent, ...]

    def __iter__(self) -> Iterator[TranscriptEvent]:
        return iter(self.events)

    def of_kind(self, *kinds: str) -> list[TranscriptEvent]:
        return [e for e in self.events if e.kind in kinds]


def read_transcript(path: str | Path) -> Transcript:
    """Read a transcript file; a line that is not a valid event raises LogFormatError."""
    p = Path(path)
    header: dict[str, Any] | None = None
    events: list[TranscriptEvent] = []
    with p.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LogFormatError(p, number, f"not JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise LogFormatError(p, number, "a transcript line must be a JSON object")
            if header is None:
                if obj.get("format") != TRANSCRIPT_FORMAT:
                    raise LogFormatError(p, number, f"not an {TRANSCRIPT_FORMAT} file (no header)")
                if obj.get("format_version") != TRANSCRIPT_FORMAT_VERSION:
                    raise LogFormatError(
                        p,
                        number,
                        f"format_version {obj.get('format_version')!r} is not "
                        f"{TRANSCRIPT_FORMAT_VERSION}",
                        "format_version",
                    )
                header = obj
                continue
            try:
                events.append(TranscriptEvent.from_dict(obj))
            except (KeyError, ValueError, TypeError) as exc:
                raise LogFormatError(p, number, f"not a transcript event: {exc}") from None
    if header is None:
        raise LogFormatError(p, None, "empty transcript (no header line)")
    return Transcript(p, header, tuple(events))
