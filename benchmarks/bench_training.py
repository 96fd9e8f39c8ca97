"""Training speed and per-experiment overhead on the CPU (preset cpu-tiny by default).

Runs the baseline train.py through ``run_training`` (the same path a study
takes: subprocess, harness, evaluation) several times and prints, per run
and as medians: training tokens/s, steps, val_bpb, and where the wall time
went (start-up, uncounted warm-up steps, evaluation, overhead = total wall
time minus training time). ``--sweep`` also trains with shorter budgets to
show val_bpb falling with training time. The data loader's own tokens/s is
printed for the preset's batch shape.

    uv run python benchmarks/bench_training.py                 # 3 runs of cpu-tiny, 30 s each
    uv run python benchmarks/bench_training.py --runs 1 --sweep 5,15,30
    uv run python benchmarks/bench_training.py --preset smoke --budget 3
    uv run python benchmarks/bench_training.py --like-reference --runs 1

``--like-reference`` trains the configuration the reference was measured at
on these CPUs (docs/benchmarks.md): the seed model at depth 2 (3.5M
parameters, vocabulary 8192), 2 x 2048 tokens per step, with a small
evaluation (65,536 tokens).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

from hpdream_runner.training import Preset, baseline_train_py, get_preset, run_training

#: The reference's CPU measurement: seed model at depth 2, batch 2 x 2048 (docs/benchmarks.md).
LIKE_REFERENCE = attrs.evolve(
    get_preset("seed"),
    name="seed-depth2-cpu",
    description="the seed model at depth 2 (3.5M), 2 x 2048 tokens per step, small evaluation",
    budget_s=30.0,
    grace_s=600.0,
    eval_tokens=2**16,
    eval_batch_size=2,
    uncounted_steps=2,
    constants={"DEPTH": 2, "DEVICE_BATCH_SIZE": 2, "TOTAL_BATCH_SIZE": 2**12},
)

FIELDS = (
    ("tokens/s", "tokens_per_second", "{:,.0f}"),
    ("steps", "num_steps", "{}"),
    ("val_bpb", "val_bpb", "{:.4f}"),
    ("train s", "training_seconds", "{:.1f}"),
    ("total s", "total_seconds", "{:.1f}"),
    ("overhead s", "overhead_seconds", "{:.1f}"),
    ("startup s", "startup_seconds", "{:.1f}"),
    ("warm-up s", "warmup_seconds", "{:.2f}"),
    ("eval s", "eval_seconds", "{:.2f}"),
    ("peak RSS MiB", "peak_rss_mb", "{:.0f}"),
)


def loader_tokens_per_second(data_dir: Path, preset: Preset, seconds: float = 2.0) -> float:
    """The packing loader alone, at the preset's batch shape, on the CPU."""
    from hpdream_runner.data import PackedLoader, prepare

    data = prepare("builtin", data_dir=data_dir, vocab_size=preset.vocab_size)
    rows = int(baseline_constants(preset)["DEVICE_BATCH_SIZE"])
    loader = iter(PackedLoader(data, "train", rows, preset.seq_len, device="cpu", seed=0))
    next(loader)
    tokens, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        x, _ = next(loader)
        tokens += x.numel()
    return tokens / (time.perf_counter() - started)


def baseline_constants(preset: Preset) -> dict[str, Any]:
    from hpdream_runner.training import read_constants

    return read_constants(baseline_train_py(preset))


def one_run(
    workdir: Path, data_dir: Path, preset: Preset, budget: float | None, index: int
) -> dict[str, Any]:
    train_py = workdir / "train.py"
    train_py.write_text(baseline_train_py(preset), encoding="utf-8")
    result = run_training(
        train_py,
        preset=preset,
        data_dir=data_dir,
        budget_s=budget,
        device="cpu",
        out_dir=workdir / f"run-{preset.name}-{budget}-{index}",
    )
    if not result.ok:
        raise SystemExit(f"run {index} failed: {result.error} (see {result.output_path})")
    summary = dict(result.summary)
    summary["overhead_seconds"] = summary["total_seconds"] - summary["training_seconds"]
    return summary


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    print(title)
    print("  " + " | ".join(f"{label:>12}" for label, _, _ in FIELDS))
    for row in rows:
        cells = []
        for _, key, fmt in FIELDS:
            value = row.get(key)
            cells.append(f"{fmt.format(value) if value is not None else '-':>12}")
        print("  " + " | ".join(cells))
    if len(rows) > 1:
        cells = []
        for _, key, fmt in FIELDS:
            values = [r[key] for r in rows if r.get(key) is not None]
            cells.append(f"{fmt.format(statistics.median(values)) if values else '-':>12}")
        print("  " + " | ".join(cells) + "   (median)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=float, help="training seconds (default: the preset's)")
    parser.add_argument("--sweep", help="comma-separated shorter budgets to show val_bpb falling")
    parser.add_argument("--data-dir", type=Path, help="prepared data (default: a temporary folder)")
    parser.add_argument(
        "--like-reference",
        action="store_true",
        help="the reference's CPU configuration (see above)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's summary here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hpdream-bench-") as tmp:
        workdir = Path(tmp)
        data_dir = args.data_dir or workdir / "data"
        preset = LIKE_REFERENCE if args.like_reference else get_preset(args.preset)
        from hpdream_runner.data import prepare

        started = time.perf_counter()
        prepare("builtin", data_dir=data_dir, vocab_size=preset.vocab_size)
        print(
            f"data: builtin, vocab {preset.vocab_size}, prepared in {time.perf_counter() - started:.1f} s"
        )
        print(
            f"loader alone: {loader_tokens_per_second(data_dir, preset):,.0f} tokens/s "
            f"(rows of {preset.seq_len} tokens, CPU)"
        )

        rows = [one_run(workdir, data_dir, preset, args.budget, i) for i in range(args.runs)]
        budget = args.budget or preset.budget_s
        print_table(rows, f"\n{preset.name}: {args.runs} run(s), budget {budget:g} s, device cpu")
        sweep_rows: list[dict[str, Any]] = []
        if args.sweep:
            for b in [float(v) for v in args.sweep.split(",")]:
                sweep_rows.append(one_run(workdir, data_dir, preset, b, 0))
            print("\nval_bpb by training budget:")
            for row in sweep_rows:
                print(
                    f"  {row['budget_s']:>6g} s: val_bpb {row['val_bpb']:.4f} after {row['num_steps']} steps"
                )
        if args.json:
            args.json.write_text(
                json.dumps({"runs": rows, "sweep": sweep_rows}, indent=2, default=str)
            )


if __name__ == "__main__":
    main()
