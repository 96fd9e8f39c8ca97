"""POSTing JSON to model APIs, with retries that honour the server.

::

    ApiError (HpdreamError)            an API call failed: provider, status, kind, message
     ├── FatalApiError                 cannot pass by retrying (bad key, spend limit, bad request)
     └── RetriesExhausted              a transient error outlived the retry policy or the time left

Transient failures (429 rate limits, 503, Anthropic's 529 ``overloaded_error``,
500/502/504, time-outs and dropped connections) are retried with exponential
backoff and jitter, waiting at least what ``retry-after`` / ``retry-after-ms``
(or Gemini's ``RetryInfo.retryDelay``) asks. Errors that cannot pass — an
invalid key, an exhausted quota or credit balance, a malformed request —
are raised at once. Every message is redacted before it is raised or logged.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx

from hpdream_core import HpdreamError
from hpdream_runner.agents.redact import Redactor

#: Classifies an error response: (status, parsed body) -> (retryable, kind, message).
Classifier = Callable[[int, Any], tuple[bool, str, str]]


class ApiError(HpdreamError):
    """An API call failed."""

    def __init__(self, provider: str, status: int | None, kind: str, message: str) -> None:
        self.provider = provider
        self.status = status
        self.kind = kind
        self.message = message
        where = f"{provider} API" + (f" HTTP {status}" if status is not None else "")
        super().__init__(f"{where} {kind}: {message}")


class FatalApiError(ApiError):
    """An error that retrying cannot fix: the run must stop."""


class RetriesExhausted(ApiError):
    """A transient error that lasted longer than the retry policy or the time left."""


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with jitter; ``retry-after`` is a floor, capped by ``max_wait``."""

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    #: the longest a server's retry-after is honoured before giving up
    max_wait: float = 600.0
    jitter: float = 0.25

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Delay before retry number ``attempt`` (1-based), without the server's hint."""
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * (1.0 + self.jitter * (2.0 * rng() - 1.0))


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, ``retry-after`` (seconds or a date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _gemini_retry_delay(body: Any) -> float | None:
    """Gemini puts the wait in ``error.details[].retryDelay`` (e.g. ``"37s"``)."""
    if not isinstance(body, Mapping):
        return None
    err = body.get("error")
    if not isinstance(err, Mapping):
        return None
    for detail in err.get("details") or []:
        if isinstance(detail, Mapping) and isinstance(detail.get("retryDelay"), str):
            text = detail["retryDelay"].strip()
            if text.endswith("s"):
                try:
                    return max(0.0, float(text[:-1]))
                except ValueError:
                    return None
    return None


@attrs.frozen
class RetryAttempt:
    """One try of a call, as recorded for the transcript."""

    attempt: int
    status: int | None
    kind: str
    message: str
    wait: float


class ApiClient:
    """Sends one JSON request, retrying transient failures.

    ``client`` is an ``httpx.Client`` (tests pass one built on
    ``httpx.MockTransport``); ``sleep``, ``rng`` and ``clock`` are injectable
    so that tests neither wait nor depend on chance. ``time_left`` returns
    the seconds the run may still spend (None: no limit): a wait that would
    outlast it raises :class:`RetriesExhausted` instead.
    """

    def __init__(
        self,
        provider: str,
        *,
        client: httpx.Client | None,
        classify: Classifier,
        redactor: Redactor,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: Callable[[RetryAttempt], None] | None = None,
    ) -> None:
        self.provider = provider
        self.client = client
        self.classify = classify
        self.redactor = redactor
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng
        self.on_retry = on_retry

    def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any],
        time_left: Callable[[], float | None] | None = None,
    ) -> dict[str, Any]:
        if self.client is None:
            raise RuntimeError("ApiClient.post() without an httpx client")
        client = self.client
        policy = self.policy
        attempt = 0
        while True:
            attempt += 1
            hint: float | None = None
            try:
                response = client.post(url, headers=dict(headers), json=dict(body))
            except httpx.TimeoutException as exc:
                retryable, status, kind, message = (
                    True,
                    None,
                    "timeout",
                    str(exc) or type(exc).__name__,
                )
            except httpx.TransportError as exc:
                retryable, status, kind, message = (
                    True,
                    None,
                    "connection_error",
                    str(exc) or type(exc).__name__,
                )
            else:
                status = response.status_code
                parsed: Any
                try:
                    parsed = response.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    parsed = None
                if 200 <= status < 300:
                    if not isinstance(parsed, dict):
                        raise FatalApiError(
                            self.provider,
                            status,
                            "bad_response",
                            self.redactor.redact(response.text[:500]),
                        )
                    return parsed
                retryable, kind, message = self.classify(
                    status, parsed if parsed is not None else response.text
                )
                hint = parse_retry_after(response.headers)
                if hint is None:
                    hint = _gemini_retry_delay(parsed)
            message = self.redactor.redact(message)
            if not retryable:
                raise FatalApiError(self.provider, status, kind, message)
            wait = policy.backoff(attempt, self.rng)
            if hint is not None:
                if hint > policy.max_wait:
                    raise RetriesExhausted(
                        self.provider, status, kind, f"{message} (server asks to wait {hint:.0f} s)"
                    )
                wait = max(wait, hint)
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(
                    self.provider, status, kind, f"{message} (gave up after {attempt} attempts)"
                )
            left = time_left() if time_left is not None else None
            if left is not None and wait >= left:
                raise RetriesExhausted(
                    self.provider, status, kind, f"{message} (no time left to wait {wait:.1f} s)"
                )
            if self.on_retry is not None:
                self.on_retry(RetryAttempt(attempt, status, kind, message, wait))
            self.sleep(wait)


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(type, code, message) from the usual error bodies of the four APIs."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            etype = str(err.get("type") or err.get("status") or "")
            code = str(err.get("code") or "")
            message = str(err.get("message") or json.dumps(err)[:500])
            return etype, code, message
        if isinstance(err, str):
            return "", "", err
    if isinstance(body, str):
        return "", "", body[:500]
    return "", "", ""


_TRANSIENT = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
_SPEND = (
    "credit balance",
    "insufficient_quota",
    "billing",
    "spending cap",
    "spend limit",
    "prepayment",
    "quota exceeded for quota metric 'generate content paid tier",
)


def classify_anthropic(status: int, body: Any) -> tuple[bool, str, str]:
    etype, _code, message = _error_fields(body)
    kind = etype or f"http_{status}"
    if status in (401, 403):
        return False, kind or "authentication_error", message
    if any(s in message.lower() for s in _SPEND):
        return False, "spend_limit", message
    return status in _TRANSIENT, kind, message


def classify_openai(status: int, body: Any) -> tuple[bool, str, str]:
    etype, code, message = _error_fields(body)
    kind = code or etype or f"http_{status}"
    if status in (401, 403):
        return False, kind, message
    if (
        code == "insufficient_quota"
        or etype == "insufficient_quota"
        or any(s in message.lower() for s in _SPEND[:4])
    ):
        return False, "spend_limit", message
    return status in _TRANSIENT, kind, message


def classify_gemini(status: int, body: Any) -> tuple[bool, str, str]:
    etype, _code, message = _error_fields(body)
    kind = etype or f"http_{status}"
    lowered = message.lower()
    if status in (401, 403) or "api key not valid" in lowered or "api_key_invalid" in lowered:
        return False, kind, message
    if any(s in lowered for s in _SPEND):
        return False, "spend_limit", message
    return status in _TRANSIENT, kind, message
