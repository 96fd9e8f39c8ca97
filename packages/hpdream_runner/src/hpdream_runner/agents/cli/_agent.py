"""The coding-agent CLIs as autonomous agents of a study (the harness's agent protocol).

``agent_specs()`` registers ``claude-code``, ``codex`` and ``gemini``. For each
run the harness calls :meth:`CliAgent.start` with the run's context and then
drives the returned :class:`CliRun` (``run`` on a worker thread,
``begin_experiment`` / ``end_experiment`` around each experiment the agent
asks for, ``stop`` to end it). The session id of the CLI is kept in the run's
private HOME, so a study restarted after an interruption resumes the same
CLI session.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs

from hpdream_runner.agents._protocol import ExperimentOutcome, RunContext, RunEnd, StepReport
from hpdream_runner.agents._registry import AgentSetup, AgentSpec
from hpdream_runner.agents.cli._adapters import CLI_ADAPTERS, CliAdapter
from hpdream_runner.agents.cli._session import CliSession
from hpdream_runner.agents.limits import RunLimits
from hpdream_runner.agents.options import AgentConfigError, Option
from hpdream_runner.agents.pricing import PriceTable
from hpdream_runner.agents.redact import Redactor
from hpdream_runner.agents.transcript import TranscriptWriter

#: Where a run's CLI session id is kept (in the agent's HOME).
SESSION_FILE = "hpdream-session.json"
#: The CLI session's summary, written in the run's folder when the run ends.
AGENT_SUMMARY_FILE = "agent.json"
AGENT_SUMMARY_FORMAT_VERSION = 1

PRICES_OPTION = Option(
    "prices", "str", None, "price table (TOML) replacing or adding models to the default one"
)

#: Reasons that mean the agent failed rather than reaching a limit or being stopped.
_FAILURES = ("agent_failed", "agent_stalled", "max_relaunches")


def command_name(run_command: str) -> str:
    """The program part of the workspace's run command (``./run_experiment "…"`` -> ``./run_experiment``)."""
    try:
        parts = shlex.split(run_command)
    except ValueError:
        parts = run_command.split()
    return parts[0] if parts else run_command


def load_prices(option: str | None, base: Path | None = None) -> PriceTable:
    if option is None:
        return PriceTable.default()
    path = Path(option).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return PriceTable.load(path)


class CliRun:
    """One run of a CLI agent: the harness's :class:`~hpdream_runner.agents.AgentSession`."""

    def __init__(
        self,
        session: CliSession,
        writer: TranscriptWriter | None,
        session_file: Path,
        summary_path: Path | None = None,
    ) -> None:
        self.session = session
        self._writer = writer
        self._session_file = session_file
        self._summary_path = summary_path

    def run(self) -> RunEnd:
        outcome = self.session.run()
        failed = outcome.reason.startswith(_FAILURES)
        last_error = next(
            (launch.error for launch in reversed(outcome.launches) if launch.error), None
        )
        details: dict[str, Any] = {
            "adapter": self.session.adapter.name,
            "session_id": outcome.session_id,
            "launches": len(outcome.launches),
            "relaunches": outcome.relaunches,
            "experiments": outcome.experiments,
            "exit_codes": [launch.exit_code for launch in outcome.launches],
            "unattributed_usage": outcome.unattributed.to_dict(),
            "limit": None if outcome.limit is None else outcome.limit.limit,
        }
        if last_error:
            details["last_error"] = last_error
        if self._summary_path is not None:
            summary = {
                "format_version": AGENT_SUMMARY_FORMAT_VERSION,
                "reason": outcome.reason,
                "usage": outcome.usage.to_dict(),
                **details,
                "launch_log": [attrs.asdict(launch) for launch in outcome.launches],
            }
            self._summary_path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.session.redactor.redact_obj(summary), indent=2)
            self._summary_path.write_text(text + "\n", encoding="utf-8")
        return RunEnd(
            reason=outcome.reason,
            error=(last_error or outcome.reason) if failed else None,
            usage=outcome.usage,
            details=details,
        )

    def begin_experiment(self) -> StepReport:
        record = self.session.begin_experiment()
        usage = record.usage
        # Codex and Gemini CLI report tokens only when a launch ends: a step without
        # any reported tokens has unknown usage (empty cells), not zero
        known = usage.total_tokens > 0 or usage.cost_usd is not None
        return StepReport(usage=usage if known else None, agent_seconds=record.agent_seconds)

    def end_experiment(self, outcome: ExperimentOutcome) -> None:
        e = outcome.experiment
        self.session.end_experiment(
            {
                "index": e.index,
                "status": e.status,
                "val_bpb": e.val_bpb,
                "error": e.error,
                "last": outcome.last,
            }
        )
        if outcome.last:
            self.session.stop("the run's limits are reached")

    def stop(self, reason: str) -> None:
        self.session.stop(reason)

    def save_session_id(self, session_id: str) -> None:
        self._session_file.write_text(
            json.dumps({"adapter": self.session.adapter.name, "session_id": session_id}),
            encoding="utf-8",
        )


class CliAgent:
    """An autonomous agent driving one coding-agent CLI."""

    mode: ClassVar[Literal["autonomous"]] = "autonomous"

    def __init__(
        self,
        adapter: CliAdapter,
        *,
        label: str,
        limits: Mapping[str, Any] | None = None,
        prices: PriceTable | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.adapter = adapter
        self.label = label
        self.limits = RunLimits.from_mapping(limits or {}, where=f"agent {label!r} limits")
        self.prices = prices or PriceTable.default()
        self._environ = os.environ if environ is None else environ

    def start(self, context: RunContext) -> CliRun:
        environ = self._environ
        if self.adapter.resolve_executable(environ.get("PATH")) is None:
            raise AgentConfigError(
                f"agent {self.label!r} ({self.adapter.name}): executable {self.adapter.executable!r} "
                "not found (install the CLI or set the executable option)"
            )
        key_name, key = self.adapter.find_key(environ)
        if key is None:
            raise AgentConfigError(
                f"agent {self.label!r} ({self.adapter.name}): no API key in "
                f"{' or '.join(self.adapter.key_env_names())}"
            )
        limits = self.limits
        if context.seconds_left is not None and (
            limits.max_seconds is None or context.seconds_left < limits.max_seconds
        ):
            limits = RunLimits.from_mapping(
                {**limits.to_dict(), "max_seconds": max(context.seconds_left, 1e-3)}
            )
        home = Path(context.home)
        home.mkdir(parents=True, exist_ok=True)
        session_file = home / SESSION_FILE
        saved: str | None = None
        if session_file.exists() and self.adapter.options["resume"]:
            try:
                data = json.loads(session_file.read_text(encoding="utf-8"))
                if data.get("adapter") == self.adapter.name and isinstance(
                    data.get("session_id"), str
                ):
                    saved = data["session_id"]
            except (OSError, json.JSONDecodeError):
                saved = None
        redactor = Redactor([key])
        writer = TranscriptWriter(
            context.transcript_path,
            redactor=redactor,
            header={
                "study": context.study,
                "agent": context.label,
                "run": context.run,
                "adapter": self.adapter.name,
                "model": self.adapter.model,
                "key_env": key_name,
            },
        )
        holder: list[CliRun] = []
        session = CliSession(
            self.adapter,
            workspace=context.workspace,
            home=home,
            prompt=context.prompt,
            run_command=command_name(context.run_command),
            limits=limits,
            prices=self.prices,
            key=key,
            transcript=writer,
            redactor=redactor,
            environ=environ,
            extra_env=context.env,
            session_id=saved,
            on_session_id=lambda sid: holder[0].save_session_id(sid) if holder else None,
        )
        run = CliRun(session, writer, session_file, Path(context.run_dir) / AGENT_SUMMARY_FILE)
        holder.append(run)
        return run


def _factory(name: str) -> Any:
    def make(setup: AgentSetup) -> CliAgent:
        options = dict(setup.options)
        prices = load_prices(options.pop("prices", None), setup.base_dir)
        adapter = CLI_ADAPTERS[name](options)
        if adapter.options["executable"] and os.sep in adapter.options["executable"]:
            resolved = setup.resolve(adapter.options["executable"])
            adapter = CLI_ADAPTERS[name]({**options, "executable": str(resolved)})
        return CliAgent(adapter, label=setup.label, limits=setup.limits, prices=prices)

    return make


def _check(name: str) -> Any:
    def check() -> list[str]:
        return list(CLI_ADAPTERS[name]().usability().problems)

    return check


def agent_specs() -> tuple[AgentSpec, ...]:
    """The coding-agent CLIs, as registered agent adapters."""
    return tuple(
        AgentSpec(
            name,
            "autonomous",
            _factory(name),
            cls.title,
            (*cls.OPTIONS, PRICES_OPTION),
            needs_network=True,
            check=_check(name),
        )
        for name, cls in sorted(CLI_ADAPTERS.items())
    )
