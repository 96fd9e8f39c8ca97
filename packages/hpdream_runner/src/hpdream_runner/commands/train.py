"""``hpdream-run train``: run one training of a train.py (the baseline by default) under the harness."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a train.py (the baseline by default) once under the harness and print val_bpb",
        description=(
            "Run one training under the hpdream harness: the data is prepared if needed, train.py "
            "runs in a subprocess that is killed at budget + grace, the harness evaluates val_bpb "
            "and writes output.log, run_spec.json and summary.json to the output folder. Without "
            "TRAIN_PY the baseline train.py for the preset is written there and run. Exit status: "
            "0 when the run produced a val_bpb, 1 when it failed (timeout, NaN, OOM, exception)."
        ),
    )
    p.add_argument("train_py", nargs="?", type=Path, metavar="TRAIN_PY", help="the train.py to run")
    p.add_argument(
        "--preset", default="cpu-tiny", help="model size and harness settings (default: cpu-tiny)"
    )
    p.add_argument(
        "--budget",
        type=float,
        metavar="S",
        help="training budget in seconds (default: the preset's)",
    )
    p.add_argument(
        "--grace", type=float, metavar="S", help="seconds allowed beyond the budget before the kill"
    )
    p.add_argument(
        "--device", metavar="D", help="cuda, cuda:N, mps or cpu (default: the best available)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a train.py constant, e.g. --set DEPTH=6 --set ADAM_BETAS=0.9,0.95 (repeatable)",
    )
    p.add_argument("--dataset", default="builtin", help="data set to train on (default: builtin)")
    p.add_argument("--data-dir", type=Path, metavar="DIR", help="where prepared data lives")
    p.add_argument(
        "--vocab-size", type=int, metavar="N", help="tokenizer vocabulary (default: the preset's)"
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: hpdream-out/train/<time>)",
    )
    p.add_argument("--quiet", action="store_true", help="do not stream the training output")
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.add_argument(
        "--show-baseline",
        action="store_true",
        help="print the baseline train.py for the preset and exit",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hpdream_runner.training import (
        PRESETS,
        baseline_train_py,
        get_preset,
        parse_overrides,
        run_training,
    )

    if args.list_presets:
        for preset in PRESETS.values():
            print(
                f"{preset.name:<10} budget {preset.budget_s:>5g} s, grace {preset.grace_s:>4g} s, "
                f"sequence {preset.seq_len}, vocab {preset.vocab_size}: {preset.description}"
            )
        return 0
    preset = get_preset(args.preset)
    if args.show_baseline:
        sys.stdout.write(baseline_train_py(preset))
        return 0
    overrides = parse_overrides(args.overrides)
    out_dir = args.out or Path("hpdream-out", "train", dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    train_py = args.train_py
    if train_py is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        train_py = out_dir / "train.py"
        train_py.write_text(baseline_train_py(preset), encoding="utf-8")
        print(f"baseline train.py for preset {preset.name} written to {train_py}", flush=True)

    result = run_training(
        train_py,
        preset=preset,
        dataset=args.dataset,
        data_dir=args.data_dir,
        vocab_size=args.vocab_size,
        budget_s=args.budget,
        device=args.device,
        overrides=overrides,
        out_dir=out_dir,
        grace_s=args.grace,
        echo=None if args.quiet else _echo,
    )
    if args.json:
        json.dump(result.summary, sys.stdout, indent=2)
        print()
    if result.ok:
        print(
            f"val_bpb {result.val_bpb:.6f} after {result.training_seconds:.1f} s of training "
            f"({result.total_seconds:.1f} s in all); output in {result.output_path.parent}"
        )
        return 0
    print(f"training failed: {result.error}", file=sys.stderr)
    print(f"output: {result.output_path}", file=sys.stderr)
    return 1


def _echo(line: str) -> None:
    print(line, flush=True)
