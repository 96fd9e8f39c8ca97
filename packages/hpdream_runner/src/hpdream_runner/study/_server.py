"""How ``run_experiment`` in a workspace reaches the harness: a Unix socket per workspace.

The orchestrator alone writes the experiments CSV, and the CSV lives outside
the workspace. While an autonomous agent runs, the orchestrator listens on a
Unix-domain socket whose path is derived from the workspace's path (under
``/tmp/hpdream-<uid>/``, a folder only this user can enter; written into the
workspace's ``run_experiment`` and passed to the agent as
``HPDREAM_RUN_SOCKET``). ``run_experiment`` sends one JSON line — ``{"op":
"run", "description": ..., "hypothesis": ...}`` or ``{"op": "log"}`` — and
reads JSON lines back until ``{"event": "done", "exit": N}``.

Requests are queued: the orchestrator's main thread takes them one at a
time (:meth:`ExperimentServer.next_request`), so experiments never overlap
and the CSV has one writer. If the client goes away mid-experiment (its
tool call timed out), the experiment still runs to its row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import attrs

from hpdream_core import HpdreamError

#: Longest request line accepted (a description and a hypothesis).
MAX_REQUEST_BYTES = 256 * 1024


def socket_path_for(workspace: Path) -> Path:
    """The socket of a workspace: stable for its path, short enough for AF_UNIX (< 104 bytes)."""
    digest = hashlib.sha256(str(Path(workspace).resolve()).encode("utf-8")).hexdigest()[:24]
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return base / f"hpdream-{uid}" / f"{digest}.sock"


class ServerError(HpdreamError):
    """The harness cannot listen for run_experiment requests."""


@attrs.define
class Request:
    """One request from run_experiment, answered by the orchestrator's thread."""

    op: str
    description: str | None
    hypothesis: str | None
    _conn: socket.socket | None = attrs.field(alias="conn")
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def send(self, event: str, text: str | None = None, **fields: Any) -> None:
        """One event line to the client; a client that went away is ignored."""
        with self._lock:
            if self._conn is None:
                return
            payload = {"event": event, **({"text": text} if text is not None else {}), **fields}
            try:
                self._conn.sendall(json.dumps(payload).encode("utf-8") + b"\n")
            except OSError:
                self._close_locked()

    def finish(self, text: str | None, exit_code: int, **fields: Any) -> None:
        """The last line (``done``) and the end of the connection."""
        self.send("done", text, exit=exit_code, **fields)
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None


class ExperimentServer:
    """Listens at ``path`` and queues the requests it reads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._requests: queue.Queue[Request] = queue.Queue()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            # left by a killed harness: nobody else may run this workspace (the study lock)
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
        except OSError as exc:
            sock.close()
            raise ServerError(f"cannot listen at {self.path}: {exc.strerror or exc}") from None
        os.chmod(self.path, 0o600)
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(
            target=self._accept_loop, name="hpdream-run-experiment", daemon=True
        )
        self._thread.start()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        data = b""
        try:
            while b"\n" not in data and len(data) < MAX_REQUEST_BYTES:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            conn.close()
            return
        conn.settimeout(None)
        line = data.split(b"\n", 1)[0]
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
            op = message.get("op")
            description = message.get("description")
            hypothesis = message.get("hypothesis")
            if op not in ("run", "log"):
                raise ValueError(f"unknown op {op!r}")
            if op == "run" and (not isinstance(description, str) or not description.strip()):
                raise ValueError("a run request needs a description")
            if hypothesis is not None and not isinstance(hypothesis, str):
                raise ValueError("hypothesis must be text")
        except ValueError as exc:
            Request("bad", None, None, conn=conn).finish(f"run_experiment: bad request ({exc})", 2)
            return
        self._requests.put(Request(op, description, hypothesis, conn=conn))

    def next_request(self, timeout: float) -> Request | None:
        """The next queued request, or None after ``timeout`` seconds."""
        try:
            return self._requests.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop listening; refuse what is still queued."""
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        while True:
            try:
                pending = self._requests.get_nowait()
            except queue.Empty:
                break
            pending.finish("run_experiment: the run is over; no more experiments.", 3)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> ExperimentServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
