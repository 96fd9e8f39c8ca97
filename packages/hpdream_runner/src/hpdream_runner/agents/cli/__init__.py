"""Autonomous coding-agent CLIs: Claude Code, Codex CLI, Gemini CLI.

Each adapter starts its CLI non-interactively in the workspace, with the
protocol as its prompt, in the CLI's machine-readable streaming mode and with
permissions limited to the workspace; :class:`CliSession` watches it for a
whole agent run (transcript, tokens, cost, limits, relaunches).
"""

from hpdream_runner.agents.cli._adapters import (
    CLI_ADAPTERS,
    COMMON_OPTIONS,
    DEFAULT_RESUME_PROMPT,
    ClaudeCodeAdapter,
    CliAdapter,
    CodexAdapter,
    GeminiCliAdapter,
    Usability,
)
from hpdream_runner.agents.cli._agent import CliAgent, CliRun, agent_specs, command_name
from hpdream_runner.agents.cli._events import (
    ClaudeStreamParser,
    CodexStreamParser,
    GeminiStreamParser,
    Parsed,
    SessionEnd,
    StreamParser,
    claude_usage,
)
from hpdream_runner.agents.cli._session import CliSession, Launch, SessionOutcome, StepRecord

__all__ = [
    "CLI_ADAPTERS",
    "COMMON_OPTIONS",
    "DEFAULT_RESUME_PROMPT",
    "ClaudeCodeAdapter",
    "ClaudeStreamParser",
    "CliAdapter",
    "CliAgent",
    "CliRun",
    "CliSession",
    "CodexAdapter",
    "CodexStreamParser",
    "GeminiCliAdapter",
    "GeminiStreamParser",
    "Launch",
    "Parsed",
    "SessionEnd",
    "SessionOutcome",
    "StepRecord",
    "StreamParser",
    "Usability",
    "agent_specs",
    "claude_usage",
    "command_name",
]
