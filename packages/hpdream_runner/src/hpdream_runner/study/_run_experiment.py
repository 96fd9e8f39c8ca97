"""run_experiment: ask the study harness to train, evaluate and log train.py.

Usage (in the workspace):
    ./run_experiment "what you changed, in one line" [--hypothesis "why it should help"]
    ./run_experiment --log        the experiments of this run so far

The harness commits train.py, trains it under the study's budget, evaluates
val_bpb, logs the result, keeps the commit if val_bpb improved (otherwise
resets the workspace to the best commit) and prints the outcome here.
Exit status: 0 kept or discarded, 1 crashed, 2 bad usage, 3 the run is over
(its limits are reached) or no harness is running this workspace.

This file is written into each workspace by hpdream; it uses only the
standard library and talks to the harness over a local socket.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

# The harness's socket for this workspace (written in when the workspace was made);
# the HPDREAM_RUN_SOCKET environment variable, when set, wins.
SOCKET_PATH = ""

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_OVER = 3


def _connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def request(message: dict[str, object], path: str | None = None) -> int:
    """Send one request; print what the harness says; return the exit status."""
    where = path or os.environ.get("HPDREAM_RUN_SOCKET") or SOCKET_PATH
    sock = _connect(where) if where else None
    if sock is None:
        print(
            "run_experiment: no hpdream study is running this workspace right now "
            f"(nothing listens at {where or '(no socket configured)'}).",
            file=sys.stderr,
        )
        return EXIT_OVER
    status = EXIT_OVER
    with sock, sock.makefile("rwb") as stream:
        stream.write(json.dumps(message).encode("utf-8") + b"\n")
        stream.flush()
        for raw in stream:
            event = json.loads(raw)
            text = event.get("text")
            if text:
                print(text, flush=True)
            if event.get("event") == "done":
                status = int(event.get("exit", EXIT_OVER))
                break
        else:
            print(
                "run_experiment: the harness closed the connection without a result.",
                file=sys.stderr,
            )
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_experiment",
        description="Train, evaluate and log train.py through the study harness.",
    )
    parser.add_argument("description", nargs="?", help="what you changed, in one line")
    parser.add_argument("--hypothesis", help="why you expect the change to help")
    parser.add_argument(
        "--log", action="store_true", help="print the experiments of this run so far"
    )
    args = parser.parse_args(argv)
    if args.log:
        return request({"op": "log"})
    if not args.description or not args.description.strip():
        parser.print_usage(sys.stderr)
        print(
            'run_experiment: give a description: ./run_experiment "what you changed"',
            file=sys.stderr,
        )
        return EXIT_USAGE
    return request(
        {
            "op": "run",
            "description": args.description.strip(),
            "hypothesis": (args.hypothesis or "").strip() or None,
            "pid": os.getpid(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
