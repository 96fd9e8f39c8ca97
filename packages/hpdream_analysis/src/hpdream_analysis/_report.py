"""The report of a study: FINDINGS.md, report.html and the figures.

:func:`write_report` loads logs (a study's experiments CSV, or folders of
autoresearch ``results.tsv`` files), builds a :class:`Report` with
:func:`build_report` and writes it to a folder:

* ``FINDINGS.md``: the results table (rank, agent, best val_bpb, gain over
  the baseline, experiments, success rate, categories explored), the
  hypothesis table (H1-H7), a profile of each agent in words, and the
  figures;
* ``report.html``: the same on one self-contained page (the Vega libraries
  inlined, no network needed), with interactive charts and sortable tables;
* ``figures/``: every chart as PNG (2x), SVG and PDF, made by vl-convert.

A report is a list of blocks (headings, paragraphs, notes, tables, figures)
that the Markdown and HTML writers both render, so the two never disagree.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import altair as alt
import polars as pl

from hpdream_analysis import _charts as charts
from hpdream_analysis import _html as html
from hpdream_analysis._hypotheses import Outcome, hypotheses
from hpdream_analysis._schema import TRAJECTORY
from hpdream_analysis._stats import aggregate_runs
from hpdream_analysis._summary import DEFAULT_CATEGORIES
from hpdream_core import HpdreamError, LineReport, Taxonomy

#: ``progress(done, total, what)``: called before each step of a report.
Progress = Callable[[int, int, str], None]
#: Figure formats written by default.
FORMATS: Final = ("png", "svg", "pdf")
#: Pixel scale of PNG figures (2: sharp on high-density screens and in print).
PNG_SCALE: Final = 2.0

_KEYS: Final = list(TRAJECTORY)


# --- the document model ------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and the value it sorts by (None sorts last)."""

    text: str
    value: float | str | None = None


@dataclass(frozen=True)
class Table:
    """A table; ``numeric`` columns sort by number and, unless ``right`` says
    otherwise, are right-aligned."""

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...]
    caption: str | None = None
    right: tuple[bool, ...] | None = None

    @property
    def alignment(self) -> tuple[bool, ...]:
        return self.numeric if self.right is None else self.right


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.text.lower()).strip("-")


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Note:
    """A paragraph a reader must not miss (a caveat about the data)."""

    text: str


@dataclass(frozen=True)
class Figure:
    name: str  # file stem under figures/
    title: str
    caption: str
    chart: alt.TopLevelMixin

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        """The Vega-Lite spec, styled (see :data:`hpdream_analysis.CHART_CONFIG`)."""
        return charts.themed(self.chart).to_dict()  # type: ignore[no-any-return]


Block = Heading | Paragraph | Note | Table | Figure


@dataclass
class Report:
    """A built report: its title, subtitle and blocks, ready to be written."""

    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]

    def to_markdown(self, figure_dir: str = "figures", formats: Sequence[str] = FORMATS) -> str:
        """FINDINGS.md: the blocks as GitHub Markdown. Figures are shown from
        ``figure_dir`` in the first of PNG, SVG that ``formats`` holds, and linked
        in each format; with no formats, their captions point to report.html."""
        out = [f"# {self.title}", "", f"_{_md_text(self.subtitle)}_", ""]
        for block in self.blocks:
            if isinstance(block, Heading):
                out += [f"{'#' * block.level} {_md_text(block.text)}", ""]
            elif isinstance(block, Paragraph):
                out += [_md_text(block.text), ""]
            elif isinstance(block, Note):
                out += [f"> **Note.** {_md_text(block.text)}", ""]
            elif isinstance(block, Table):
                out += _md_table(block)
            else:
                out += _md_figure(block, figure_dir, formats)
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        """report.html: one self-contained page with interactive charts (tables they share
        written once)."""
        datasets = html.Datasets()
        parts = [
            f"<h1>{html.escape(self.title)}</h1>",
            f'<p class="meta">{html.escape(self.subtitle)}</p>',
        ]
        sections = [b for b in self.blocks if isinstance(b, Heading) and b.level == 2]
        if sections:
            links = "".join(f'<a href="#{b.anchor}">{html.escape(b.text)}</a>' for b in sections)
            parts.append(f'<nav class="toc">{links}</nav>')
        for block in self.blocks:
            if isinstance(block, Heading):
                parts.append(
                    f'<h{block.level} id="{block.anchor}">{html.escape(block.text)}</h{block.level}>'
                )
            elif isinstance(block, Paragraph):
                parts.append(f"<p>{html.escape(block.text)}</p>")
            elif isinstance(block, Note):
                parts.append(
                    f'<p class="note"><strong>Note.</strong> {html.escape(block.text)}</p>'
                )
            elif isinstance(block, Table):
                table = html.table_html(
                    block.header,
                    ([(c.text, c.value) for c in row] for row in block.rows),
                    numeric=block.numeric,
                    right=block.alignment,
                    caption=block.caption,
                )
                parts.append(f'<div class="table-wrap">{table}</div>')
            else:
                parts.append(
                    html.chart_container(
                        block.name,
                        block.spec,
                        title=block.title,
                        caption=block.caption,
                        datasets=datasets,
                    )
                )
        footer = (
            "Made by hpdream. Charts are interactive: hover for details, click a legend entry "
            "to highlight an agent; the ⋯ menu of a chart saves it as SVG or PNG. Click a "
            "table's header to sort it."
        )
        return html.page(
            self.title, "\n".join(parts), footer=html.escape(footer), datasets=datasets
        )


_MD_SPECIAL: Final = re.compile(r"[\\`*\[\]<>|#]|_+")


def _md_text(text: str) -> str:
    """Markdown-escaped text, on one line. Underscores inside words (agent names like
    ``01_karpathy__autoresearch``) cannot start emphasis and stay as they are."""
    one_line = " ".join(text.splitlines())

    def escape(m: re.Match[str]) -> str:
        start, end = m.span()
        inside = (
            m.group()[0] == "_"
            and start > 0
            and end < len(one_line)
            and one_line[start - 1].isalnum()
            and one_line[end].isalnum()
        )
        return m.group() if inside else "".join("\\" + c for c in m.group())

    return _MD_SPECIAL.sub(escape, one_line)


def _md_figure(figure: Figure, figure_dir: str, formats: Sequence[str]) -> list[str]:
    link = f"{figure_dir}/{figure.name}"
    title = _md_text(figure.title)
    shown = next((f for f in ("png", "svg") if f in formats), None)
    out = [f"![{title}]({link}.{shown})", ""] if shown else []
    files = ", ".join(f"[{f.upper()}]({link}.{f})" for f in formats)
    where = f" ({files})" if files else " (interactive in report.html)"
    out += [f"*{title}.* {_md_text(figure.caption)}{where}", ""]
    return out


def _md_table(table: Table) -> list[str]:
    def row(cells: Iterable[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [
        row(_md_text(h) for h in table.header),
        row("---:" if n else ":---" for n in table.alignment),
    ]
    lines += [row(_md_text(c.text) for c in r) for r in table.rows]
    lines.append("")
    if table.caption:
        lines += [f"_{_md_text(table.caption)}_", ""]
    return lines


# --- formatting numbers --------------------------------------------------------


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{100 * value:.{digits}f} %"


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _sort(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)


# --- building the report ---------------------------------------------------------


class _Steps:
    """Counts the steps of a report and tells ``progress`` about each."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress

    def __call__(self, what: str) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, what)
        self.done += 1

    def finish(self, what: str = "done") -> None:
        if self.progress is not None:
            self.progress(self.total, self.total, what)


def build_report(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    title: str | None = None,
    sources: Sequence[str] = (),
    skipped: Sequence[LineReport] = (),
    window: int = 10,
    categories: int = DEFAULT_CATEGORIES,
    context_pair: tuple[str, str] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Compute the metrics of ``frame`` and lay out the report (no files written).

    ``sources`` names the logs the frame came from and ``skipped`` the lines
    of them that did not become experiments (both shown in the report);
    ``window`` is the window of the rolling success rate and entropy;
    ``categories`` the size of the taxonomy (baseline excluded);
    ``context_pair`` the (smaller, larger) context agents of hypothesis H3.
    """
    steps = _Steps(_build_steps(), progress)
    report = _build(
        frame,
        title=title,
        sources=sources,
        skipped=skipped,
        window=window,
        categories=categories,
        context_pair=context_pair,
        steps=steps,
    )
    steps.finish("report laid out")
    return report


def _build_steps() -> int:
    """Steps of :func:`build_report`: metrics, results, hypotheses, profiles, one per chart."""
    return 4 + len(_FIGURES)


def _build(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    title: str | None,
    sources: Sequence[str],
    skipped: Sequence[LineReport],
    window: int,
    categories: int,
    context_pair: tuple[str, str] | None,
    steps: _Steps,
) -> Report:
    steps("computing the metrics")
    p = charts.prepare(frame, window=window, categories=categories)
    if p.experiments.height == 0:
        raise HpdreamError("no experiments to report on: the logs hold no rows")
    summary = p.summary
    differ = charts.baselines_differ(p)
    studies = sorted(p.experiments["study"].unique().to_list())
    report = Report(
        title=title or f"Findings: {', '.join(studies)}",
        subtitle=_subtitle(p, sources),
    )
    blocks = report.blocks
    blocks += _overview(p, differ, sources, skipped)
    steps("results table")
    blocks += _results(p, summary, differ)
    if p.replicated:
        blocks += _replicates(p, summary)
    steps("hypotheses")
    blocks += _hypotheses(p, context_pair)
    steps("agent profiles")
    blocks += _profiles(p, summary)
    blocks.append(Heading("Figures"))
    for name, (heading, caption, make) in _FIGURES.items():
        steps(f"chart: {name}")
        blocks.append(Figure(name, heading, caption(p, differ), make(p, differ)))
    return report


def _subtitle(p: charts.Prepared, sources: Sequence[str]) -> str:
    n = p.experiments.height
    t = len(p.trajectories)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    logs = f" from {len(sources)} log{'s' if len(sources) != 1 else ''}" if sources else ""
    return (
        f"{n} experiments in {t} run{'s' if t != 1 else ''} of {len(p.agents)} "
        f"agent{'s' if len(p.agents) != 1 else ''}{logs}. Generated by hpdream on {stamp}."
    )


def _overview(
    p: charts.Prepared, differ: bool, sources: Sequence[str], skipped: Sequence[LineReport]
) -> list[Block]:
    blocks: list[Block] = [Heading("Overview")]
    e = p.experiments
    after = e.filter(pl.col("position") > 0)
    kept = after.filter(pl.col("status") == "keep").height
    crashed = after.filter(pl.col("status") == "crash").height
    runs = len(p.trajectories)
    text = (
        f"{runs} run{'s' if runs != 1 else ''} of {len(p.agents)} agent{'s' if len(p.agents) != 1 else ''} "
        f"ran {after.height} experiments after their baselines: {kept} kept ({_pct(kept / after.height if after.height else None)}), "
        f"{crashed} crashed. Lower val_bpb (validation bits per byte) is better; a run's gain is "
        "(baseline − best) / baseline."
    )
    blocks.append(Paragraph(text))
    base = charts.baseline_table(p)
    if differ:
        values = base["baseline_val_bpb"].drop_nulls()
        blocks.append(
            Note(
                f"The runs' baselines differ (val_bpb {float(values.min()):.4f} to "  # type: ignore[arg-type]
                f"{float(values.max()):.4f}). Runs on other hardware, data, budgets or models "  # type: ignore[arg-type]
                "start from other baselines, and their absolute val_bpb does not compare: runs are "
                "ranked by their gain over their own baseline, with the absolute values beside it."
            )
        )
    missing = base.filter(pl.col("baseline_val_bpb").is_null())["trajectory"].to_list()
    if missing:
        blocks.append(
            Note(
                f"No baseline val_bpb for {', '.join(missing)} (the baseline crashed): no gain "
                "can be computed there, and such runs rank last when runs are ranked by gain."
            )
        )
    if sources:
        shown = ", ".join(sources[:20]) + (
            f" and {len(sources) - 20} more" if len(sources) > 20 else ""
        )
        blocks.append(Paragraph(f"Logs: {shown}."))
    if skipped:
        listed = "; ".join(
            f"{Path(r.path).name} line {r.line}: {r.reason}" for r in skipped[:_SKIPPED_SHOWN]
        )
        more = (
            f"; and {len(skipped) - _SKIPPED_SHOWN} more" if len(skipped) > _SKIPPED_SHOWN else ""
        )
        blocks.append(
            Paragraph(f"{len(skipped)} line(s) of the logs are not experiments: {listed}{more}.")
        )
    return blocks


_SKIPPED_SHOWN: Final = 10


def _ranked(summary: pl.DataFrame, differ: bool) -> pl.DataFrame:
    if differ:
        return summary.sort(
            pl.col("relative_gain").is_null(), pl.col("relative_gain"), descending=[False, True]
        )
    return summary.sort(pl.col("best_val_bpb").is_null(), pl.col("best_val_bpb"))


def _results(p: charts.Prepared, summary: pl.DataFrame, differ: bool) -> list[Block]:
    ranked = _ranked(summary, differ)
    header = (
        "rank",
        "agent",
        "best val_bpb",
        "baseline",
        "gain",
        "experiments",
        "kept",
        "success rate",
        "crash rate",
        "categories explored",
    )
    rows = []
    for rank, r in enumerate(ranked.iter_rows(named=True), start=1):
        rows.append(
            (
                Cell(str(rank), rank),
                Cell(r["trajectory"], r["trajectory"]),
                Cell(_num(r["best_val_bpb"]), _sort(r["best_val_bpb"])),
                Cell(_num(r["baseline_val_bpb"]), _sort(r["baseline_val_bpb"])),
                Cell(_pct(r["relative_gain"], 2), _sort(r["relative_gain"])),
                Cell(str(r["experiments"]), r["experiments"]),
                Cell(str(r["kept"]), r["kept"]),
                Cell(_pct(r["success_rate"]), _sort(r["success_rate"])),
                Cell(_pct(r["crash_rate"]), _sort(r["crash_rate"])),
                Cell(str(r["categories_explored"]), r["categories_explored"]),
            )
        )
    order = "gain over the run's own baseline" if differ else "best val_bpb"
    caption = (
        f"Ranked by {order}. Experiments exclude the baseline; success rate = kept / experiments; "
        f"categories explored counts the kinds of change tried (of {p.taxonomy_size} in the "
        "taxonomy)."
    )
    numeric = (True, False, True, True, True, True, True, True, True, True)
    return [Heading("Results"), Table(header, tuple(rows), numeric, caption)]


#: Metrics aggregated over an agent's runs: (column, heading, format).
_REPLICATED: Final = (
    ("best_val_bpb", "best val_bpb", "num"),
    ("relative_gain", "gain", "pct"),
    ("success_rate", "success rate", "pct"),
    ("categories_explored", "categories explored", "num1"),
    ("category_entropy_bits", "entropy (bits)", "num2"),
    ("max_dry_streak", "longest dry streak", "num1"),
)


def _replicates(p: charts.Prepared, summary: pl.DataFrame) -> list[Block]:
    metrics = [m for m, _, _ in _REPLICATED]
    table = aggregate_runs(summary, metrics, by=("study", "agent"))
    labels = summary.select("study", "agent", "agent_label").unique()
    table = table.join(labels, on=["study", "agent"], how="left")
    rows = []
    for (label,), group in table.group_by(["agent_label"], maintain_order=True):
        by_metric = {r["metric"]: r for r in group.iter_rows(named=True)}
        runs = int(group["runs"].max())  # type: ignore[arg-type]
        cells = [Cell(str(label), str(label)), Cell(str(runs), runs)]
        for metric, _, kind in _REPLICATED:
            r = by_metric[metric]
            cells.append(Cell(_mean_se(r["mean"], r["std_error"], kind), _sort(r["mean"])))
        rows.append(tuple(cells))
    rows.sort(key=lambda row: row[0].text)
    header = ("agent", "runs", *(h for _, h, _ in _REPLICATED))
    caption = (
        "Mean ± standard error over each agent's runs (the 95 % bootstrap intervals are in "
        "aggregate_runs())."
    )
    numeric = (False, *([True] * (1 + len(_REPLICATED))))
    return [Heading("Replicates"), Table(header, tuple(rows), numeric, caption)]


def _mean_se(mean: float | None, se: float | None, kind: str) -> str:
    if mean is None:
        return "–"
    if kind == "pct":
        return _pct(mean) if se is None else f"{100 * mean:.1f} ± {100 * se:.1f} %"
    digits = {"num": 4, "num1": 1, "num2": 2}[kind]
    text = _num(mean, digits)
    return text if se is None else f"{text} ± {se:.{digits}f}"


def _hypotheses(p: charts.Prepared, context_pair: tuple[str, str] | None) -> list[Block]:
    differ = charts.baselines_differ(p)
    outcome: Outcome = "relative_gain" if differ else "best_val_bpb"
    table = hypotheses(p.frame, context_pair=context_pair, outcome=outcome)
    blocks: list[Block] = [Heading("Hypotheses"), Paragraph(_HYPOTHESES_INTRO)]
    several = table["study"].n_unique() > 1
    header: tuple[str, ...] = ("study",) if several else ()
    header += ("", "claim", "statistic", "p", "verdict", "test and detail")
    rows = []
    for r in table.iter_rows(named=True):
        verdict = r["verdict"] + (" (exploratory)" if r["exploratory"] else "")
        statistic = (
            f"{r['statistic']} = {_num(r['value'], 3)}"
            if r["value"] is not None
            else r["statistic"]
        )
        detail = f"{r['test']}; n = {r['n']}" + (f"; {r['detail']}" if r["detail"] else "")
        cells: tuple[Cell, ...] = (Cell(r["study"], r["study"]),) if several else ()
        cells += (
            Cell(r["hypothesis"], r["hypothesis"]),
            Cell(r["claim"], r["claim"]),
            Cell(statistic, _sort(r["value"])),
            Cell(_p(r["p_value"]), _sort(r["p_value"])),
            Cell(verdict, verdict),
            Cell(detail, detail),
        )
        rows.append(cells)
    numeric = ((False,) if several else ()) + (False, False, True, True, False, False)
    right = ((False,) if several else ()) + (False, False, False, True, False, False)
    blocks.append(Table(header, tuple(rows), numeric, right=right))
    if differ:
        blocks.append(
            Note(
                "The runs' baselines differ, so H1, H2 and H6 measure performance by the gain over "
                "each run's own baseline ((baseline − best) / baseline; a positive r supports H1 "
                "and H2), not by the absolute best val_bpb, which does not compare across them."
            )
        )
    if context_pair is None:
        blocks.append(
            Paragraph(
                "H3 compares a smaller-context agent with a larger-context one: name the two with "
                "--context-pair SMALLER,LARGER to test it."
            )
        )
    return blocks


_HYPOTHESES_INTRO = (
    "The seed study's hypotheses, tested on these runs (each agent's metrics averaged over its "
    "runs). With few agents every test has little power: verdicts marked exploratory describe "
    "these runs rather than prove a rule."
)


def _profiles(p: charts.Prepared, summary: pl.DataFrame) -> list[Block]:
    blocks: list[Block] = [Heading("Agent profiles")]
    e = p.experiments
    shares = (
        e.filter(pl.col("position") > 0)
        .group_by(*_KEYS, "category")
        .agg(pl.len().alias("n"))
        .sort("n", descending=True)
    )
    reached = (
        e.filter(pl.col("improved") & (pl.col("position") > 0))
        .group_by(_KEYS)
        .agg(pl.col("index").max().alias("reached"))
    )
    rows = summary.join(reached, on=_KEYS, how="left", nulls_equal=True)
    for r in rows.iter_rows(named=True):
        mine = shares.filter(
            (pl.col("study") == r["study"])
            & (pl.col("agent") == r["agent"])
            & (pl.col("run") == r["run"])
        )
        blocks.append(Heading(r["trajectory"], 3))
        blocks.append(Paragraph(_profile_text(r, mine)))
    return blocks


def _profile_text(r: dict[str, Any], shares: pl.DataFrame) -> str:
    n = r["experiments"] or 0
    parts = [
        f"{n} experiments after the baseline; kept {r['kept']} ({_pct(r['success_rate'])}), "
        f"crashed {r['crashes']} ({_pct(r['crash_rate'])})."
    ]
    if r["best_val_bpb"] is not None:
        best = f"Best val_bpb {_num(r['best_val_bpb'])}"
        if r["baseline_val_bpb"] is not None:
            best += f" from a baseline of {_num(r['baseline_val_bpb'])} (gain {_pct(r['relative_gain'], 2)})"
        if r.get("reached") is not None:
            best += f", last improved at experiment {r['reached']}"
        parts.append(best + ".")
    total = int(shares["n"].sum()) if shares.height else 0
    top = [
        f"{row['category']} ({_pct(row['n'] / total, 0)})"
        for row in shares.head(2).iter_rows(named=True)
        if total
    ]
    breadth = (
        f"Breadth: {r['categories_explored']} categories explored, entropy "
        f"{_num(r['category_entropy_bits'], 2)} bits (normalised {_num(r['category_entropy_normalized'], 2)})"
    )
    if top:
        breadth += f"; mostly {' and '.join(top)}"
    parts.append(breadth + ".")
    if r["pivot_rate"] is not None:
        chance = r["chance_pivot_rate"]
        compare = ""
        if chance is not None:
            if r["pivot_rate"] > chance + 0.05:
                compare = ": pivots more than chance"
            elif r["pivot_rate"] < chance - 0.05:
                compare = ": more persistent than chance"
            else:
                compare = ": about as often as chance"
        parts.append(
            f"After a failure it changed category {_pct(r['pivot_rate'], 0)} of the time "
            f"(chance {_pct(chance, 0)}){compare}."
        )
    parts.append(f"Repeats: {r['repeats']} ({_pct(r['repeat_rate'])}).")
    if r["max_dry_streak"] is not None:
        opened = (
            " (the log ends in it)"
            if r["open_dry_streak"] and r["open_dry_streak"] == r["max_dry_streak"]
            else ""
        )
        parts.append(
            f"Longest dry streak: {_count(r['max_dry_streak'], 'experiment')}{opened}; mean "
            f"{_num(r['mean_dry_streak'], 1)} over {_count(r['dry_streaks'], 'streak')}."
        )
    if r["micro_loops"]:
        parts.append(
            f"Micro-optimisation: {r['micro_loops']} loop{'s' if r['micro_loops'] != 1 else ''} "
            f"({r['micro_loop_steps']} experiments nudging one parameter by under 1 %)."
        )
    return " ".join(parts)


# --- the figures ---------------------------------------------------------------

_Make = Callable[[charts.Prepared, bool], alt.TopLevelMixin]
_Caption = Callable[[charts.Prepared, bool], str]


def _measure(differ: bool) -> charts.Measure:
    return "gain" if differ else "val_bpb"


def _caption(text: str) -> _Caption:
    return lambda p, differ: text


_FIGURES: Final[dict[str, tuple[str, _Caption, _Make]]] = {
    "dashboard": (
        "Dashboard",
        _caption(
            "Four views of the same runs: how fast each improved, how often its changes were kept "
            "(rolling), which kinds of change it tried and in which order."
        ),
        lambda p, differ: charts.dashboard(p, measure=_measure(differ)),
    ),
    "convergence": (
        "Convergence",
        lambda p, differ: (
            "The best result so far after each experiment, as the gain over each run's own "
            "baseline (the baselines differ). A long flat stretch is a plateau."
            if differ
            else "The best val_bpb so far after each experiment (lower is better). A long flat "
            "stretch is a plateau."
        ),
        lambda p, differ: charts.convergence_chart(p, measure=_measure(differ)),
    ),
    "experiments": (
        "All experiments",
        _caption(
            "Every experiment's val_bpb in its run's own scale, by status, with the best so far. "
            "Kept experiments above the line were kept without beating the best."
        ),
        lambda p, differ: charts.experiments_chart(p),
    ),
    "categories": (
        "Category mix",
        _caption("The share of each kind of change in each run (the baseline excluded)."),
        lambda p, differ: charts.category_distribution_chart(p),
    ),
    "timeline": (
        "Category timeline",
        _caption(
            "The kind of each change in order; solid cells were kept. Long single-colour stretches "
            "are phases of digging into one kind of change."
        ),
        lambda p, differ: charts.category_timeline_chart(p),
    ),
    "personal-bests": (
        "Personal bests",
        _caption(
            "When each run beat its best so far, by the kind of change that did it; bigger dots "
            "gave more of the run's total improvement."
        ),
        lambda p, differ: charts.improvements_chart(p),
    ),
    "success-rate": (
        "Rolling success rate",
        lambda p, differ: f"The share of the last {p.window} experiments that were kept.",
        lambda p, differ: charts.success_rate_chart(p),
    ),
    "dry-streaks": (
        "Dry streaks",
        _caption(
            "Every stretch of experiments that did not beat the best, by length; a ring is the "
            "stretch a log ends in."
        ),
        lambda p, differ: charts.dry_streaks_chart(p),
    ),
    "after-failure": (
        "What comes after a failure",
        _caption(
            "After a discarded or crashed experiment, which kind of change came next: the "
            "diagonal is persistence, the rest are pivots."
        ),
        lambda p, differ: charts.transition_heatmap(p, after="failure"),
    ),
    "entropy": (
        "Rolling category entropy",
        lambda p, differ: (
            f"How varied the last {p.window} changes were, in bits: high while "
            "exploring, low while digging into one kind of change."
        ),
        lambda p, differ: charts.rolling_entropy_chart(p, window=p.window),
    ),
    "breadth": (
        "Breadth and outcome",
        lambda p, differ: (
            "Categories explored against "
            + ("the gain over the baseline" if differ else "the best val_bpb")
            + ", one dot per run (the seed study's central relation)."
        ),
        lambda p, differ: charts.breadth_chart(p, measure=_measure(differ)),
    ),
}


# --- writing ----------------------------------------------------------------------


def save_chart(
    chart: alt.TopLevelMixin | dict[str, Any],
    path: str | os.PathLike[str],
    *formats: str,
    scale: float = PNG_SCALE,
) -> list[Path]:
    """Write a chart (or a Vega-Lite spec) as figures; returns the files written.

    ``path``'s suffix picks the format (``.png``, ``.svg``, ``.pdf``), or name
    several ``formats`` to write ``path`` with each of their suffixes. The
    chart is laid out once, as SVG, and the PNG (at ``scale``) and PDF are made
    from that SVG, so all formats show the same picture. Charts are styled
    with :func:`hpdream_analysis.themed` unless already configured.
    """
    import vl_convert

    target = Path(path)
    kinds = list(formats) or [target.suffix.lower().lstrip(".")]
    unknown = [k for k in kinds if k not in FORMATS]
    if unknown:
        raise HpdreamError(f"{target}: unknown figure format(s) {unknown} (png, svg or pdf)")
    spec = chart if isinstance(chart, dict) else _spec(chart)
    svg = vl_convert.vegalite_to_svg(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        out = target.with_suffix(f".{kind}")
        if kind == "svg":
            out.write_text(svg, encoding="utf-8")
        elif kind == "png":
            out.write_bytes(vl_convert.svg_to_png(svg, scale=scale))
        else:
            out.write_bytes(vl_convert.svg_to_pdf(svg))
        written.append(out)
    return written


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    configured = getattr(chart, "config", alt.Undefined) is not alt.Undefined
    return (chart if configured else charts.themed(chart)).to_dict()  # type: ignore[no-any-return]


def write_report(
    logs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | pl.LazyFrame | pl.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    title: str | None = None,
    formats: Sequence[str] = FORMATS,
    window: int = 10,
    taxonomy: Taxonomy | None = None,
    context_pair: tuple[str, str] | None = None,
) -> Path:
    """Build the report of ``logs`` and write it to ``out_dir``; returns the path of report.html.

    ``logs``: log files or folders (a study's experiments CSV, autoresearch
    ``results.tsv`` files, or folders searched for them), or an already loaded
    frame. Rows of autoresearch logs are classified with ``taxonomy`` (default:
    hpdream's); canonical logs keep their categories. Writes ``FINDINGS.md``,
    ``report.html`` and ``figures/<name>.<format>`` for each of ``formats``
    (png, svg, pdf). ``progress(done, total, what)`` is called before each
    step, and once more with ``done == total`` at the end.
    """
    started = time.perf_counter()
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise HpdreamError(f"unknown figure format(s) {unknown}: choose from {list(FORMATS)}")
    steps = _Steps(1 + _build_steps() + len(_FIGURES) + 2, progress)
    steps("loading the logs")
    sources: list[str] = []
    skipped: tuple[LineReport, ...] = ()
    if isinstance(logs, pl.LazyFrame | pl.DataFrame):
        frame = logs
    else:
        paths = [logs] if isinstance(logs, str | os.PathLike) else list(logs)
        frame, sources, skipped = _load(paths, taxonomy)
    report = _build(
        frame,
        title=title,
        sources=sources,
        skipped=skipped,
        window=window,
        categories=_taxonomy_size(taxonomy),
        context_pair=context_pair,
        steps=steps,
    )
    out = Path(out_dir)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for figure in report.figures:
        steps(f"figures/{figure.name}.{{{','.join(formats)}}}")
        if formats:
            save_chart(figure.spec, figures / figure.name, *formats)
    steps("FINDINGS.md")
    (out / "FINDINGS.md").write_text(report.to_markdown(formats=formats), encoding="utf-8")
    steps("report.html")
    page = out / "report.html"
    page.write_text(report.to_html(), encoding="utf-8")
    steps.finish(f"wrote {out} in {time.perf_counter() - started:.1f} s")
    return page


def _taxonomy_size(taxonomy: Taxonomy | None) -> int:
    if taxonomy is None:
        return DEFAULT_CATEGORIES
    return len([c.key for c in taxonomy.categories if c.key != taxonomy.baseline])


def _load(
    paths: Sequence[str | os.PathLike[str]], taxonomy: Taxonomy | None
) -> tuple[pl.LazyFrame, list[str], tuple[LineReport, ...]]:
    """The experiments of ``paths``, the names of their files, and the lines not read."""
    from hpdream_analysis._load import load_with_reports
    from hpdream_core import Classifier, find_logs

    files = find_logs(paths)
    if not files:
        raise HpdreamError(
            f"no logs found in {', '.join(str(p) for p in paths)} (a log is an experiments CSV or "
            "an autoresearch results.tsv)"
        )
    loaded = load_with_reports(*files, labeler=Classifier(taxonomy).label_row)
    return loaded.frame, [f.name for f in files], loaded.reports


# --- the command line --------------------------------------------------------------


def progress_printer(stream: Any = None, *, every: float = 0.0) -> Progress:
    """A :data:`Progress` callback that prints ``[done/total] what`` to ``stream``
    (default: standard error). On a terminal it rewrites one line; elsewhere it
    prints a line per step (at most one per ``every`` seconds, and always the last)."""
    out = stream if stream is not None else sys.stderr
    tty = bool(getattr(out, "isatty", lambda: False)())
    last = [-math.inf]
    width = [0]

    def show(done: int, total: int, what: str) -> None:
        now = time.perf_counter()
        final = done >= total
        if not final and now - last[0] < every:
            return
        last[0] = now
        digits = len(str(total))
        line = f"[{done:>{digits}}/{total}] {what}"
        if tty:
            out.write("\r" + line.ljust(width[0]) + ("\n" if final else ""))
            width[0] = len(line)
        else:
            out.write(line + "\n")
        out.flush()

    return show


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,svg,pdf"`` (or ``"none"``) as a tuple of figure formats."""
    if text.strip().lower() in ("", "none"):
        return ()
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise HpdreamError(
            f"--formats: unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)} or none"
        )
    return formats


def add_report_arguments(parser: Any) -> None:
    """The arguments of the report command (``python -m hpdream_analysis report``)."""
    parser.add_argument(
        "logs",
        nargs="+",
        metavar="LOG",
        help="experiments CSV files, autoresearch results.tsv files, or folders of them",
    )
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="DIR", help="report folder"
    )
    parser.add_argument("--title", help="the report's title (default: from the study names)")
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help="figure formats, comma-separated (png, svg, pdf) or none (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=10,
        help="experiments per window of the rolling success rate and entropy (default: %(default)s)",
    )
    parser.add_argument(
        "--taxonomy",
        type=Path,
        metavar="TOML",
        help="classify autoresearch rows with this taxonomy",
    )
    parser.add_argument(
        "--context-pair",
        metavar="SMALLER,LARGER",
        help="the agents with the smaller and the larger context window, for hypothesis H3",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print no progress")


def parse_context_pair(text: str | None) -> tuple[str, str] | None:
    """``"small-agent,large-agent"`` as a pair (None stays None)."""
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise HpdreamError(f"--context-pair: give two agents as SMALLER,LARGER, got {text!r}")
    return parts[0], parts[1]


def run_report(args: Any) -> int:
    """Write the report the parsed arguments ask for; prints where it went."""
    if args.window < 1:
        raise HpdreamError(f"--window must be at least 1, got {args.window}")
    from hpdream_core import load_taxonomy

    page = write_report(
        args.logs,
        args.output,
        progress=None if args.quiet else progress_printer(),
        title=args.title,
        formats=parse_formats(args.formats),
        window=args.window,
        taxonomy=load_taxonomy(args.taxonomy) if args.taxonomy else None,
        context_pair=parse_context_pair(args.context_pair),
    )
    print(f"report: {page}")
    print(f"findings: {page.parent / 'FINDINGS.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hpdream_analysis report LOGS... -o DIR``: the report without the runner (no torch)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m hpdream_analysis",
        description="Analyse research-agent experiment logs (no torch needed).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report = sub.add_parser(
        "report",
        help="write FINDINGS.md, report.html and figures for logs",
        description=REPORT_DESCRIPTION,
    )
    add_report_arguments(report)
    args = parser.parse_args(argv)
    try:
        return run_report(args)
    except HpdreamError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


REPORT_DESCRIPTION: Final = (
    "Write a report of experiment logs to DIR: FINDINGS.md (results table, hypotheses H1-H7, "
    "a profile of each agent, figures), report.html (one self-contained page, interactive "
    "charts, readable offline) and figures/ (every chart as PNG, SVG and PDF)."
)
