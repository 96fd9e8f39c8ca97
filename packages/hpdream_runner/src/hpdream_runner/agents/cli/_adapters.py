"""The three coding-agent CLIs: how each is started, resumed and read.

=============  ==========================================================================
adapter        command line (new session; ``…`` = common flags)
=============  ==========================================================================
claude-code    ``claude -p PROMPT --output-format stream-json --verbose --model MODEL
               --permission-mode acceptEdits --allowedTools … --disallowedTools …``;
               resumed with ``--resume SESSION_ID``; ``[1m]`` after the model name
               selects the 1M-token context window (``claude-opus-4-6[1m]``)
codex          ``codex exec --json --sandbox workspace-write --model MODEL PROMPT``;
               resumed with ``codex exec --json … resume THREAD_ID PROMPT``
gemini         ``gemini --prompt PROMPT --output-format stream-json --model MODEL
               --approval-mode auto_edit --allowed-tools …``; resumed with
               ``--resume SESSION_ID``
=============  ==========================================================================

``{run_experiment}`` in an option is replaced by the workspace's command for
running an experiment, so that permission lists can allow exactly it.
"""

from __future__ import annotations

import abc
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from hpdream_runner.agents.cli._events import (
    ClaudeStreamParser,
    CodexStreamParser,
    GeminiStreamParser,
    Pricer,
    StreamParser,
)
from hpdream_runner.agents.options import Option, parse_options

DEFAULT_RESUME_PROMPT = (
    "Your previous session ended before the study's limits were reached. Continue the "
    "research loop from your instructions where you left off: look at the log of "
    "experiments so far, make the next change to train.py and run the next experiment. "
    "Keep going until you are stopped."
)

#: Options every CLI adapter takes.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option("model", "str", None, "model name passed to the CLI (the CLI's default when absent)"),
    Option(
        "executable", "str", None, "path or name of the CLI executable (default: the adapter's)"
    ),
    Option("args", "list", (), "extra command-line arguments, added before the prompt"),
    Option("env", "table", {}, "extra environment variables for the agent (not secrets)"),
    Option(
        "key_env",
        "str",
        None,
        "harness environment variable holding the API key (default: the adapter's)",
    ),
    Option("resume", "bool", True, "resume the same session when the CLI exits early"),
    Option("max_relaunches", "int", 50, "relaunches allowed in one run", minimum=0),
    Option(
        "max_idle_launches",
        "int",
        3,
        "launches in a row without an experiment before the run ends",
        minimum=1,
    ),
    Option(
        "relaunch_delay",
        "float",
        5.0,
        "seconds before relaunching after a launch with no experiment (doubles each time, at most 300)",
        minimum=0,
    ),
    Option(
        "kill_grace",
        "float",
        5.0,
        "seconds between SIGTERM and SIGKILL when stopping the agent",
        minimum=0,
    ),
    Option(
        "resume_prompt",
        "str",
        None,
        "prompt given on relaunch (default: a short 'continue where you left off')",
    ),
)


@attrs.frozen
class Usability:
    """Whether an adapter can run on this machine, and why not."""

    usable: bool
    executable: str | None
    key_env: str | None
    key_present: bool
    problems: tuple[str, ...] = ()


class CliAdapter(abc.ABC):
    """How one coding-agent CLI is started and its output read."""

    name: ClassVar[str]
    title: ClassVar[str]
    default_executable: ClassVar[str]
    #: harness environment variables the key is read from, first found wins
    key_envs: ClassVar[tuple[str, ...]]
    #: variables the agent process receives the key in
    agent_key_vars: ClassVar[tuple[str, ...]]
    supports_resume: ClassVar[bool] = True
    reports_cost: ClassVar[bool] = False
    OPTIONS: ClassVar[tuple[Option, ...]] = COMMON_OPTIONS

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options(self.name, self.OPTIONS, options or {})

    @property
    def model(self) -> str | None:
        return self.options["model"]

    @property
    def executable(self) -> str:
        return self.options["executable"] or self.default_executable

    def resolve_executable(self, path: str | None = None) -> str | None:
        """Absolute path of the executable, or None when it cannot be found."""
        exe = self.executable
        if os.sep in exe or (os.altsep and os.altsep in exe):
            p = Path(exe).expanduser()
            return str(p.resolve()) if p.is_file() and os.access(p, os.X_OK) else None
        return shutil.which(exe, path=path)

    def key_env_names(self) -> tuple[str, ...]:
        chosen = self.options["key_env"]
        return (chosen,) if chosen else self.key_envs

    def find_key(self, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
        """(variable name, key) from the harness environment, or (None, None)."""
        for name in self.key_env_names():
            value = environ.get(name, "").strip()
            if value:
                return name, value
        return None, None

    def agent_keys(self, key: str) -> dict[str, str]:
        return {var: key for var in self.agent_key_vars}

    def usability(self, environ: Mapping[str, str] | None = None) -> Usability:
        env = os.environ if environ is None else environ
        exe = self.resolve_executable(env.get("PATH"))
        key_name, key = self.find_key(env)
        problems = []
        if exe is None:
            problems.append(f"executable {self.executable!r} not found")
        if key is None:
            problems.append(f"no API key in {' or '.join(self.key_env_names())}")
        return Usability(
            not problems, exe, key_name or self.key_env_names()[0], key is not None, tuple(problems)
        )

    def adapter_env(self) -> dict[str, str]:
        """Variables the CLI needs to run headless in the workspace (no secrets)."""
        return {}

    def resume_prompt(self) -> str:
        return self.options["resume_prompt"] or DEFAULT_RESUME_PROMPT

    @staticmethod
    def _fill(values: tuple[str, ...], run_command: str) -> list[str]:
        return [v.replace("{run_experiment}", run_command) for v in values]

    @abc.abstractmethod
    def command(self, *, prompt: str, session_id: str | None, run_command: str) -> list[str]:
        """argv (without the executable) for a new session, or for resuming ``session_id``."""

    @abc.abstractmethod
    def make_parser(self, pricer: Pricer) -> StreamParser:
        """A parser for one launch's stdout."""


class ClaudeCodeAdapter(CliAdapter):
    name = "claude-code"
    title = "Claude Code (claude -p, stream-json)"
    default_executable = "claude"
    key_envs = ("ANTHROPIC_API_KEY",)
    agent_key_vars = ("ANTHROPIC_API_KEY",)
    reports_cost = True
    OPTIONS = (
        *COMMON_OPTIONS,
        Option(
            "permission_mode",
            "str",
            "acceptEdits",
            "Claude Code permission mode (acceptEdits: edits allowed, other tools only as listed)",
            choices=("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"),
        ),
        Option(
            "allowed_tools",
            "list",
            (
                "Read",
                "Edit",
                "Write",
                "Glob",
                "Grep",
                "Bash({run_experiment}:*)",
                "Bash(git diff:*)",
                "Bash(git log:*)",
                "Bash(cat:*)",
            ),
            "tools allowed without asking (--allowedTools)",
        ),
        Option(
            "disallowed_tools",
            "list",
            ("WebFetch", "WebSearch"),
            "tools removed (--disallowedTools)",
        ),
        Option("max_turns", "int", None, "--max-turns for each launch", minimum=1),
    )

    def command(self, *, prompt: str, session_id: str | None, run_command: str) -> list[str]:
        o = self.options
        argv = ["-p", prompt, "--output-format", "stream-json", "--verbose"]
        if self.model:
            argv += ["--model", self.model]
        argv += ["--permission-mode", o["permission_mode"]]
        if o["allowed_tools"]:
            argv += ["--allowedTools", ",".join(self._fill(o["allowed_tools"], run_command))]
        if o["disallowed_tools"]:
            argv += ["--disallowedTools", ",".join(self._fill(o["disallowed_tools"], run_command))]
        if o["max_turns"]:
            argv += ["--max-turns", str(o["max_turns"])]
        if session_id:
            argv += ["--resume", session_id]
        argv += self._fill(o["args"], run_command)
        return argv

    def make_parser(self, pricer: Pricer) -> StreamParser:
        return ClaudeStreamParser(pricer, self.model)


class CodexAdapter(CliAdapter):
    name = "codex"
    title = "Codex CLI (codex exec --json)"
    default_executable = "codex"
    key_envs = ("OPENAI_API_KEY", "CODEX_API_KEY")
    agent_key_vars = ("CODEX_API_KEY", "OPENAI_API_KEY")
    OPTIONS = (
        *COMMON_OPTIONS,
        Option(
            "sandbox",
            "str",
            "workspace-write",
            "Codex sandbox policy (--sandbox)",
            choices=("read-only", "workspace-write", "danger-full-access"),
        ),
        Option("network_access", "bool", False, "allow network inside the workspace-write sandbox"),
        Option("config", "list", (), "extra -c key=value overrides for Codex"),
    )

    def command(self, *, prompt: str, session_id: str | None, run_command: str) -> list[str]:
        o = self.options
        argv = ["exec", "--json", "--sandbox", o["sandbox"]]
        if self.model:
            argv += ["--model", self.model]
        if o["network_access"]:
            argv += ["-c", "sandbox_workspace_write.network_access=true"]
        for item in o["config"]:
            argv += ["-c", item]
        argv += self._fill(o["args"], run_command)
        if session_id:
            argv += ["resume", session_id, prompt]
        else:
            argv += [prompt]
        return argv

    def make_parser(self, pricer: Pricer) -> StreamParser:
        return CodexStreamParser(pricer, self.model)


class GeminiCliAdapter(CliAdapter):
    name = "gemini"
    title = "Gemini CLI (gemini -p, stream-json)"
    default_executable = "gemini"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    agent_key_vars = ("GEMINI_API_KEY",)
    OPTIONS = (
        *COMMON_OPTIONS,
        Option(
            "approval_mode",
            "str",
            "auto_edit",
            "Gemini CLI approval mode (auto_edit: edits approved, shell only as allowed)",
            choices=("default", "auto_edit", "yolo", "plan"),
        ),
        Option(
            "allowed_tools",
            "list",
            (
                "run_shell_command({run_experiment})",
                "run_shell_command(git diff)",
                "run_shell_command(git log)",
            ),
            "tools allowed without confirmation (--allowed-tools)",
        ),
    )

    def adapter_env(self) -> dict[str, str]:
        # headless Gemini CLI refuses (or falls back to the default approval mode) in a
        # folder it does not trust; the workspace is the one folder it may work in
        return {"GEMINI_CLI_TRUST_WORKSPACE": "true"}

    def command(self, *, prompt: str, session_id: str | None, run_command: str) -> list[str]:
        o = self.options
        argv = ["--prompt", prompt, "--output-format", "stream-json"]
        if self.model:
            argv += ["--model", self.model]
        argv += ["--approval-mode", o["approval_mode"]]
        if o["allowed_tools"]:
            argv += ["--allowed-tools", ",".join(self._fill(o["allowed_tools"], run_command))]
        if session_id:
            argv += ["--resume", session_id]
        argv += self._fill(o["args"], run_command)
        return argv

    def make_parser(self, pricer: Pricer) -> StreamParser:
        return GeminiStreamParser(pricer, self.model)


#: The CLI adapters by name.
CLI_ADAPTERS: dict[str, type[CliAdapter]] = {
    a.name: a for a in (ClaudeCodeAdapter, CodexAdapter, GeminiCliAdapter)
}
