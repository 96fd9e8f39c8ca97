"""The HTTP-API agents as stepwise agents of a study (the harness's agent protocol).

``agent_specs()`` registers ``anthropic``, ``openai``, ``openai-compatible``
and ``gemini-api``. The harness calls :meth:`HttpStepwiseAgent.propose` for
each experiment; the agent edits the workspace's train.py through its tools
and returns a proposal without a new source (``train_py=None``), with the
tokens, cost and time of its step. The transcript goes to the run's
``transcript.jsonl`` (redacted).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from hpdream_runner.agents._protocol import Proposal, StepContext, Stop
from hpdream_runner.agents._registry import AgentSetup, AgentSpec
from hpdream_runner.agents.http._agent import HttpAgent
from hpdream_runner.agents.http._providers import PROVIDERS, Provider
from hpdream_runner.agents.limits import RunLimits
from hpdream_runner.agents.options import AgentConfigError, Option
from hpdream_runner.agents.pricing import PriceTable
from hpdream_runner.agents.redact import Redactor
from hpdream_runner.agents.transcript import TranscriptWriter

PRICES_OPTION = Option(
    "prices", "str", None, "price table (TOML) replacing or adding models to the default one"
)


class HttpStepwiseAgent:
    """A stepwise agent over one HTTP provider; one object serves one run."""

    mode: ClassVar[Literal["stepwise"]] = "stepwise"

    def __init__(
        self,
        provider: Provider,
        *,
        label: str,
        limits: Mapping[str, Any] | None = None,
        prices: PriceTable | None = None,
        transcript_path: Path | None = None,
        header: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.label = label
        self.limits = RunLimits.from_mapping(limits or {}, where=f"agent {label!r} limits")
        self.prices = prices or PriceTable.default()
        self.transcript_path = transcript_path
        self.header = dict(header or {})
        self._environ = os.environ if environ is None else environ
        self._transport = transport
        self._sleep = sleep
        self.agent: HttpAgent | None = None
        self._writer: TranscriptWriter | None = None

    def _start(self, context: StepContext) -> HttpAgent:
        redactor = Redactor()
        if self.transcript_path is not None:
            self._writer = TranscriptWriter(
                self.transcript_path,
                redactor=redactor,
                header={"adapter": self.provider.name, "model": self.provider.model, **self.header},
            )
        agent = HttpAgent(
            self.provider,
            prices=self.prices,
            limits=self.limits,
            redactor=redactor,
            transcript=self._writer,
            environ=self._environ,
            transport=self._transport,
            sleep=self._sleep,
        )
        protocol = context.protocol
        program = context.workspace / "program.md"
        if not protocol and program.is_file():
            protocol = program.read_text(encoding="utf-8")
        agent.start(context.workspace, protocol)
        return agent

    def propose(self, context: StepContext) -> Proposal | Stop:
        if self.agent is None:
            self.agent = self._start(context)
        log = [a.experiment for a in context.history]
        last = context.history[-1].message if context.history else None
        outcome = self.agent.step(log, last_result=last or None, seconds_left=context.seconds_left)
        if outcome.proposal is None:
            self.close()
            return Stop(outcome.end_reason or "the agent stopped", usage=outcome.usage)
        return Proposal(
            description=outcome.proposal.description,
            train_py=None,
            hypothesis=outcome.proposal.hypothesis,
            usage=outcome.usage,
            agent_seconds=outcome.agent_seconds,
        )

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
        if self._writer is not None:
            self._writer.close()


def _transcript_path(setup: AgentSetup) -> Path | None:
    if setup.study_dir is None:
        return None
    from hpdream_runner.study._layout import Layout

    return Layout(setup.study_dir).transcript(setup.label, setup.run)


def _factory(name: str) -> Callable[[AgentSetup], HttpStepwiseAgent]:
    def make(setup: AgentSetup) -> HttpStepwiseAgent:
        options = dict(setup.options)
        price_file = options.pop("prices", None)
        prices = PriceTable.load(setup.resolve(price_file)) if price_file else PriceTable.default()
        provider = PROVIDERS[name](options)
        if provider.model is None:
            raise AgentConfigError(f"agent {setup.label!r} ({name}): option 'model' is required")
        return HttpStepwiseAgent(
            provider,
            label=setup.label,
            limits=setup.limits,
            prices=prices,
            transcript_path=_transcript_path(setup),
            header={"study": setup.study, "agent": setup.label, "run": setup.run},
        )

    return make


def _check(name: str) -> Callable[[], list[str]]:
    def check() -> list[str]:
        cls = PROVIDERS[name]
        keys = cls().key_env_names()
        if cls.requires_key and not any(os.environ.get(k, "").strip() for k in keys):
            return [f"no API key in {' or '.join(keys)}"]
        return []

    return check


def agent_specs() -> tuple[AgentSpec, ...]:
    """The HTTP-API agents, as registered agent adapters."""
    return tuple(
        AgentSpec(
            name,
            "stepwise",
            _factory(name),
            cls.title,
            (*cls.OPTIONS, PRICES_OPTION),
            needs_network=True,
            check=_check(name),
        )
        for name, cls in sorted(PROVIDERS.items())
    )
