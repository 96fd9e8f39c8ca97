"""Report speed: seconds to build the whole report of a seed-size study, and its parts.

    uv run python benchmarks/bench_report.py [--agents 5] [--experiments 165] [--repeat 3]

A synthetic study (by default the seed study's size: 5 agents x 165
experiments after their baselines) is written as a canonical experiments CSV;
then ``hpdream_analysis.write_report`` builds FINDINGS.md, report.html and
every figure as PNG, SVG and PDF from it, as ``hpdream-run report`` does.
Prints the median over ``--repeat`` runs of the total and of each part (taken
from the report's progress callback), and the cost of each figure format for
the dashboard. The first run in a fresh process also builds the inlined Vega
bundle once (about 2 s, then cached on disk); it is reported separately.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hpdream_core import Experiment, write_log

CATEGORIES = ("hyperparameters", "architecture", "optimizer", "schedule", "tokenizer", "other")
PARAMS = ("MATRIX_LR", "EMBEDDING_LR", "DEPTH", "ASPECT_RATIO", "WARMDOWN_RATIO", "WEIGHT_DECAY")


def synthetic_study(path: Path, agents: int, experiments: int, seed: int = 0) -> int:
    """Write a study log: each agent favours some categories, keeps what improves."""
    rng = random.Random(seed)
    rows = []
    for a in range(agents):
        weights = [rng.random() ** 2 for _ in CATEGORIES]
        best = 1.0
        rows.append(_experiment(a, 0, "keep", best, "baseline", "baseline"))
        for i in range(1, experiments + 1):
            category = rng.choices(CATEGORIES, weights)[0]
            param = rng.choice(PARAMS)
            text = f"{category}: {param} {rng.randint(1, 99)} -> {rng.randint(1, 99)}"
            draw = rng.random()
            if draw < 0.05:
                rows.append(_experiment(a, i, "crash", None, category, text + " (OOM)"))
            elif draw < 0.3:
                best *= 1 - rng.uniform(0.0005, 0.01)
                rows.append(_experiment(a, i, "keep", best, category, text))
            else:
                value = best * (1 + rng.uniform(0.0001, 0.02))
                rows.append(_experiment(a, i, "discard", value, category, text))
    write_log(path, rows)
    return len(rows)


def _experiment(
    agent: int, index: int, status: str, val_bpb: float | None, category: str, description: str
) -> Experiment:
    values = {
        "study": "bench",
        "agent": f"agent-{agent}",
        "run": 0,
        "index": index,
        "status": status,
        "category": category,
        "multi": False,
        "description": description,
    }
    if val_bpb is not None:
        values["val_bpb"] = val_bpb
    return Experiment.from_values(values)


def one_report(log: Path, out: Path) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of one report, and wall seconds per part."""
    import hpdream_analysis

    marks: list[tuple[float, str]] = []
    started, cpu = time.perf_counter(), time.process_time()
    hpdream_analysis.write_report(
        [log], out, progress=lambda done, total, what: marks.append((time.perf_counter(), what))
    )
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu
    parts: dict[str, float] = defaultdict(float)
    for (t0, what), (t1, _) in itertools.pairwise(marks):
        parts[_part(what)] += t1 - t0
    return total, cpu, parts


def _part(what: str) -> str:
    if what.startswith("chart:"):
        return "laying out the charts"
    if what.startswith("figures/"):
        return "figures (PNG, SVG, PDF)"
    return what


def formats(log: Path) -> dict[str, float]:
    """Seconds for the dashboard in each format (SVG is laid out once; PNG and PDF come from it)."""
    import vl_convert

    import hpdream_analysis

    spec = hpdream_analysis.themed(hpdream_analysis.dashboard(hpdream_analysis.load(log))).to_dict()
    t = time.perf_counter()
    svg = vl_convert.vegalite_to_svg(spec)
    t_svg = time.perf_counter() - t
    t = time.perf_counter()
    vl_convert.svg_to_png(svg, scale=2)
    t_png = time.perf_counter() - t
    t = time.perf_counter()
    vl_convert.svg_to_pdf(svg)
    t_pdf = time.perf_counter() - t
    return {"svg (layout)": t_svg, "png from svg (2x)": t_png, "pdf from svg": t_pdf}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", type=int, default=5)
    ap.add_argument("--experiments", type=int, default=165, help="per agent, after the baseline")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "experiments.csv"
        rows = synthetic_study(log, args.agents, args.experiments)
        from hpdream_analysis._html import vega_bundle

        t = time.perf_counter()
        vega_bundle()
        bundle = time.perf_counter() - t
        totals, cpus = [], []
        parts: dict[str, list[float]] = defaultdict(list)
        for i in range(args.repeat):
            total, cpu, found = one_report(log, Path(d) / f"report-{i}")
            totals.append(total)
            cpus.append(cpu)
            for name, seconds in found.items():
                parts[name].append(seconds)
        per_format = formats(log)
    print(
        f"report of {args.agents} agents x {args.experiments} experiments ({rows} rows), "
        f"median of {args.repeat} runs"
    )
    print(
        f"  total (hpdream-run report):   {statistics.median(totals):6.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU (all threads)"
    )
    for name, values in parts.items():
        print(f"    {name:<28}{statistics.median(values):6.2f} s")
    print(f"  Vega bundle, first use in a process: {bundle:.2f} s (then cached on disk)")
    print("  dashboard figure by format:")
    for name, seconds in per_format.items():
        print(f"    {name:<28}{seconds:6.2f} s")


if __name__ == "__main__":
    main()
