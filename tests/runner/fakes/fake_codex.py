#!/usr/bin/env python3
"""A fake ``codex`` that prints the real ``codex exec --json`` events.

See ``_fakelib.py`` for the scenarios. Events: ``thread.started``,
``turn.started``, ``item.started`` / ``item.completed`` for ``reasoning``,
``agent_message``, ``file_change`` and ``command_execution`` items, and
``turn.completed`` with ``usage`` (``input_tokens``, ``cached_input_tokens``,
``output_tokens``); on error ``error`` and ``turn.failed``. ``codex exec
resume THREAD_ID PROMPT`` resumes.
"""

from __future__ import annotations

import sys

from _fakelib import Fake

PER_EXPERIMENT = {"input_tokens": 20000, "cached_input_tokens": 15000, "output_tokens": 800}


def main() -> None:
    argv = sys.argv[1:]
    fake = Fake("codex")
    if not argv or argv[0] != "exec":
        fake.fail_usage("expected the exec subcommand")
    fake.require(argv, "--json", "--sandbox")
    if fake.value(argv, "--sandbox") != "workspace-write":
        fake.fail_usage("expected --sandbox workspace-write")
    if "resume" in argv:
        i = argv.index("resume")
        if len(argv) < i + 3:
            fake.fail_usage("resume needs SESSION_ID and PROMPT")
        if argv[i + 1] != fake.session_id:
            fake.emit({"type": "error", "message": f"no rollout found for thread id {argv[i + 1]}"})
            sys.exit(1)
    fake.emit({"type": "thread.started", "thread_id": fake.session_id})
    fake.emit({"type": "turn.started"})
    if fake.mode == "leak":
        fake.leak()
    if fake.mode == "hang":
        fake.hang()
        return
    if fake.mode == "error_first" and fake.launch == 0:
        fake.emit(
            {
                "type": "error",
                "message": "stream error: exceeded retry limit, last status: 429 Too Many Requests; retrying",
            }
        )
        fake.emit(
            {
                "type": "turn.failed",
                "error": {"message": "exceeded retry limit, last status: 429 Too Many Requests"},
            }
        )
        sys.exit(1)
    item = 0
    for _ in range(fake.experiments):
        fake.do_cheat()
        n = fake.total_experiments
        _old, _new, description = fake.edit_train(n)
        fake.emit(
            {
                "type": "item.completed",
                "item": {
                    "id": f"item_{item}",
                    "type": "reasoning",
                    "text": "**Choosing the next change**",
                },
            }
        )
        fake.emit(
            {
                "type": "item.completed",
                "item": {
                    "id": f"item_{item + 1}",
                    "type": "agent_message",
                    "text": f"Trying {description}.",
                },
            }
        )
        fake.emit(
            {
                "type": "item.completed",
                "item": {
                    "id": f"item_{item + 2}",
                    "type": "file_change",
                    "changes": [{"path": "train.py", "kind": "update"}],
                    "status": "completed",
                },
            }
        )
        cmd = f"bash -lc '{fake.command_text}'"
        started = {
            "id": f"item_{item + 3}",
            "type": "command_execution",
            "command": cmd,
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        }
        fake.emit({"type": "item.started", "item": started})
        output, code = fake.run_experiment(description)
        fake.emit(
            {
                "type": "item.completed",
                "item": {
                    **started,
                    "aggregated_output": output,
                    "exit_code": code,
                    "status": "completed" if code == 0 else "failed",
                },
            }
        )
        item += 4
    if fake.mode == "exit_early":
        sys.exit(3)
    fake.emit(
        {
            "type": "item.completed",
            "item": {"id": f"item_{item}", "type": "agent_message", "text": "Done for now."},
        }
    )
    usage = {k: v * fake.experiments for k, v in PER_EXPERIMENT.items()}
    fake.emit({"type": "turn.completed", "usage": usage})


if __name__ == "__main__":
    main()
