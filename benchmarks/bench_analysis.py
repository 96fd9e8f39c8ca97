"""Speed of hpdream_analysis: summarize at 10^3, 10^5, 10^6 experiments; repeats on 10^5.

Run: ``uv run python benchmarks/bench_analysis.py [--repeat 3] [--sizes 1000 100000 1000000]``.

Prints, per size, the median wall seconds of ``summarize(frame).collect()`` over
``--repeat`` runs, once with the default parameter source (core's extraction
through ``hpdream_core.ParamExtractor``: Python, once per distinct description,
descriptions that differ only in their numbers read once) and once with
``extract="text"`` (the vectorised text rules), and the peak resident memory of
a fresh process doing one default run; then the median seconds of
``repeats()`` over 10^5 descriptions, templated and all distinct.

Synthetic logs: trajectories of 1,000 experiments (one trajectory for 10^3),
description templates with parameter changes, free phrases, re-tries and a
micro-optimisation stretch, about 10% crashes. Work on text is done once per
distinct description, so the figures depend on how many there are: the
templated logs have about 7% distinct descriptions; the "distinct" repeats
case has none in common.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import polars as pl
from _timing import median_seconds

PARAMS = (
    "matrix lr",
    "embedding lr",
    "unembedding lr",
    "scalar lr",
    "weight decay",
    "warmdown",
    "warmup ratio",
    "adam beta1",
    "adam beta2",
    "muon momentum",
    "softcap",
    "depth",
    "aspect ratio",
    "batch size",
    "rope base",
    "final lr frac",
    "x0_lambda init",
    "ve gate channels",
    "head dim",
    "muon ns_steps",
)
PHRASES = (
    "add rmsnorm before attention",
    "switch activation to swiglu",
    "remove value embeddings",
    "use sliding window attention",
    "tie embedding weights",
    "try cosine decay schedule",
    "enable qk norm",
    "replace relu squared with gelu",
    "add z-loss to the objective",
    "use cautious weight decay",
    "disable torch compile for the optimizer step",
    "pack documents with best fit",
    "train a bigger tokenizer vocabulary",
)
CATEGORIES = ("hyperparameters", "architecture", "optimizer", "schedule", "tokenizer", "other")
GRID = np.round(np.geomspace(0.001, 2.0, 60), 4)


def synthetic(trajectories: int, length: int, seed: int = 0) -> pl.DataFrame:
    """``trajectories`` logs of ``length`` experiments each (baseline included)."""
    rng = np.random.default_rng(seed)
    n = trajectories * length
    traj = np.repeat(np.arange(trajectories), length)
    index = np.tile(np.arange(length), trajectories)
    kind = rng.random(n)
    param = rng.integers(0, len(PARAMS), n)
    old = rng.integers(0, len(GRID), n)
    step = rng.choice([-3, -2, -1, 1, 2, 3], n)
    new = np.clip(old + step, 0, len(GRID) - 1)
    phrase = rng.integers(0, len(PHRASES), n)
    noise = 0.02 * rng.standard_normal(n) + 0.003 * np.sqrt(index + 1) * -1.0
    val = 1.0 + noise + 0.05 * rng.random(trajectories)[traj]
    crash = rng.random(n) < 0.1
    status = np.where(crash, "crash", np.where(rng.random(n) < 0.25, "keep", "discard"))
    category = np.asarray(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)]
    frame = pl.DataFrame(
        {
            "study": "bench",
            "agent": pl.Series(traj % 50).cast(pl.String).str.replace(r"^", "agent-"),
            "run": traj // 50,
            "index": index,
            "status": status,
            "val_bpb": np.where(crash, np.nan, val),
            "category": category,
            "_kind": kind,
            "_param": np.asarray(PARAMS)[param],
            "_old": GRID[old],
            "_new": GRID[new],
            "_phrase": np.asarray(PHRASES)[phrase],
        }
    )
    micro = pl.format(
        "matrix lr {} -> {}",
        (0.04 * (1 + 0.002 * (pl.col("index") % 100 - 89))).round(6),
        (0.04 * (1 + 0.002 * (pl.col("index") % 100 - 88))).round(6),
    )
    text = (
        pl.when(pl.col("index") % 100 >= 90)
        .then(micro)
        .when(pl.col("_kind") < 0.55)
        .then(pl.format("{} {} to {}", "_param", "_old", "_new"))
        .when(pl.col("_kind") < 0.75)
        .then(pl.col("_phrase"))
        .when(pl.col("_kind") < 0.85)
        .then(pl.format("{}, then {} {} -> {}", "_phrase", "_param", "_old", "_new"))
        .otherwise(pl.format("retry: {} = {}", "_param", "_new"))
    )
    return frame.with_columns(
        description=pl.when(pl.col("index") == 0).then(pl.lit("baseline")).otherwise(text),
        category=pl.when(pl.col("index") == 0).then(pl.lit("baseline")).otherwise("category"),
        status=pl.when(pl.col("index") == 0).then(pl.lit("keep")).otherwise("status"),
        val_bpb=pl.when(pl.col("index") == 0)
        .then(pl.lit(1.0))
        .otherwise(pl.col("val_bpb").fill_nan(None)),
    ).drop("_kind", "_param", "_old", "_new", "_phrase")


def distinct_descriptions(size: int, seed: int = 0) -> pl.DataFrame:
    """``size`` experiments whose descriptions share nothing but vocabulary."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    words = vocabulary[rng.integers(0, len(vocabulary), (size, 6))]
    numbers = rng.integers(0, 10**6, (size, 2))
    frame = synthetic(*_shape(size), seed=seed)
    text = [
        f"{' '.join(w[:3])} {a} -> {b} {' '.join(w[3:])}"
        for w, (a, b) in zip(words.tolist(), numbers.tolist(), strict=True)
    ]
    return frame.with_columns(description=pl.Series(text))


def _shape(size: int) -> tuple[int, int]:
    length = min(1000, size)
    return size // length, length


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_run(path: str) -> dict[str, float]:
    """Scan a parquet log and summarise it once in this process; memory from the kernel."""
    from hpdream_analysis import summarize

    before = _rss_mib()
    start = time.perf_counter()
    summarize(pl.scan_parquet(path)).collect()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak, "before_mib": before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeats-size", type=int, default=100_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one)))
        return
    from hpdream_analysis import repeats, summarize

    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads, {os.cpu_count()} CPUs")
    for size in args.sizes:
        frame = synthetic(*_shape(size)).lazy()
        distinct = frame.select(pl.col("description").n_unique()).collect().item()
        core = median_seconds(lambda f=frame: summarize(f).collect(), args.repeat)
        text = median_seconds(lambda f=frame: summarize(f, extract="text").collect(), args.repeat)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "log.parquet")
            frame.collect().write_parquet(path)
            mem = subprocess.run(
                [sys.executable, __file__, "--one", path],
                capture_output=True,
                text=True,
                check=True,
            )
        peak = json.loads(mem.stdout)
        trajectories, length = _shape(size)
        print(
            f"summarize {size:>9,} experiments ({trajectories} x {length}, {distinct:,} distinct "
            f"descriptions): {core:7.3f} s (core extraction), {text:7.3f} s (extract='text'), "
            f"median of {args.repeat}; peak RSS {peak['peak_mib']:.0f} MiB scanning parquet "
            f"({peak['before_mib']:.0f} MiB after imports)"
        )
    cases = {
        "templated": synthetic(*_shape(args.repeats_size)).lazy(),
        "distinct": distinct_descriptions(args.repeats_size).lazy(),
    }
    for name, frame in cases.items():
        for extract in (None, "text"):
            seconds = median_seconds(
                lambda f=frame, e=extract: repeats(f, extract=e).collect(), args.repeat
            )
            found = repeats(frame, extract=extract).collect().height
            source = "core extraction" if extract is None else "extract='text'"
            print(
                f"repeats   {args.repeats_size:>9,} {name} descriptions ({source}): "
                f"{seconds:7.3f} s median of {args.repeat}; {found:,} repeats"
            )


if __name__ == "__main__":
    main()
