#!/usr/bin/env python3
"""A fake ``claude`` (Claude Code) that prints the real ``-p --output-format stream-json --verbose`` events.

See ``_fakelib.py`` for the scenarios. Events: ``system``/``init``; ``assistant``
messages (a text block and a ``tool_use`` block of the same message id, each
event repeating the message's ``usage``, as Claude Code does); ``user``
messages with ``tool_result`` blocks; and the final ``result`` with
``total_cost_usd``, ``usage`` and ``num_turns``.
"""

from __future__ import annotations

import sys
import time
import uuid

from _fakelib import Fake

USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 9000,
    "output_tokens": 300,
}
# what one message of USAGE costs on claude-sonnet-4-6 at the default prices
COST_PER_MESSAGE = 0.012861


def main() -> None:
    argv = sys.argv[1:]
    fake = Fake("claude")
    fake.require(argv, "-p", "--verbose", "--output-format", "--permission-mode")
    if fake.value(argv, "--output-format") != "stream-json":
        fake.fail_usage("--output-format must be stream-json here")
    if not (fake.value(argv, "-p") or "").strip():
        fake.fail_usage("empty prompt")
    model = fake.value(argv, "--model") or "claude-sonnet-4-6"
    resume = fake.value(argv, "--resume")
    if resume is not None and resume != fake.session_id:
        fake.fail_usage(f"no conversation found with session ID: {resume}")
    start = time.time()
    fake.emit(
        {
            "type": "system",
            "subtype": "init",
            "cwd": ".",
            "session_id": fake.session_id,
            "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write"],
            "mcp_servers": [],
            "model": model,
            "permissionMode": fake.value(argv, "--permission-mode"),
            "apiKeySource": "ANTHROPIC_API_KEY",
            "claude_code_version": "2.1.0",
            "uuid": str(uuid.uuid4()),
        }
    )
    if fake.mode == "leak":
        fake.leak()
    if fake.mode == "hang":
        fake.hang()
        return
    if fake.mode == "error_first" and fake.launch == 0:
        fake.emit(
            {
                "type": "assistant",
                "message": {
                    "id": "msg_err",
                    "type": "message",
                    "role": "assistant",
                    "model": "<synthetic>",
                    "content": [
                        {
                            "type": "text",
                            "text": 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
                        }
                    ],
                    "stop_reason": "stop_sequence",
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
                "parent_tool_use_id": None,
                "session_id": fake.session_id,
                "error": "server_error",
            }
        )
        fake.emit(
            {
                "type": "result",
                "subtype": "error_during_execution",
                "is_error": True,
                "duration_ms": 120,
                "duration_api_ms": 100,
                "num_turns": 0,
                "session_id": fake.session_id,
                "total_cost_usd": 0,
                "usage": {
                    "input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 0,
                },
                "permission_denials": [],
            }
        )
        sys.exit(1)
    turns = 0
    for k in range(fake.experiments):
        fake.do_cheat()
        n = fake.total_experiments
        old, new, description = fake.edit_train(n)
        msg_id = f"msg_{fake.launch}_{k}_a"
        message = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_reason": None,
            "usage": USAGE,
        }
        fake.emit(
            {
                "type": "assistant",
                "message": {
                    **message,
                    "content": [{"type": "text", "text": f"Next I will try: {description}."}],
                },
                "parent_tool_use_id": None,
                "session_id": fake.session_id,
            }
        )
        edit_id = f"toolu_{fake.launch}{k}e"
        fake.emit(
            {
                "type": "assistant",
                "message": {
                    **message,
                    "content": [
                        {
                            "type": "tool_use",
                            "id": edit_id,
                            "name": "Edit",
                            "input": {
                                "file_path": "train.py",
                                "old_string": old,
                                "new_string": new,
                            },
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": fake.session_id,
            }
        )
        fake.emit(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": edit_id,
                            "type": "tool_result",
                            "content": "The file train.py has been updated.",
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": fake.session_id,
            }
        )
        run_id = f"toolu_{fake.launch}{k}r"
        message_b = {**message, "id": f"msg_{fake.launch}_{k}_b"}
        fake.emit(
            {
                "type": "assistant",
                "message": {
                    **message_b,
                    "content": [
                        {
                            "type": "tool_use",
                            "id": run_id,
                            "name": "Bash",
                            "input": {
                                "command": fake.command_text,
                                "description": "Run the experiment",
                            },
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": fake.session_id,
            }
        )
        output, code = fake.run_experiment(description)
        fake.emit(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": run_id,
                            "type": "tool_result",
                            "content": output,
                            "is_error": code != 0,
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": fake.session_id,
            }
        )
        turns += 2
    if fake.mode == "exit_early":
        sys.exit(3)
    per = {k: v * turns for k, v in USAGE.items()}
    fake.emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": int((time.time() - start) * 1000),
            "duration_api_ms": 900,
            "num_turns": turns,
            "result": f"Ran {fake.experiments} experiments.",
            "session_id": fake.session_id,
            # a side request (a title, a summary) costs a little beyond the messages
            "total_cost_usd": round(COST_PER_MESSAGE * turns + 0.001, 6),
            "usage": {
                **per,
                "input_tokens": per["input_tokens"] + 40,
                "server_tool_use": {"web_search_requests": 0},
                "service_tier": "standard",
            },
            "modelUsage": {},
            "permission_denials": [],
            "uuid": str(uuid.uuid4()),
        }
    )


if __name__ == "__main__":
    main()
