"""A stepwise, tool-using agent over an HTTP model API.

One conversation lasts the whole agent run, so the model keeps its context
from one experiment to the next (as a CLI session does). Each *step* ends when
the model calls ``run_experiment``: the harness then trains, and the outcome
comes back as that call's result when the next step starts. Within a step
the model may read files, edit train.py and view the log as often as it
likes, within the run's limits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx

from hpdream_core import Experiment
from hpdream_runner.agents.http._client import ApiClient, ApiError, RetryAttempt, RetryPolicy
from hpdream_runner.agents.http._providers import PROVIDERS, Provider, Reply, ToolResult
from hpdream_runner.agents.http._tools import (
    RUN_EXPERIMENT,
    TOOLS,
    Proposal,
    ToolCall,
    WorkspaceTools,
    describe_result,
    format_log,
    proposal_from,
)
from hpdream_runner.agents.limits import LimitReached, LimitTracker, RunLimits
from hpdream_runner.agents.options import AgentConfigError
from hpdream_runner.agents.pricing import PriceTable
from hpdream_runner.agents.redact import Redactor
from hpdream_runner.agents.transcript import TranscriptEvent, TranscriptWriter, Usage

SYSTEM_PREAMBLE = (
    "You are an autonomous machine-learning researcher. You improve a small language model's "
    "training script, train.py, one experiment at a time, to lower its validation bits per "
    "byte (val_bpb). You act only through the tools: read files, edit train.py, view the log, "
    "and run_experiment once your change is made (give a one-line description and your "
    "hypothesis). Where the protocol below says to run ./run_experiment or to read the log "
    "in a shell, use the run_experiment and view_log tools instead. The harness trains and "
    "evaluates; it keeps an improvement and reverts the rest. The protocol follows.\n\n"
)
NUDGE = (
    "No experiment was run. Make your next change to train.py with the tools, then call "
    "run_experiment with a description and a hypothesis."
)


@attrs.frozen
class StepOutcome:
    """What one step of an HTTP agent produced.

    ``proposal`` is the experiment asked for, or None when the run must end
    (``end_reason`` says why: a limit, a fatal API error, an agent that will
    not run experiments).
    """

    proposal: Proposal | None
    usage: Usage
    agent_seconds: float
    events: tuple[TranscriptEvent, ...]
    end_reason: str | None = None
    limit: LimitReached | None = None


class HttpAgent:
    """One agent run over one provider.

    ``client`` (an ``httpx.Client``) or ``transport`` is injected in tests;
    ``key`` defaults to the provider's environment variable in ``environ``.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        key: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        prices: PriceTable | None = None,
        limits: RunLimits | None = None,
        tracker: LimitTracker | None = None,
        redactor: Redactor | None = None,
        transcript: TranscriptWriter | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        if provider.model is None:
            raise AgentConfigError(f"agent {provider.name!r}: option 'model' is required")
        if provider.name == "openai-compatible" and not provider.base_url:
            raise AgentConfigError(
                f"agent {provider.name!r}: option 'base_url' is required (e.g. http://localhost:8000/v1)"
            )
        env = os.environ if environ is None else environ
        if key is None:
            for name in provider.key_env_names():
                if env.get(name, "").strip():
                    key = env[name].strip()
                    break
        if key is None and provider.requires_key:
            raise AgentConfigError(
                f"agent {provider.name!r}: no API key in {' or '.join(provider.key_env_names())}"
            )
        self.key = key
        self.redactor = redactor or Redactor()
        self.redactor.add(key)
        self.prices = prices or PriceTable.default()
        self.tracker = tracker or LimitTracker(limits or RunLimits(), clock=clock)
        self.transcript = transcript
        self._clock = clock
        self._injected = client
        self._transport = transport
        self._timeout = httpx.Timeout(provider.options["request_timeout"], connect=30.0)
        policy = RetryPolicy(
            max_attempts=provider.options["max_attempts"],
            max_delay=provider.options["max_retry_delay"],
        )
        kwargs: dict[str, Any] = {"rng": rng} if rng is not None else {}
        self.api = ApiClient(
            provider.name,
            client=client,
            classify=provider.classify,
            redactor=self.redactor,
            policy=policy,
            sleep=sleep,
            on_retry=self._on_retry,
            **kwargs,
        )
        self.tools: WorkspaceTools | None = None
        self._log: Sequence[Experiment] = ()
        self._pending_run: ToolCall | None = None
        self._pending_results: list[ToolResult] = []
        self._events: list[TranscriptEvent] = []
        self._started = False
        self.total = Usage()

    # -- recording ------------------------------------------------------------------------

    def _record(self, event: TranscriptEvent) -> None:
        self._events.append(event)
        if self.transcript is not None:
            self.transcript.write(event)

    def _on_retry(self, attempt: RetryAttempt) -> None:
        self._record(
            TranscriptEvent(
                "retry",
                text=attempt.message,
                data={
                    "attempt": attempt.attempt,
                    "status": attempt.status,
                    "kind": attempt.kind,
                    "wait_seconds": round(attempt.wait, 3),
                },
            )
        )

    # -- the run --------------------------------------------------------------------------

    def start(self, workspace: str | Path, protocol: str) -> None:
        """Begin the conversation for an agent run in ``workspace``."""
        self.tools = WorkspaceTools(workspace, log=lambda: self._log)
        self._protocol = protocol

    def step(
        self,
        log: Sequence[Experiment],
        *,
        last_result: str | None = None,
        seconds_left: float | None = None,
    ) -> StepOutcome:
        """Ask for the next experiment, given the log so far.

        ``last_result`` is what the previous experiment reported (by default a
        line made from the log's last row); it becomes the output of the
        model's ``run_experiment`` call. ``seconds_left`` bounds the waits of
        retries, beside the run's own limits.
        """
        if self._injected is not None:
            self.api.client = self._injected
            return self._step(log, last_result, seconds_left)
        with httpx.Client(transport=self._transport, timeout=self._timeout) as http:
            self.api.client = http
            return self._step(log, last_result, seconds_left)

    def _step(
        self, log: Sequence[Experiment], last_result: str | None, seconds_left: float | None
    ) -> StepOutcome:
        if self.tools is None:
            raise RuntimeError("HttpAgent.step() before start()")
        self._log = tuple(log)
        self._events = []
        self.tracker.resume(new_step=True)
        step_usage = Usage()
        provider = self.provider
        if not self._started:
            user = (
                "The log so far:\n"
                + format_log(self._log)
                + "\n\nMake your first change and run it."
            )
            provider.begin(SYSTEM_PREAMBLE + self._protocol, user, TOOLS)
            self._record(
                TranscriptEvent(
                    "prompt",
                    role="user",
                    text=user,
                    data={"system": SYSTEM_PREAMBLE + self._protocol},
                )
            )
            self._started = True
        elif self._pending_run is not None:
            if last_result is not None:
                outcome = last_result
            else:
                outcome = describe_result(self._log[-1]) if self._log else "no result was logged"
            answered = [*self._pending_results, ToolResult(self._pending_run, outcome)]
            provider.add_results(answered)
            for r in answered:
                self._record(
                    TranscriptEvent(
                        "tool_result", tool=r.call.name, call_id=r.call.call_id, text=r.output
                    )
                )
            self._pending_run = None
            self._pending_results = []
        deadline = None if seconds_left is None else self._clock() + seconds_left

        def time_left() -> float | None:
            mine = self.tracker.seconds_left()
            if deadline is None:
                return mine
            theirs = max(0.0, deadline - self._clock())
            return theirs if mine is None else min(mine, theirs)

        nudges = 0
        while True:
            limit = self.tracker.check()
            if limit is not None:
                self._record(TranscriptEvent("limit", text=limit.reason, data=attrs.asdict(limit)))
                return self._outcome(None, step_usage, end=limit.reason, limit=limit)
            try:
                body = self.api.post(
                    provider.url(),
                    headers=provider.headers(self.key),
                    body=provider.request(),
                    time_left=time_left,
                )
            except ApiError as exc:
                message = self.redactor.redact(str(exc))
                self._record(
                    TranscriptEvent(
                        "error", text=message, data={"status": exc.status, "kind": exc.kind}
                    )
                )
                return self._outcome(None, step_usage, end=f"api_error: {message}")
            reply = provider.read(body)
            usage = self.prices.priced(
                reply.model or provider.model, reply.usage, single_request=True
            )
            step_usage = step_usage + usage
            self.total = self.total + usage
            self.tracker.add(usage)
            self._record_reply(reply, usage)
            if not reply.calls:
                if nudges >= provider.options["max_nudges"]:
                    return self._outcome(
                        None,
                        step_usage,
                        end=f"agent_stalled: no run_experiment call after {nudges} reminders",
                    )
                nudges += 1
                provider.add_user(NUDGE)
                self._record(TranscriptEvent("prompt", role="user", text=NUDGE))
                continue
            results: list[ToolResult] = []
            run_call: ToolCall | None = None
            proposal: Proposal | None = None
            for call in reply.calls:
                if call.name == RUN_EXPERIMENT and run_call is None:
                    checked = proposal_from(call)
                    if isinstance(checked, Proposal):
                        run_call, proposal = call, checked
                        continue
                    results.append(ToolResult(call, checked, is_error=True))
                elif call.name == RUN_EXPERIMENT:
                    results.append(
                        ToolResult(
                            call,
                            "error: one experiment at a time; this call was ignored",
                            is_error=True,
                        )
                    )
                else:
                    output = self.tools.run(call)
                    results.append(ToolResult(call, output, is_error=output.startswith("error:")))
            if run_call is not None and proposal is not None:
                self._pending_run = run_call
                self._pending_results = results
                for r in results:
                    self._record(
                        TranscriptEvent(
                            "tool_result", tool=r.call.name, call_id=r.call.call_id, text=r.output
                        )
                    )
                return self._outcome(proposal, step_usage)
            provider.add_results(results)
            for r in results:
                self._record(
                    TranscriptEvent(
                        "tool_result", tool=r.call.name, call_id=r.call.call_id, text=r.output
                    )
                )

    def _record_reply(self, reply: Reply, usage: Usage) -> None:
        for text in reply.thinking:
            self._record(TranscriptEvent("thinking", text=text))
        for text in reply.texts:
            self._record(TranscriptEvent("message", role="assistant", text=text))
        for call in reply.calls:
            data: dict[str, Any] = {"input": dict(call.arguments)}
            if call.raw_arguments is not None:
                data["raw_arguments"] = call.raw_arguments
            self._record(
                TranscriptEvent("tool_call", tool=call.name, call_id=call.call_id, data=data)
            )
        self._record(
            TranscriptEvent(
                "usage", data={**usage.to_dict(), "stop": reply.stop, "model": reply.model}
            )
        )

    def _outcome(
        self,
        proposal: Proposal | None,
        usage: Usage,
        *,
        end: str | None = None,
        limit: LimitReached | None = None,
    ) -> StepOutcome:
        self.tracker.pause()
        return StepOutcome(
            proposal=proposal,
            usage=usage,
            agent_seconds=self.tracker.step_seconds(),
            events=tuple(self._events),
            end_reason=end,
            limit=limit,
        )

    def close(self) -> None:
        """Nothing is held between steps (each step opens and closes its own connections)."""


def make_http_agent(
    name: str, options: Mapping[str, Any] | None = None, **kwargs: Any
) -> HttpAgent:
    """An HTTP agent by provider name (``anthropic``, ``openai``, ``openai-compatible``, ``gemini-api``)."""
    try:
        cls = PROVIDERS[name]
    except KeyError:
        raise AgentConfigError(
            f"unknown HTTP agent {name!r} (known: {sorted(PROVIDERS)})"
        ) from None
    return HttpAgent(cls(options), **kwargs)
