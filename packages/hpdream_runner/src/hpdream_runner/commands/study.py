"""``hpdream-run study``: run, resume, check and inspect studies described by a TOML file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "study",
        help="run a study file (resumes where it stopped), check one, or show its progress",
        description=(
            "Run the agents of a study file, one run after another, logging every experiment "
            "to the study's experiments CSV. Running the same study again resumes it where it "
            "stopped, after Ctrl-C or a kill, with no row lost or duplicated."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run", help="run (or resume) a study", description="Run or resume a study."
    )
    run.add_argument("study", type=Path, metavar="STUDY.toml")
    run.add_argument("-o", "--output", type=Path, help="output folder (default: the file's output)")
    run.add_argument(
        "--plain",
        action="store_true",
        help="print one line per experiment instead of the live table (the default when not a terminal)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the summary at the end")
    run.set_defaults(func=run_study)

    check = actions.add_parser(
        "check",
        help="validate a study file and print its resolved configuration",
        description="Validate a study file (keys, agents and their options) without running it.",
    )
    check.add_argument("study", type=Path, metavar="STUDY.toml")
    check.add_argument(
        "-o", "--output", type=Path, help="output folder (default: the file's output)"
    )
    check.set_defaults(func=check_study)

    status = actions.add_parser(
        "status",
        help="show how far each run of a study got",
        description="Show each run of a study: experiments, best val_bpb, kept, crashed, state.",
    )
    status.add_argument(
        "target", type=Path, metavar="STUDY.toml|OUTPUT", help="a study file or its output folder"
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=show_status)


def _progress(args: argparse.Namespace) -> Any:
    from hpdream_runner.study import LineProgress, NullProgress, make_progress

    if getattr(args, "quiet", False):
        return NullProgress()
    if getattr(args, "plain", False):
        return LineProgress(sys.stdout)
    return make_progress(sys.stdout)


def print_runs(runs: Any) -> None:
    """A table of run summaries: experiments, best val_bpb, kept, crashed, state."""
    print(f"{'run':<32} {'experiments':>11} {'best val_bpb':>12} {'kept':>5} {'crashed':>8}  state")
    for r in runs:
        best = "-" if r.best_val_bpb is None else f"{r.best_val_bpb:.6f}"
        name = f"{r.label} run {r.run}"
        reason = f": {r.reason}" if r.reason else ""
        print(
            f"{name:<32} {r.experiments:>11} {best:>12} {r.kept:>5} {r.crashed:>8}  {r.state}{reason}"
        )


def execute(study_path: Path, output: Path | None, progress: Any) -> Any:
    """Load, validate and run a study; the :class:`~hpdream_runner.study.StudyResult`."""
    from hpdream_runner.agents import get_agent
    from hpdream_runner.study import Study, StudyConfigError, load_study

    config = load_study(study_path, output=output)
    for i, agent in enumerate(config.agents):
        spec = get_agent(agent.adapter)
        try:
            spec.parse_options(agent.options)
        except ValueError as exc:
            raise StudyConfigError(config.source, f"agents[{i}].options", str(exc)) from None
    try:
        return Study(config, progress=progress).run()
    except KeyboardInterrupt:
        print(
            f"\nstudy {config.name} stopped; run the same command again to resume it "
            f"(the log so far: {config.output / 'experiments.csv'})",
            file=sys.stderr,
        )
        raise


def run_study(args: argparse.Namespace) -> int:
    result = execute(args.study, args.output, _progress(args))
    print_runs(result.runs)
    print(f"experiments CSV: {result.log_path}")
    print(f"report: hpdream-run report {result.log_path} -o {result.output / 'report'}")
    return 1 if any(r.state == "stopped" for r in result.runs) else 0


def check_study(args: argparse.Namespace) -> int:
    from hpdream_runner.agents import get_agent
    from hpdream_runner.study import StudyConfigError, load_study

    config = load_study(args.study, output=args.output)
    problems: list[str] = []
    for i, agent in enumerate(config.agents):
        spec = get_agent(agent.adapter)
        try:
            spec.parse_options(agent.options)
        except ValueError as exc:
            raise StudyConfigError(config.source, f"agents[{i}].options", str(exc)) from None
        problems += [f"{agent.label}: {p}" for p in spec.problems()]
    json.dump(config.to_dict(), sys.stdout, indent=2)
    print()
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    runs = len(config.runs)
    print(
        f"{args.study}: valid; {len(config.agents)} agent(s), {runs} run(s), output {config.output}",
        file=sys.stderr,
    )
    return 0


def show_status(args: argparse.Namespace) -> int:
    import attrs

    from hpdream_runner.study import load_study, study_status

    target: Path = args.target
    output = load_study(target).output if target.is_file() else target
    runs = study_status(output)
    if args.json:
        json.dump([attrs.asdict(r) for r in runs], sys.stdout, indent=2)
        print()
        return 0
    if not runs:
        print(f"{output}: no runs yet")
        return 0
    print_runs(runs)
    return 0
