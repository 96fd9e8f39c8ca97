#!/usr/bin/env python3
"""A fake ``gemini`` (Gemini CLI) that prints the real ``--output-format stream-json`` events.

See ``_fakelib.py`` for the scenarios. Events: ``init`` (``session_id``,
``model``), the user's ``message``, assistant ``message`` chunks with
``delta: true``, ``tool_use`` / ``tool_result`` pairs (``replace``,
``run_shell_command``), ``error`` (``severity``, ``message``) and the final
``result`` with ``stats`` (``total_tokens``, ``input_tokens``,
``output_tokens``, ``cached``, ``input``, ``duration_ms``, ``tool_calls``).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from _fakelib import Fake

PER_EXPERIMENT = {"input_tokens": 30000, "cached": 20000, "output_tokens": 500, "thoughts": 250}


def ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def main() -> None:
    argv = sys.argv[1:]
    fake = Fake("gemini")
    fake.require(argv, "--prompt", "--output-format", "--approval-mode")
    if fake.value(argv, "--output-format") != "stream-json":
        fake.fail_usage("--output-format must be stream-json here")
    prompt = fake.value(argv, "--prompt") or ""
    model = fake.value(argv, "--model") or "gemini-3-flash-preview"
    resume = fake.value(argv, "--resume")
    if resume is not None and resume != fake.session_id:
        fake.emit(
            {
                "type": "error",
                "timestamp": ts(),
                "severity": "error",
                "message": f"Session {resume} not found",
            }
        )
        sys.exit(42)
    start = time.time()
    fake.emit({"type": "init", "timestamp": ts(), "session_id": fake.session_id, "model": model})
    fake.emit({"type": "message", "timestamp": ts(), "role": "user", "content": prompt[:200]})
    if fake.mode == "leak":
        fake.leak()
    if fake.mode == "hang":
        fake.hang()
        return
    if fake.mode == "error_first" and fake.launch == 0:
        fake.emit(
            {
                "type": "error",
                "timestamp": ts(),
                "severity": "error",
                "message": "[API Error: You exceeded your current quota (status 429)]",
            }
        )
        fake.emit(
            {
                "type": "result",
                "timestamp": ts(),
                "status": "error",
                "error": {"type": "FatalTurnError", "message": "429 RESOURCE_EXHAUSTED"},
                "stats": {
                    "total_tokens": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cached": 0,
                    "input": 0,
                    "duration_ms": 10,
                    "tool_calls": 0,
                },
            }
        )
        sys.exit(1)
    calls = 0
    for k in range(fake.experiments):
        fake.do_cheat()
        n = fake.total_experiments
        old, new, description = fake.edit_train(n)
        fake.emit(
            {
                "type": "message",
                "timestamp": ts(),
                "role": "assistant",
                "content": "Next I will try ",
                "delta": True,
            }
        )
        fake.emit(
            {
                "type": "message",
                "timestamp": ts(),
                "role": "assistant",
                "content": f"{description}.",
                "delta": True,
            }
        )
        tid = f"replace-{fake.launch}-{k}"
        fake.emit(
            {
                "type": "tool_use",
                "timestamp": ts(),
                "tool_name": "replace",
                "tool_id": tid,
                "parameters": {"file_path": "train.py", "old_string": old, "new_string": new},
            }
        )
        fake.emit(
            {
                "type": "tool_result",
                "timestamp": ts(),
                "tool_id": tid,
                "status": "success",
                "output": "",
            }
        )
        rid = f"run_shell_command-{fake.launch}-{k}"
        fake.emit(
            {
                "type": "tool_use",
                "timestamp": ts(),
                "tool_name": "run_shell_command",
                "tool_id": rid,
                "parameters": {"command": fake.command_text},
            }
        )
        output, code = fake.run_experiment(description)
        if code == 0:
            fake.emit(
                {
                    "type": "tool_result",
                    "timestamp": ts(),
                    "tool_id": rid,
                    "status": "success",
                    "output": output,
                }
            )
        else:
            fake.emit(
                {
                    "type": "tool_result",
                    "timestamp": ts(),
                    "tool_id": rid,
                    "status": "error",
                    "error": {"type": "shell_error", "message": output},
                }
            )
        calls += 2
    if fake.mode == "exit_early":
        sys.exit(3)
    fake.emit(
        {
            "type": "message",
            "timestamp": ts(),
            "role": "assistant",
            "content": "Done for now.",
            "delta": True,
        }
    )
    e = fake.experiments
    inp, cached, out, thoughts = (
        PER_EXPERIMENT[k] * e for k in ("input_tokens", "cached", "output_tokens", "thoughts")
    )
    fake.emit(
        {
            "type": "result",
            "timestamp": ts(),
            "status": "success",
            "stats": {
                "total_tokens": inp + out + thoughts,
                "input_tokens": inp,
                "output_tokens": out,
                "cached": cached,
                "input": inp - cached,
                "duration_ms": int((time.time() - start) * 1000),
                "tool_calls": calls,
            },
        }
    )


if __name__ == "__main__":
    main()
