"""The experiment cycle: wall seconds from "agent done editing" to "row logged", and its parts.

    uv run python benchmarks/bench_cycle.py                    # harness overhead (synthetic trainer)
    uv run python benchmarks/bench_cycle.py --real --experiments 3 --budget 10   # with training

The cycle starts when the agent hands over its change and ends when the row
is logged, the workspace reset and the run's metadata updated (the progress
display's ``experiment_started`` / ``experiment_done`` events). Its parts come
from each experiment's ``experiment.json`` (``harness_seconds``: git commit,
containment checks, files, training, classification) and, with ``--real``,
from the trainer's summary (start-up, warm-up, training, evaluation, data
preparation). Medians over the experiments after the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hpdream_core import Experiment
from hpdream_runner.study import (
    AgentConfig,
    Layout,
    RunView,
    Study,
    StudyConfig,
    TrainingConfig,
    default_guard,
)
from hpdream_runner.study._progress import NullProgress


class CycleTimer(NullProgress):
    """Times each experiment from hand-over to the end of its bookkeeping."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.cycles: list[float] = []

    def experiment_started(self, view: RunView, index: int, description: str) -> None:
        self.started = time.perf_counter()

    def experiment_done(self, view: RunView, experiment: Experiment) -> None:
        assert self.started is not None
        self.cycles.append(time.perf_counter() - self.started)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--experiments", type=int, default=40, help="experiments per run, baseline included"
    )
    ap.add_argument(
        "--real",
        action="store_true",
        help="train for real (run_training) instead of the synthetic trainer",
    )
    ap.add_argument("--preset", default="cpu-tiny")
    ap.add_argument(
        "--budget", type=float, default=None, help="training budget in seconds (--real)"
    )
    ap.add_argument("--device", default=None)
    ap.add_argument(
        "--no-guard", action="store_true", help="skip the containment checks (to see their cost)"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = StudyConfig(
            name="bench-cycle",
            output=Path(tmp) / "out",
            agents=(
                AgentConfig(
                    "coordinate-search",
                    "coord",
                    options={"params": ["MATRIX_LR", "WARMDOWN_RATIO", "EMBEDDING_LR"]},
                    experiments=args.experiments,
                ),
            ),
            training=TrainingConfig(
                preset=args.preset,
                trainer="real" if args.real else "synthetic",
                budget_s=args.budget if args.real else None,
                device=args.device,
            ),
            base_dir=Path(tmp),
        )
        timer = CycleTimer()
        guard: Any = (lambda ctx: _NoGuard()) if args.no_guard else default_guard
        t0 = time.perf_counter()
        Study(config, progress=timer, guard=guard, handle_signals=False).run()
        wall = time.perf_counter() - t0
        layout = Layout(config.output)
        parts: dict[str, list[float]] = {}
        trainer_parts: dict[str, list[float]] = {}
        for index in range(1, args.experiments):
            record = json.loads(
                (layout.experiment_dir("coord", 0, index) / "experiment.json").read_text()
            )
            for name, seconds in record.get("harness_seconds", {}).items():
                parts.setdefault(name, []).append(seconds)
            summary = record.get("trainer_summary") or {}
            for key in (
                "prepare_seconds",
                "startup_seconds",
                "warmup_seconds",
                "training_seconds",
                "eval_seconds",
                "total_seconds",
            ):
                if isinstance(summary.get(key), int | float):
                    trainer_parts.setdefault(key, []).append(float(summary[key]))

    cycles = timer.cycles[1:]  # the baseline has no agent hand-over
    kind = (
        f"real training, preset {args.preset}, budget {args.budget or 'preset'} s"
        if args.real
        else "synthetic trainer (no training)"
    )
    print(f"experiment cycle, {kind}; {len(cycles)} experiments after the baseline; medians")
    print(f"python {sys.version.split()[0]}, containment guard {'off' if args.no_guard else 'on'}")
    print(
        f"  cycle (agent done editing -> row logged, workspace reset): {_median(cycles):8.3f} s  (min {min(cycles):.3f}, max {max(cycles):.3f})"
    )
    for name, values in parts.items():
        print(f"    {name:<10} {_median(values):8.4f} s")
    accounted = sum(_median(v) for v in parts.values())
    print(
        f"    {'rest':<10} {_median(cycles) - accounted:8.4f} s   (experiment.json, row write + fsync, reset, run.json)"
    )
    if trainer_parts:
        print("  inside training (the trainer's summary):")
        for name, values in trainer_parts.items():
            print(f"    {name:<18} {_median(values):8.3f} s")
    print(f"  whole run: {wall:.2f} s for {args.experiments} experiments")


class _NoGuard:
    def before_experiment(self, train_py: str) -> list[str]:
        return []

    def after_experiment(self) -> None:
        return None


if __name__ == "__main__":
    main()
