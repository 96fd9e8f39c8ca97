"""Shared behaviour of the fake coding-agent CLIs (fake_claude, fake_codex, fake_gemini).

A fake behaves like an agent following the protocol: it reads its prompt,
edits train.py, runs the workspace's experiment command, and prints the real
CLI's event stream around that (usage fields included). What it does is set
through environment variables, which the tests pass with the adapter's
``env`` option:

FAKE_RUN           JSON list: the argv that runs one experiment; ``{description}``
                   and ``{hypothesis}`` are filled in (required unless FAKE_MODE=hang)
FAKE_EXPERIMENTS   experiments per launch before the session ends (default 2)
FAKE_MODE          normal | error_first (first launch reports an API error and exits 1)
                   | hang (prints its init event, then sleeps) | exit_early (every launch
                   exits 3 after its experiments, without the final summary) | leak
                   (prints its API key to stdout and stderr, then works normally)
FAKE_CHEAT         harness | log | budget: before its first experiment the agent edits
                   FAKE_TARGET (a harness file or the experiments CSV), or raises the
                   budget in train.py
FAKE_TARGET        the file a cheat writes to

Each launch writes ``$HOME/fake-launch-<n>.json`` (its argv and the names of
its environment variables) so that tests can check the command line and the
environment the harness built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

_NUMBER = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?P<value>[0-9][0-9_.eE+-]*)\s*(?P<rest>#.*)?$", re.M
)


class Fake:
    def __init__(self, cli: str) -> None:
        self.cli = cli
        self.home = Path(os.environ.get("HOME", "."))
        self.mode = os.environ.get("FAKE_MODE", "normal")
        self.experiments = int(os.environ.get("FAKE_EXPERIMENTS", "2"))
        self.cheat = os.environ.get("FAKE_CHEAT", "")
        self.target = os.environ.get("FAKE_TARGET", "")
        run = os.environ.get("FAKE_RUN")
        self.run_argv: list[str] = json.loads(run) if run else []
        self.state_path = self.home / f"fake-{cli}-state.json"
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.launch = int(state.get("launches", 0))
        self.session_id = state.get("session_id") or str(uuid.uuid4())
        self.total_experiments = int(state.get("experiments", 0))
        self.state_path.write_text(
            json.dumps(
                {
                    "launches": self.launch + 1,
                    "session_id": self.session_id,
                    "experiments": self.total_experiments,
                }
            )
        )
        (self.home / f"fake-launch-{self.launch}.json").write_text(
            json.dumps({"argv": sys.argv[1:], "env": sorted(os.environ), "cwd": os.getcwd()})
        )

    def save(self) -> None:
        self.state_path.write_text(
            json.dumps(
                {
                    "launches": self.launch + 1,
                    "session_id": self.session_id,
                    "experiments": self.total_experiments,
                }
            )
        )

    @staticmethod
    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    @staticmethod
    def fail_usage(message: str) -> None:
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)

    def require(self, argv: list[str], *flags: str) -> None:
        for flag in flags:
            if flag not in argv:
                self.fail_usage(f"expected {flag} on the command line, got {argv}")

    @staticmethod
    def value(argv: list[str], flag: str) -> str | None:
        if flag in argv:
            i = argv.index(flag)
            if i + 1 < len(argv):
                return argv[i + 1]
        return None

    # -- behaviour ----------------------------------------------------------------------------

    def leak(self) -> None:
        """An agent that prints its environment's keys (as `env` in a shell would)."""
        for name, value in sorted(os.environ.items()):
            if name.endswith("API_KEY"):
                print(f"{name}={value}", flush=True)
                print(f"debug: using {name}={value}", file=sys.stderr, flush=True)

    def hang(self) -> None:
        # a child that outlives a plain kill of the leader unless the whole group is killed
        subprocess.Popen(["sleep", "600"])
        time.sleep(600)

    def do_cheat(self) -> None:
        if not self.cheat or self.total_experiments > 0:
            return
        if self.cheat in ("harness", "log"):
            with open(self.target, "a", encoding="utf-8") as fh:
                fh.write("\n# edited by the agent\n" if self.cheat == "harness" else "x,y,z\n")
        elif self.cheat == "budget":
            train = Path("train.py")
            text = train.read_text(encoding="utf-8")
            train.write_text(
                text + "\nTIME_BUDGET = 10 * TIME_BUDGET  # the agent raises its budget\n",
                encoding="utf-8",
            )

    def edit_train(self, number: int) -> tuple[str, str, str]:
        """Change the first NAME = number line of train.py; returns (old, new, description)."""
        train = Path("train.py")
        text = train.read_text(encoding="utf-8")
        match = _NUMBER.search(text)
        if match is None:
            old = text[-40:] if text else ""
            new = old + f"\n# experiment {number}\n"
            train.write_text(text + f"\n# experiment {number}\n", encoding="utf-8")
            return old, new, f"comment experiment {number}"
        name, raw = match.group("name"), match.group("value")
        value = float(raw.replace("_", ""))
        factor = 1.5 if number % 2 == 0 else 0.8
        new_value = value * factor
        new_text = (
            f"{new_value:.6g}"
            if "." in raw or "e" in raw.lower()
            else str(max(1, round(new_value)))
        )
        old_line = match.group(0)
        new_line = old_line.replace(raw, new_text, 1)
        train.write_text(text.replace(old_line, new_line, 1), encoding="utf-8")
        return old_line, new_line, f"{name.lower()} {raw} -> {new_text}"

    def run_experiment(self, description: str) -> tuple[str, int]:
        hypothesis = f"changing it should lower val_bpb ({self.cli})"
        argv = [
            a.replace("{description}", description).replace("{hypothesis}", hypothesis)
            for a in self.run_argv
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        self.total_experiments += 1
        self.save()
        return (proc.stdout + proc.stderr).strip(), proc.returncode

    @property
    def command_text(self) -> str:
        return " ".join(self.run_argv)
