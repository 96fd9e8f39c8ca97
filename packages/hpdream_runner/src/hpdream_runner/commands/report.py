"""``hpdream-run report``: FINDINGS.md, report.html and figures for experiment logs.

The work is :func:`hpdream_analysis.write_report`; this module only parses the
command line. Its options are the same as ``python -m hpdream_analysis report``
(a test holds the two together). Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = (
    "Write a report of experiment logs to DIR: FINDINGS.md (results table, hypotheses H1-H7, "
    "a profile of each agent, figures), report.html (one self-contained page, interactive "
    "charts, readable offline) and figures/ (every chart as PNG, SVG and PDF)."
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="write FINDINGS.md, report.html and figures (PNG, SVG, PDF) for experiment logs",
        description=DESCRIPTION,
    )
    p.add_argument(
        "logs",
        nargs="+",
        metavar="LOG",
        help="experiments CSV files, autoresearch results.tsv files, or folders of them",
    )
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="report folder")
    p.add_argument("--title", help="the report's title (default: from the study names)")
    p.add_argument(
        "--formats",
        default="png,svg,pdf",
        help="figure formats, comma-separated (png, svg, pdf) or none (default: %(default)s)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=10,
        help="experiments per window of the rolling success rate and entropy (default: %(default)s)",
    )
    p.add_argument(
        "--taxonomy",
        type=Path,
        metavar="TOML",
        help="classify autoresearch rows with this taxonomy",
    )
    p.add_argument(
        "--context-pair",
        metavar="SMALLER,LARGER",
        help="the agents with the smaller and the larger context window, for hypothesis H3",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print no progress")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hpdream_analysis import run_report

    return run_report(args)
