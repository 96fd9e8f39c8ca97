"""``hpdream-run quickstart``: a whole small study on the CPU, then its report.

Runs ``examples/quickstart.toml`` — the built-in search agents on the
``builtin`` data set at the ``cpu-tiny`` preset, no network, no keys, within
10 minutes on 2 CPU cores — then writes the report and prints where it is.
Running it again resumes (or, when finished, just rewrites the report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

QUICKSTART = Path("examples") / "quickstart.toml"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "quickstart",
        help="run the quickstart study (built-in agents, tiny CPU model, ~10 min) and write its report",
        description=(
            "Run examples/quickstart.toml: the built-in search agents (random search, "
            "coordinate search, TPE) on the builtin data set with the cpu-tiny preset, "
            "then write the report. No network, no API keys; about 10 minutes on 2 CPU cores. "
            "Run it again to resume an interrupted quickstart."
        ),
    )
    p.add_argument("-o", "--output", type=Path, help="output folder (default: runs/quickstart)")
    p.add_argument("--study", type=Path, help=f"study file (default: {QUICKSTART})")
    p.add_argument(
        "--plain", action="store_true", help="plain progress lines instead of the live table"
    )
    p.set_defaults(func=run)


def find_quickstart(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The quickstart study file: the one given, else ./examples/, else the source checkout's."""
    from hpdream_runner.study import StudyConfigError

    if explicit is not None:
        return explicit
    here = (cwd or Path.cwd()) / QUICKSTART
    if here.is_file():
        return here
    # a source checkout: <repo>/packages/hpdream_runner/src/hpdream_runner/commands/quickstart.py
    repo = Path(__file__).resolve().parents[5]
    candidate = repo / QUICKSTART
    if candidate.is_file():
        return candidate
    raise StudyConfigError(
        here, None, "not found: run the quickstart from the hpdream checkout, or pass --study FILE"
    )


def write_report(log_path: Path, out_dir: Path) -> Path:
    """Write the report of ``log_path`` into ``out_dir``, with progress lines; its report.html."""
    from hpdream_analysis import progress_printer
    from hpdream_analysis import write_report as write

    return Path(write([log_path], out_dir, progress=progress_printer()))


def run(args: argparse.Namespace) -> int:
    from hpdream_runner.commands.study import _progress, execute, print_runs

    study = find_quickstart(args.study)
    result = execute(study, args.output, _progress(args))
    print_runs(result.runs)
    print(f"experiments CSV: {result.log_path}")
    report = write_report(result.log_path, result.output / "report")
    print(f"report: {report}")
    failed = any(r.state == "stopped" for r in result.runs)
    if failed:
        print("some runs stopped with an error: see hpdream-run study status", file=sys.stderr)
    return 1 if failed else 0
