"""A stand-in for the orchestrator's experiment endpoint, for the CLI adapter tests.

``ExperimentDesk`` listens on a loopback port; ``run_experiment_client.py``
(the command the fake CLIs run from the workspace) sends it a description
and a hypothesis and prints the reply. For each request the desk does what
the orchestrator does around an experiment: takes the agent's step from the
session (usage, agent time, transcript events), optionally checks
containment, "trains" (a deterministic val_bpb from train.py's text),
records the row, and tells the session the experiment is over.
"""

from __future__ import annotations

import hashlib
import json
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "run_experiment_client.py"


@attrs.define
class Row:
    index: int
    description: str
    hypothesis: str
    val_bpb: float | None
    usage: Any
    agent_seconds: float
    events: tuple[Any, ...]
    violations: list[Any]


class ExperimentDesk:
    def __init__(
        self,
        workspace: Path,
        *,
        train_seconds: float = 0.0,
        guard: Any = None,
        on_row: Callable[[Row], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.train_seconds = train_seconds
        self.guard = guard
        self.on_row = on_row
        self.session: Any = None
        self.rows: list[Row] = []
        self._lock = threading.Lock()
        desk = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request = json.loads(self.rfile.readline())
                reply = desk._experiment(request)
                self.wfile.write((json.dumps(reply) + "\n").encode())

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ExperimentDesk:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def run_argv(self) -> list[str]:
        """The command the fakes run (FAKE_RUN)."""
        return [sys.executable, str(CLIENT), str(self.port), "{description}", "{hypothesis}"]

    def _experiment(self, request: dict[str, Any]) -> dict[str, Any]:
        import time

        step = self.session.begin_experiment() if self.session is not None else None
        violations = self.guard.verify() if self.guard is not None else []
        if violations and self.guard is not None:
            self.guard.restore()
        time.sleep(self.train_seconds)
        text = (self.workspace / "train.py").read_text(encoding="utf-8")
        digest = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        val = None if violations else round(1.0 + digest / 0xFFFFFFFF, 6)
        with self._lock:
            row = Row(
                index=len(self.rows) + 1,
                description=request["description"],
                hypothesis=request["hypothesis"],
                val_bpb=val,
                usage=None if step is None else step.usage,
                agent_seconds=0.0 if step is None else step.agent_seconds,
                events=() if step is None else step.events,
                violations=violations,
            )
            self.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)
        if self.session is not None:
            self.session.end_experiment({"index": row.index, "val_bpb": val})
        if violations:
            return {"status": "crash", "error": "containment violation"}
        return {"status": "keep", "val_bpb": val}


def send(port: int, description: str, hypothesis: str) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            (json.dumps({"description": description, "hypothesis": hypothesis}) + "\n").encode()
        )
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
