"""``hpdream-run import``: convert autoresearch logs (and canonical CSVs) to one canonical CSV."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import",
        help="convert autoresearch results.tsv logs (files or folders) to one canonical CSV",
        description=(
            "Convert autoresearch results.tsv logs and their variants (files, or folders searched "
            "for logs) into one canonical experiments CSV. Every line of every input becomes a "
            "row or is reported with its line number and the reason."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="log files or folders")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.csv")
    p.add_argument("--study", help="study name (default: each file's folder name)")
    p.add_argument(
        "--agent",
        help="agent label (default: each file's name); with several files they become runs 0, 1, ...",
    )
    p.add_argument("--strict", action="store_true", help="fail on the first line that is not a row")
    p.add_argument("--json", action="store_true", help="print the per-file summary as JSON")
    p.add_argument("--taxonomy", type=Path, help="classify with this taxonomy TOML file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hpdream_core import find_logs, read_any, write_log
    from hpdream_runner._labels import make_labeler

    labeler = make_labeler(args.taxonomy)
    started = time.perf_counter()
    files = find_logs(args.paths)
    results = []
    for run_number, path in enumerate(files):
        results.append(
            read_any(
                path,
                study=args.study,
                agent=args.agent,
                run=run_number if args.agent and len(files) > 1 else 0,
                strict=args.strict,
                labeler=labeler,
            )
        )
    experiments = [e for r in results for e in r.experiments]
    write_log(args.output, experiments)
    seconds = time.perf_counter() - started
    if args.json:
        json.dump(
            {"files": [r.summary() for r in results], "output": str(args.output)},
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    for r in results:
        print(f"{r.path}: {len(r.experiments)} rows, {len(r.reported)} lines reported")
        for rep in r.reported:
            column = f" (column {rep.column})" if rep.column else ""
            print(f"  line {rep.line}{column}: {rep.reason}")
    print(
        f"wrote {len(experiments)} rows from {len(results)} files to {args.output} "
        f"({seconds:.2f} s)"
    )
    return 0
