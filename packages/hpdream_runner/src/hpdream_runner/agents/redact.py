"""Keep API keys out of transcripts, logs and reports.

A :class:`Redactor` replaces two things with ``[REDACTED]``:

- the exact secrets it was given (the keys the harness hands to agents), and
- anything shaped like a provider key or credential header, even a key the
  harness never saw (an agent may find one in its environment and print it):
  Anthropic ``sk-ant-…``, OpenAI ``sk-…``/``sk-proj-…``, Google ``AIza…``,
  ``Bearer …`` tokens and ``x-api-key`` / ``x-goog-api-key`` header values.

Every writer of agent output (transcripts, error messages, run summaries)
goes through one, so a key cannot reach the disk by another path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

#: What a redacted secret becomes.
REDACTED: Final = "[REDACTED]"

#: Secrets shorter than this are not secrets (local servers take keys such as "x").
MIN_SECRET_LENGTH: Final = 4

_PATTERNS: Final = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{12,}"),
    re.compile(
        r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]{8,}"
    ),
)


class Redactor:
    """Replaces known secrets and key-shaped strings in text and nested JSON values."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Also redact ``secret`` from now on (ignored when empty or too short to be one)."""
        if secret is None:
            return
        secret = secret.strip()
        if len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.append(secret)
        # longest first, so a secret that contains another is replaced whole
        self._secrets.sort(key=len, reverse=True)

    @property
    def secrets_count(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            if pattern.groups:
                text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
            else:
                text = pattern.sub(REDACTED, text)
        return text

    def redact_obj(self, value: Any) -> Any:
        """Redact every string inside ``value`` (dicts, lists, tuples; keys too)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(k)): self.redact_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_obj(v) for v in value]
        return value

    def contains_secret(self, text: str) -> bool:
        """Whether ``text`` holds anything this redactor would replace."""
        return self.redact(text) != text
