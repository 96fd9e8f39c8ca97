"""Import speed: rows/s reading autoresearch logs and reading/writing the canonical CSV.

    uv run python benchmarks/bench_import.py [--rows 100000] [--repeat 5]

Prints medians of several runs. Synthetic logs in the upstream 5-column layout
with the quirks of public logs mixed in (crash rows, N/A, long descriptions).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from _timing import median_seconds

from hpdream_core import import_autoresearch, read_log, write_log

WORDS = [
    "increase",
    "decrease",
    "MATRIX_LR",
    "depth",
    "warmdown",
    "ratio",
    "batch",
    "halve",
    "double",
    "softcap",
    "window",
]


def synthetic_tsv(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    lines = ["commit\tval_bpb\tmemory_gb\tstatus\tdescription"]
    for i in range(rows):
        status = rng.choices(["keep", "discard", "crash"], [2, 7, 1])[0]
        val = "0.000000" if status == "crash" else f"{0.9 + rng.random() / 10:.6f}"
        desc = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
        lines.append(
            f"{rng.getrandbits(28):07x}\t{val}\t{rng.random() * 80:.1f}\t{status}\t{desc} {i}"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tsv = Path(d) / "results.tsv"
        csv_path = Path(d) / "experiments.csv"
        synthetic_tsv(tsv, args.rows)
        result = import_autoresearch(tsv)
        n = len(result.experiments)
        t_import = median_seconds(lambda: import_autoresearch(tsv), args.repeat)
        t_write = median_seconds(lambda: write_log(csv_path, result.experiments), args.repeat)
        t_read = median_seconds(lambda: read_log(csv_path), args.repeat)
    print(f"rows: {n} (median of {args.repeat} runs)")
    print(f"import results.tsv : {t_import:7.3f} s  {n / t_import:10,.0f} rows/s")
    print(f"write canonical CSV: {t_write:7.3f} s  {n / t_write:10,.0f} rows/s")
    print(f"read canonical CSV : {t_read:7.3f} s  {n / t_read:10,.0f} rows/s")


if __name__ == "__main__":
    main()
