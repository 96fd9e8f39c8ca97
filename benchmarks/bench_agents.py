"""Overheads of the external-agent layer (no model, no network, no GPU needed).

Run: ``uv run python benchmarks/bench_agents.py [--repeat 5]``. Prints medians of
``--repeat`` runs of:

- parsing each CLI's event stream (events/s), with usage pricing and transcript building;
- writing transcript events to disk with redaction (events/s);
- the containment check before an experiment: hashing hpdream's code and a
  seed-size experiments CSV (165 rows), with and without a 100 MB data file;
- one HTTP agent request round trip through ``httpx.MockTransport`` as the
  conversation grows (seconds per request at 10 and 200 turns: building the
  request body, parsing the reply, running a tool);
- launching a fake CLI that prints a session and exits (seconds per launch:
  Python start-up of the fake plus the harness's process handling);
- a whole synthetic study step: seconds per experiment for a CLI agent, an
  HTTP agent and a built-in agent (the harness's own overhead per experiment).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _timing import median_seconds

REPO = Path(__file__).resolve().parents[1]
FAKES = REPO / "tests" / "runner" / "fakes"
sys.path.insert(0, str(FAKES))


def claude_lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        msg = {
            "id": f"msg_{i // 2}",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [
                {
                    "type": "tool_use",
                    "id": f"toolu_{i}",
                    "name": "Bash",
                    "input": {"command": "./run_experiment 'x'"},
                }
            ],
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": 90000,
                "cache_creation_input_tokens": 500,
                "output_tokens": 200,
            },
        }
        out.append(json.dumps({"type": "assistant", "message": msg, "session_id": "s"}))
        out.append(
            json.dumps(
                {
                    "type": "user",
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "tool_use_id": f"toolu_{i}",
                                "type": "tool_result",
                                "content": "val_bpb 1.0 " * 20,
                            }
                        ],
                    },
                    "session_id": "s",
                }
            )
        )
    return out


def codex_lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        item = {
            "id": f"item_{i}",
            "type": "command_execution",
            "command": "bash -lc './run_experiment x'",
            "aggregated_output": "val_bpb 1.0 " * 20,
            "exit_code": 0,
            "status": "completed",
        }
        out.append(
            json.dumps(
                {
                    "type": "item.started",
                    "item": {**item, "status": "in_progress", "aggregated_output": ""},
                }
            )
        )
        out.append(json.dumps({"type": "item.completed", "item": item}))
    return out


def gemini_lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        out.append(
            json.dumps(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": "thinking about it ",
                    "delta": True,
                }
            )
        )
        out.append(
            json.dumps(
                {
                    "type": "tool_use",
                    "tool_name": "run_shell_command",
                    "tool_id": f"t{i}",
                    "parameters": {"command": "./run_experiment x"},
                }
            )
        )
        out.append(
            json.dumps(
                {
                    "type": "tool_result",
                    "tool_id": f"t{i}",
                    "status": "success",
                    "output": "val_bpb 1.0 " * 20,
                }
            )
        )
    return out


def bench_parsers(repeat: int) -> None:
    from hpdream_runner.agents.cli import ClaudeStreamParser, CodexStreamParser, GeminiStreamParser
    from hpdream_runner.agents.pricing import PriceTable

    prices = PriceTable.default()
    for name, cls, lines in (
        ("claude-code", ClaudeStreamParser, claude_lines(20000)),
        ("codex", CodexStreamParser, codex_lines(20000)),
        ("gemini", GeminiStreamParser, gemini_lines(14000)),
    ):

        def run(cls=cls, lines=lines) -> None:
            p = cls(lambda m, u: prices.priced(m or "claude-opus-4-6", u))
            for line in lines:
                p.feed(line)

        s = median_seconds(run, repeat)
        print(
            f"parse {name:<12} {len(lines) / s:>10,.0f} events/s ({len(lines)} events in {s:.3f} s)"
        )


def bench_transcript(repeat: int) -> None:
    from hpdream_runner.agents.redact import Redactor
    from hpdream_runner.agents.transcript import TranscriptEvent, TranscriptWriter

    events = [
        TranscriptEvent("tool_result", text="val_bpb 1.0 " * 40, call_id=f"c{i}")
        for i in range(5000)
    ]
    with tempfile.TemporaryDirectory() as d:

        def run() -> None:
            path = Path(d) / "t.jsonl"
            path.unlink(missing_ok=True)
            TranscriptWriter(path, redactor=Redactor(["sk-ant-api03-" + "x" * 40])).write_all(
                events
            )

        s = median_seconds(run, repeat)
    print(
        f"transcript write  {len(events) / s:>10,.0f} events/s (redacted, one open/append/close per event)"
    )


def bench_guard(repeat: int) -> None:
    from hpdream_runner.agents.containment import HarnessGuard, harness_code_dirs

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        ws = root / "ws"
        ws.mkdir()
        (ws / "train.py").write_text("DEPTH = 4\n")
        log = root / "experiments.csv"
        log.write_text("x" * 500 * 165)
        data = root / "data"
        data.mkdir()
        for with_data in (False, True):
            if with_data:
                (data / "val.bin").write_bytes(os.urandom(100 * 1024 * 1024))
            guard = HarnessGuard(workspace=ws, protected=[*harness_code_dirs(), data], log_path=log)
            t = time.perf_counter()
            guard.snapshot()
            snap = time.perf_counter() - t
            s = median_seconds(guard.verify, repeat)
            files = sum(1 for _ in guard._entries)
            label = "code + CSV + 100 MB data" if with_data else "code + CSV"
            print(f"guard {label:<26} snapshot {snap:.3f} s, verify {s:.3f} s ({files} files)")


def _scripted(
    turns: int, read: object, reply: Callable[..., dict[str, object]]
) -> Callable[[httpx.Request], httpx.Response]:
    """A mock API that reads train.py ``turns - 1`` times, then runs the experiment."""
    count = {"i": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        count["i"] += 1
        run = ("run_experiment", {"description": "x", "hypothesis": "y"})
        action = run if count["i"] % turns == 0 else read
        return httpx.Response(200, json=reply(count["i"], action))

    return handler


def bench_http(repeat: int) -> None:
    from chat_server import READ, chat_reply

    from hpdream_core import Experiment
    from hpdream_runner.agents.http import PROVIDERS, HttpAgent

    with tempfile.TemporaryDirectory() as d:
        ws = Path(d)
        (ws / "train.py").write_text("DEPTH = 4\n" * 200)
        for turns in (10, 200):
            handler = _scripted(turns, READ, chat_reply)

            agent = HttpAgent(
                PROVIDERS["openai-compatible"]({"model": "m", "base_url": "http://x/v1"}),
                client=httpx.Client(transport=httpx.MockTransport(handler)),
                environ={},
            )
            agent.start(ws, "P")
            log = [Experiment.baseline(study="s", agent="a", val_bpb=1.0)]
            t = time.perf_counter()
            agent.step(log)
            s = (time.perf_counter() - t) / turns
            print(
                f"http request      {s * 1000:>10.2f} ms per request in a {turns}-request step (mock transport)"
            )


def bench_launch(repeat: int) -> None:
    from experiments import ExperimentDesk

    from hpdream_runner.agents.cli import CLI_ADAPTERS, CliSession

    with tempfile.TemporaryDirectory() as d:
        ws = Path(d) / "ws"
        ws.mkdir()
        (ws / "train.py").write_text("DEPTH = 4\n")
        with ExperimentDesk(ws) as desk:
            adapter = CLI_ADAPTERS["codex"](
                {
                    "executable": str(FAKES / "fake_codex.py"),
                    "env": {"FAKE_RUN": json.dumps(desk.run_argv), "FAKE_EXPERIMENTS": "0"},
                    "max_relaunches": 0,
                }
            )

            def run() -> None:
                session = CliSession(
                    adapter,
                    workspace=ws,
                    home=Path(d) / "home",
                    prompt="p",
                    run_command="x",
                    key="k" * 20,
                )
                session.run()

            s = median_seconds(run, repeat)
    print(
        f"cli launch        {s:>10.3f} s per launch (fake CLI: Python start-up, events, exit, cleanup)"
    )


def bench_study(repeat: int) -> None:
    from chat_server import EDIT, READ, RUN, ChatServer

    from hpdream_runner.study import Study, parse_study

    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-" + "x" * 30)
    n = 12
    with (
        ChatServer([READ, EDIT, RUN] + [READ, RUN] * 100) as server,
        tempfile.TemporaryDirectory() as d,
    ):
        run_argv = json.dumps(["./run_experiment", "{description}", "--hypothesis", "{hypothesis}"])
        agents = {
            "cli": {
                "adapter": "claude-code",
                "label": "cli",
                "options": {
                    "executable": str(FAKES / "fake_claude.py"),
                    "relaunch_delay": 0.0,
                    "env": {"FAKE_RUN": run_argv, "FAKE_EXPERIMENTS": str(n)},
                },
            },
            "http": {
                "adapter": "openai-compatible",
                "label": "http",
                "options": {"model": "m", "base_url": server.url},
            },
            "builtin": {"adapter": "random-search", "label": "builtin"},
        }
        for name, agent in agents.items():
            times = []
            for r in range(repeat):
                cfg = parse_study(
                    {
                        "name": "b",
                        "experiments": n,
                        "training": {"preset": "cpu-tiny", "trainer": "synthetic"},
                        "agents": [agent],
                    },
                    base_dir=REPO,
                    output=Path(d) / f"{name}-{r}",
                )
                t = time.perf_counter()
                Study(cfg, handle_signals=False).run()
                times.append((time.perf_counter() - t) / n)
            print(
                f"study step {name:<7} {statistics.median(times):>10.3f} s per experiment (synthetic trainer, {n} experiments)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    bench_parsers(args.repeat)
    bench_transcript(args.repeat)
    bench_guard(args.repeat)
    bench_http(args.repeat)
    bench_launch(args.repeat)
    bench_study(min(args.repeat, 3))


if __name__ == "__main__":
    main()
