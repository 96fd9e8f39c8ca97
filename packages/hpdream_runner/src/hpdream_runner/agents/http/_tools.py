"""The tools an HTTP agent may call, and the harness code that carries them out.

An HTTP agent never touches the machine itself: it asks for a tool, and the
harness does the work inside the workspace. The tools are:

- ``read_file(path)``: a text file of the workspace (train.py, the protocol);
- ``edit_train_py(old_text, new_text)``: replace one exact, unique passage of train.py;
- ``write_train_py(content)``: replace the whole of train.py;
- ``view_log(last)``: the experiments so far;
- ``run_experiment(description, hypothesis)``: train and evaluate train.py as
  it stands; this ends the agent's step (the result comes back as this
  call's output when the next step starts).

A failing tool is an ordinary result (text starting ``error:``) for the model
to read, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from hpdream_core import Experiment

#: Largest file read_file returns, in characters.
MAX_READ_CHARS: Final = 200_000
RUN_EXPERIMENT: Final = "run_experiment"


@attrs.frozen
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]  # JSON Schema of the arguments (an object)


def _object(properties: Mapping[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(required)}


TOOLS: Final[tuple[ToolSpec, ...]] = (
    ToolSpec(
        "read_file",
        "Read a text file of your workspace, e.g. train.py or program.md.",
        _object(
            {"path": {"type": "string", "description": "path relative to the workspace"}}, ["path"]
        ),
    ),
    ToolSpec(
        "edit_train_py",
        "Replace one exact passage of train.py with new text. old_text must occur exactly once.",
        _object(
            {
                "old_text": {"type": "string", "description": "the exact text to replace"},
                "new_text": {"type": "string", "description": "the text to put in its place"},
            },
            ["old_text", "new_text"],
        ),
    ),
    ToolSpec(
        "write_train_py",
        "Replace the whole of train.py with new content.",
        _object(
            {"content": {"type": "string", "description": "the complete new train.py"}}, ["content"]
        ),
    ),
    ToolSpec(
        "view_log",
        "Show the log of experiments so far (index, status, val_bpb, description).",
        _object(
            {
                "last": {
                    "type": "integer",
                    "description": "show only the last N experiments (0: all)",
                }
            },
            [],
        ),
    ),
    ToolSpec(
        RUN_EXPERIMENT,
        "Train and evaluate train.py as it is now. Call it once your change is made; "
        "the result (val_bpb, keep or discard) comes back when the experiment is over.",
        _object(
            {
                "description": {
                    "type": "string",
                    "description": "what this experiment changes, in one line",
                },
                "hypothesis": {
                    "type": "string",
                    "description": "why you expect it to lower val_bpb",
                },
            },
            ["description", "hypothesis"],
        ),
    ),
)


def format_log(experiments: Sequence[Experiment], last: int = 0) -> str:
    """A plain table of the log for the model to read."""
    rows = list(experiments)
    if last and last > 0:
        rows = rows[-last:]
    if not rows:
        return "(no experiments yet)"
    lines = ["index\tstatus\tval_bpb\tdescription"]
    for e in rows:
        val = "-" if e.val_bpb is None else f"{e.val_bpb:.6f}"
        text = e.description.replace("\n", " ").replace("\t", " ")
        if e.error:
            text += f" [error: {e.error.splitlines()[0][:200]}]"
        lines.append(f"{e.index}\t{e.status}\t{val}\t{text}")
    kept = [e.val_bpb for e in experiments if e.status == "keep" and e.val_bpb is not None]
    if kept:
        lines.append(f"best kept val_bpb so far: {min(kept):.6f}")
    return "\n".join(lines)


def describe_result(experiment: Experiment) -> str:
    """The output of a run_experiment call: the experiment's outcome."""
    if experiment.status == "crash":
        reason = experiment.error or "unknown error"
        return f"experiment {experiment.index} crashed: {reason}. train.py was reverted."
    verdict = (
        "kept (train.py now includes the change)"
        if experiment.status == "keep"
        else ("discarded (train.py was reverted)")
    )
    return f"experiment {experiment.index}: val_bpb {experiment.val_bpb:.6f}, {verdict}."


@attrs.frozen
class ToolCall:
    """A tool call the model made."""

    call_id: str
    name: str
    arguments: Mapping[str, Any]
    #: the arguments as the model sent them when they were not a JSON object
    raw_arguments: str | None = None


@attrs.frozen
class Proposal:
    """The experiment an agent asked for at the end of its step."""

    description: str
    hypothesis: str | None


class WorkspaceTools:
    """Carries out tool calls inside one workspace."""

    def __init__(
        self, workspace: str | Path, *, log: Callable[[], Sequence[Experiment]] = tuple
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self._log = log

    @property
    def train_py(self) -> Path:
        return self.workspace / "train.py"

    def _resolve(self, path: str) -> Path | None:
        candidate = (self.workspace / path).resolve()
        try:
            candidate.relative_to(self.workspace)
        except ValueError:
            return None
        return candidate

    def run(self, call: ToolCall) -> str:
        """The text result of a call (run_experiment is handled by the agent, not here)."""
        if call.raw_arguments is not None:
            return f"error: the arguments of {call.name} are not a JSON object: {call.raw_arguments[:200]!r}"
        args = call.arguments
        try:
            if call.name == "read_file":
                return self._read(_text_arg(args, "path"))
            if call.name == "edit_train_py":
                return self._edit(_text_arg(args, "old_text"), _text_arg(args, "new_text"))
            if call.name == "write_train_py":
                return self._write(_text_arg(args, "content"))
            if call.name == "view_log":
                last = args.get("last", 0)
                if isinstance(last, bool) or not isinstance(last, int | float):
                    return "error: last must be an integer"
                return format_log(self._log(), int(last))
        except _BadArgument as exc:
            return f"error: {exc}"
        known = ", ".join(t.name for t in TOOLS)
        return f"error: unknown tool {call.name!r} (tools: {known})"

    def _read(self, path: str) -> str:
        target = self._resolve(path)
        if target is None:
            return f"error: {path!r} is outside the workspace"
        if not target.is_file():
            return f"error: no file {path!r} in the workspace"
        text = target.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_READ_CHARS:
            return text[:MAX_READ_CHARS] + f"\n[... truncated at {MAX_READ_CHARS} characters]"
        return text

    def _edit(self, old: str, new: str) -> str:
        if not self.train_py.is_file():
            return "error: train.py is missing"
        text = self.train_py.read_text(encoding="utf-8")
        if not old:
            return "error: old_text is empty"
        count = text.count(old)
        if count == 0:
            return "error: old_text does not occur in train.py (read it again and copy the text exactly)"
        if count > 1:
            return f"error: old_text occurs {count} times in train.py; include more context so it is unique"
        self.train_py.write_text(text.replace(old, new, 1), encoding="utf-8")
        return "train.py edited."

    def _write(self, content: str) -> str:
        if not content.strip():
            return "error: refusing to write an empty train.py"
        self.train_py.write_text(content, encoding="utf-8")
        return f"train.py written ({len(content.splitlines())} lines)."


class _BadArgument(ValueError):
    pass


def _text_arg(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise _BadArgument(f"argument {name!r} must be a string")
    return value


def proposal_from(call: ToolCall) -> Proposal | str:
    """The proposal in a run_experiment call, or an error text for the model."""
    if call.raw_arguments is not None:
        return "error: the arguments of run_experiment are not a JSON object"
    description = call.arguments.get("description")
    if not isinstance(description, str) or not description.strip():
        return "error: run_experiment needs a non-empty description"
    hypothesis = call.arguments.get("hypothesis")
    return Proposal(
        description.strip(),
        hypothesis.strip() if isinstance(hypothesis, str) and hypothesis.strip() else None,
    )
