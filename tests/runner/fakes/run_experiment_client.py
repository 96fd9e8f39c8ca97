#!/usr/bin/env python3
"""``run_experiment_client.py PORT DESCRIPTION HYPOTHESIS``: ask the test's ExperimentDesk for one experiment."""

from __future__ import annotations

import json
import sys

from experiments import send


def main() -> int:
    port, description, hypothesis = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    reply = send(port, description, hypothesis)
    print(json.dumps(reply))
    return 0 if reply.get("status") != "crash" else 1


if __name__ == "__main__":
    raise SystemExit(main())
