"""Every GPU training figure in one unattended call of a few minutes.

Trains the baseline train.py through ``run_training`` (subprocess, harness,
evaluation: exactly what a study does) on one CUDA GPU, 60 s budget each:

1. ``seed`` (depth 4, 11.5M, 16 x 2048 per pass, 65,536 tokens per step),
   with the compile cache of this machine as it is (cold on a fresh machine);
2. ``seed`` again (``torch.compile``'s cache now warm: the usual case in a
   study, where most edits leave the graph unchanged or recur);
3. ``depth8`` (depth 8, 50.3M, 64 x 2048 per pass, 524,288 tokens per step).

It prints for each: training tokens/s, MFU (against the GPU's dense bf16
peak, stated), steps, val_bpb, peak memory, and the overhead (total wall
time minus training time) with its parts (start-up, uncounted warm-up steps
with compilation, evaluation); then the loader's own tokens/s, and the
goals: >= 5x the reference's ~470K tokens/s at the seed size, >= 1.6M
tokens/s at depth 8, overhead under 20 s. Results also go to a JSON file.

    uv run python benchmarks/gpu_bench.py                 # on a CUDA machine
    uv run python benchmarks/gpu_bench.py --tiny          # the same script, tiny, on the CPU
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REFERENCE_SEED_TOKENS_S = 470_000  # the seed's fork on an H200 (docs/benchmarks.md)
GOALS = {
    "seed": ("tokens_per_second", 5 * REFERENCE_SEED_TOKENS_S),
    "depth8": ("tokens_per_second", 1_600_000),
}
OVERHEAD_GOAL_S = 20.0


def environment(device: str) -> dict[str, Any]:
    import torch

    from hpdream_runner.training._device import setup_device

    setup = setup_device(device)
    info = {
        "device": str(setup.device),
        "device_name": setup.name,
        "peak_bf16_flops": setup.peak_flops,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "dtype": str(setup.fast_dtype),
        "compile": setup.compile,
    }
    if setup.device.type == "cuda":
        info["sdpa_flash"] = torch.backends.cuda.flash_sdp_enabled()
        info["gpu_memory_gib"] = torch.cuda.get_device_properties(setup.device).total_memory / 2**30
    return info


def loader_rate(data: Any, rows: int, seq_len: int, device: str, seconds: float) -> float:
    import torch

    from hpdream_runner.data import PackedLoader

    loader = iter(PackedLoader(data, "train", rows, seq_len, device=device, seed=0))
    next(loader)
    tokens, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        x, _ = next(loader)
        tokens += x.numel()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--budget", type=float, default=60.0, help="training seconds per run (default 60)"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="CPU, smoke-sized models, 3 s budgets, with the CUDA code path (torch.compile, bfloat16 "
        "autocast) forced on: tests the script",
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="with --tiny: leave torch.compile off"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="prepared data (default: the data module's default)"
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: hpdream-out/gpu-bench/<time>)"
    )
    parser.add_argument("--skip-depth8", action="store_true")
    args = parser.parse_args()

    from hpdream_runner.data import prepare
    from hpdream_runner.training import baseline_train_py, get_preset, run_training

    out = args.out or Path("hpdream-out", "gpu-bench", dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    run_env: dict[str, str] = {}
    grace: float | None = None
    if args.tiny:
        device, budget = "cpu", 3.0
        run_env = {"HPDREAM_COMPILE": "0" if args.no_compile else "1", "HPDREAM_DTYPE": "bfloat16"}
        grace = 900.0  # a cold torch.compile on two CPU cores takes a minute or more
        plan = [
            ("seed", "smoke", {}),
            ("seed (warm cache)", "smoke", {}),
            ("depth8", "smoke", {"DEPTH": "2"}),
        ]
    else:
        import torch

        if not torch.cuda.is_available():
            print(
                "no CUDA GPU visible: run on a GPU machine, or use --tiny to test this script on the CPU"
            )
            return 2
        device, budget = "cuda", args.budget
        plan = [("seed", "seed", {}), ("seed (warm cache)", "seed", {}), ("depth8", "depth8", {})]
    if args.skip_depth8:
        plan = plan[:2]

    os.environ.update(run_env)  # so that environment() reports what the runs use
    env = environment(device)
    print(json.dumps(env, indent=2))
    started = time.perf_counter()
    vocab = get_preset(plan[0][1]).vocab_size
    data = prepare("builtin", data_dir=args.data_dir, vocab_size=vocab)
    prepare_s = time.perf_counter() - started
    print(f"data prepared (or found) in {prepare_s:.1f} s at {data.root}", flush=True)

    results: list[dict[str, Any]] = []
    for label, preset_name, overrides in plan:
        run_dir = out / label.replace(" ", "-").replace("(", "").replace(")", "")
        run_dir.mkdir(parents=True, exist_ok=True)
        train_py = run_dir / "train.py"
        train_py.write_text(baseline_train_py(preset_name), encoding="utf-8")
        print(
            f"\n== {label}: preset {preset_name} {overrides or ''}, budget {budget:g} s", flush=True
        )
        result = run_training(
            train_py,
            preset=preset_name,
            data_dir=args.data_dir,
            budget_s=budget,
            device=device,
            overrides=overrides,
            out_dir=run_dir / "run",
            env=run_env,
            grace_s=grace,
            echo=lambda line: print("   " + line, flush=True),
        )
        s = dict(result.summary)
        s["label"] = label
        if result.ok:
            s["overhead_seconds"] = s["total_seconds"] - s["training_seconds"]
        results.append(s)

    rows = [
        ("tokens/s", "tokens_per_second", "{:,.0f}"),
        ("MFU %", "mfu_percent", "{:.1f}"),
        ("steps", "num_steps", "{}"),
        ("val_bpb", "val_bpb", "{:.4f}"),
        ("params M", "num_params_M", "{:.1f}"),
        ("peak VRAM MiB", "peak_vram_mb", "{:,.0f}"),
        ("training s", "training_seconds", "{:.1f}"),
        ("total s", "total_seconds", "{:.1f}"),
        ("overhead s", "overhead_seconds", "{:.1f}"),
        ("  start-up s", "startup_seconds", "{:.1f}"),
        ("  warm-up+compile s", "warmup_seconds", "{:.1f}"),
        ("  evaluation s", "eval_seconds", "{:.1f}"),
        ("error", "error", "{}"),
    ]
    peak = env.get("peak_bf16_flops")
    print(
        f"\nGPU: {env['device_name']}; MFU against {peak / 1e12:.1f} TFLOP/s dense bf16"
        if peak
        else ""
    )
    print(f"{'':<20}" + "".join(f"{r['label']:>22}" for r in results))
    for title, key, fmt in rows:
        cells = []
        for r in results:
            value = r.get(key)
            cells.append(f"{fmt.format(value) if value is not None else '-':>22}")
        print(f"{title:<20}" + "".join(cells))

    rate_seed = loader_rate(data, 16, 2048, device, 3.0) if not args.tiny else None
    if rate_seed is not None:
        print(f"\nloader alone, 16 x 2048 rows to {device}: {rate_seed:,.0f} tokens/s")

    if args.tiny:
        print("\n(--tiny: a check of this script on the CPU; the goals below are for a GPU)")
    print("\ngoals:")
    for r in results:
        name = "seed" if r["label"].startswith("seed") else "depth8"
        key, goal = GOALS[name]
        value = r.get(key)
        verdict = "met" if value is not None and value >= goal else "MISSED"
        print(f"  {r['label']:<20} tokens/s {value or 0:>12,.0f}  goal >= {goal:>12,}  {verdict}")
        overhead = r.get("overhead_seconds")
        verdict = "met" if overhead is not None and overhead < OVERHEAD_GOAL_S else "MISSED"
        print(
            f"  {'':<20} overhead {overhead or 0:>12.1f}  goal <  {OVERHEAD_GOAL_S:>12.0f}  {verdict}"
        )

    report = {
        "environment": env,
        "budget_s": budget,
        "prepare_seconds": prepare_s,
        "loader_tokens_per_second": rate_seed,
        "runs": results,
        "argv": sys.argv,
    }
    (out / "gpu_bench.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {out / 'gpu_bench.json'}")
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
