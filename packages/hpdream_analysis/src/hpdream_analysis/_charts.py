"""Altair charts of research trajectories.

Every chart is a function that takes the loaded experiments (a polars
``LazyFrame`` or ``DataFrame`` with the canonical columns, as
:func:`hpdream_analysis.load` gives) and options, and returns an altair chart
that a notebook can show, compose (``|``, ``&``, ``+``) or save. The numbers
behind the charts come from the metric functions of this package
(:func:`~hpdream_analysis.annotate`, :func:`~hpdream_analysis.dry_streaks`,
:func:`~hpdream_analysis.transition_matrix`,
:func:`~hpdream_analysis.rolling_entropy`, :func:`~hpdream_analysis.summarize`);
this module only draws them.

Colours are fixed per category (:data:`CATEGORY_COLORS`: the default
taxonomy's categories always get the same colour, in every chart and every
report), per status (:data:`STATUS_COLORS`) and, within one frame, per agent.
Tooltips show each experiment's description, status and val_bpb.

Charts come back unconfigured (no ``.configure_*``), so that they compose;
:func:`themed` applies hpdream's publication style to a finished chart.
To draw several charts of one frame, :func:`prepare` it once and pass the
:class:`Prepared` result instead of the frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import altair as alt
import polars as pl

from hpdream_analysis._exceptions import ColumnError
from hpdream_analysis._schema import TRAJECTORY
from hpdream_analysis._summary import DEFAULT_CATEGORIES, summarize
from hpdream_analysis._trajectory import annotate, dry_streaks, rolling_entropy, transition_matrix
from hpdream_core import BASELINE, UNKNOWN

#: The fixed colour of each category of the default taxonomy, and of ``baseline``
#: and ``unknown``. Other categories get :data:`EXTRA_COLORS`, in sorted order.
CATEGORY_COLORS: Final[Mapping[str, str]] = {
    "hyperparameters": "#4C78A8",
    "architecture": "#F58518",
    "optimizer": "#54A24B",
    "schedule": "#B279A2",
    "tokenizer": "#E6B325",
    "other": "#9D755D",
    BASELINE: "#BAB0AC",
    UNKNOWN: "#5F5F5F",
}
#: Colours of categories outside :data:`CATEGORY_COLORS` (a custom taxonomy's).
EXTRA_COLORS: Final[tuple[str, ...]] = (
    "#E45756",
    "#72B7B2",
    "#FF9DA6",
    "#3A7D7A",
    "#D67195",
    "#A0CBE8",
    "#8CD17D",
    "#FFBE7D",
    "#86BCB6",
    "#F1CE63",
)
#: The fixed colour of each status.
STATUS_COLORS: Final[Mapping[str, str]] = {
    "keep": "#2E8B3E",
    "discard": "#A3A3A3",
    "crash": "#D62728",
}
#: Agent colours, given to a frame's agents in sorted order of their labels.
AGENT_COLORS: Final[tuple[str, ...]] = (
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
    "#AEC7E8",
    "#FFBB78",
    "#98DF8A",
    "#FF9896",
    "#C5B0D5",
    "#C49C94",
    "#F7B6D2",
    "#C7C7C7",
    "#DBDB8D",
    "#9EDAE5",
)
#: Longest description a tooltip shows; longer ones are cut and end with "…".
TOOLTIP_CHARS: Final = 280

#: hpdream's chart style (fonts, sizes), applied by :func:`themed`.
CHART_CONFIG: Final[Mapping[str, Any]] = {
    "font": "Liberation Sans, DejaVu Sans, Helvetica, Arial, sans-serif",
    "title": {"fontSize": 15, "subtitleFontSize": 12, "subtitleColor": "#555555", "offset": 10},
    "axis": {"labelFontSize": 11, "titleFontSize": 12, "gridColor": "#E6E6E6"},
    "legend": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 260},
    "header": {"labelFontSize": 12, "titleFontSize": 12},
    "view": {"stroke": "#D0D0D0"},
    "concat": {"spacing": 28},
}

Measure = Literal["val_bpb", "gain"]
Layout = Literal["auto", "overlay", "rows"]
#: With more runs than this, series charts draw one row per run (``layout="auto"``).
ROWS_ABOVE: Final = 6
Frame = pl.LazyFrame | pl.DataFrame

_KEYS: Final = list(TRAJECTORY)
_NEEDED: Final = (*TRAJECTORY, "index", "status", "val_bpb", "category", "description")


# --- colour scales ----------------------------------------------------------


def category_order(categories: Sequence[str]) -> list[str]:
    """Categories in legend order: the default taxonomy's first, others sorted,
    then ``baseline`` and ``unknown``; each once."""
    present = set(categories)
    special = (BASELINE, UNKNOWN)
    known = [c for c in CATEGORY_COLORS if c in present and c not in special]
    extra = sorted(present - set(CATEGORY_COLORS))
    return known + extra + [c for c in special if c in present]


def category_colors(categories: Sequence[str]) -> dict[str, str]:
    """The colour of each category in ``categories``, in legend order."""
    order = category_order(categories)
    extras = iter(EXTRA_COLORS * (1 + len(order) // len(EXTRA_COLORS)))
    return {c: CATEGORY_COLORS[c] if c in CATEGORY_COLORS else next(extras) for c in order}


def category_scale(categories: Sequence[str]) -> alt.Scale:
    """An altair colour scale giving each category its fixed colour."""
    colors = category_colors(categories)
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def status_scale() -> alt.Scale:
    """An altair colour scale giving each status its fixed colour."""
    return alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))


def agent_scale(agents: Sequence[str]) -> alt.Scale:
    """A colour per agent label, given in sorted order (10 colours, 20 beyond 10 agents)."""
    domain = sorted(set(agents))
    palette = AGENT_COLORS[:10] if len(domain) <= 10 else AGENT_COLORS
    return alt.Scale(domain=domain, range=[palette[i % len(palette)] for i in range(len(domain))])


def themed(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The chart with hpdream's publication style (a configured chart no longer composes)."""
    return chart.configure(**CHART_CONFIG)  # type: ignore[attr-defined,no-any-return]


# --- preparing a frame ------------------------------------------------------


class Prepared:
    """A frame made ready for drawing: its experiments with the derived columns of
    :func:`~hpdream_analysis.annotate`, display labels, and the colour scales that
    every chart of this frame shares.

    ``agent_label`` is the agent (with the study in front when the frame holds
    several studies); ``trajectory`` adds `` · run N`` when an agent has several runs.
    """

    def __init__(
        self, frame: Frame, *, window: int = 10, categories: int = DEFAULT_CATEGORIES
    ) -> None:
        lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
        schema = lazy.collect_schema()
        missing = [c for c in _NEEDED if c not in schema]
        if missing:
            raise ColumnError("charts", missing)
        # collected once: every chart and metric of this frame reads the same rows
        self.frame: pl.LazyFrame = lazy.collect().lazy()
        self.window = window
        #: size of the taxonomy (baseline excluded), for normalised entropy
        self.taxonomy_size = categories
        experiments = _with_labels(annotate(self.frame, window=window).collect())
        self.experiments: pl.DataFrame = experiments
        self.categories: list[str] = category_order(experiments["category"].unique().to_list())
        self.agents: list[str] = sorted(experiments["agent_label"].unique().to_list())
        order = experiments.select("trajectory", *_KEYS).unique().sort(_KEYS)
        self.trajectories: list[str] = order["trajectory"].to_list()
        runs = experiments.group_by("agent_label").agg(pl.col("run").n_unique().alias("runs"))
        self.replicated: bool = bool(runs.height) and int(runs["runs"].max()) > 1  # type: ignore[arg-type]
        self._summary: pl.DataFrame | None = None

    @property
    def summary(self) -> pl.DataFrame:
        """:func:`~hpdream_analysis.summarize` of the frame, with the display labels."""
        if self._summary is None:
            labels = self.experiments.select(*_KEYS, "agent_label", "trajectory").unique()
            self._summary = (
                summarize(self.frame, categories=self.taxonomy_size)
                .collect()
                .join(labels, on=_KEYS, how="left", nulls_equal=True)
                .sort(_KEYS)
            )
        return self._summary

    def category_scale(self) -> alt.Scale:
        return category_scale(self.categories)

    def agent_scale(self) -> alt.Scale:
        return agent_scale(self.agents)


def prepare(
    frame: Frame | Prepared, *, window: int = 10, categories: int = DEFAULT_CATEGORIES
) -> Prepared:
    """The frame prepared for drawing (``window``: of rolling series; ``categories``: the
    taxonomy's size, baseline excluded); a :class:`Prepared` is returned as it is."""
    if isinstance(frame, Prepared):
        return frame
    return Prepared(frame, window=window, categories=categories)


def _with_labels(df: pl.DataFrame) -> pl.DataFrame:
    several_studies = df["study"].n_unique() > 1
    agent_label = (
        pl.concat_str([pl.col("study"), pl.lit(" / "), pl.col("agent")])
        if several_studies
        else pl.col("agent")
    )
    df = df.with_columns(agent_label.alias("agent_label"))
    df = df.with_columns(pl.col("run").n_unique().over("agent_label").alias("_runs"))
    run_text = pl.concat_str(
        [pl.col("agent_label"), pl.lit(" · run "), pl.col("run").cast(pl.String)]
    )
    cut = pl.col("description").str.slice(0, TOOLTIP_CHARS - 1) + "…"
    return df.with_columns(
        pl.when(pl.col("_runs") > 1)
        .then(run_text)
        .otherwise(pl.col("agent_label"))
        .alias("trajectory"),
        pl.when(pl.col("description").str.len_chars() > TOOLTIP_CHARS)
        .then(cut)
        .otherwise(pl.col("description"))
        .alias("tooltip_description"),
    ).drop("_runs")


def _data(df: pl.DataFrame, columns: Sequence[str]) -> alt.Data:
    """Rows as inline data: only ``columns``, datetimes as ISO text, NaN/inf as null."""
    picked = df.select(list(dict.fromkeys(columns)))
    casts = []
    for name, dtype in picked.schema.items():
        if dtype.is_temporal():
            casts.append(pl.col(name).dt.to_string("%Y-%m-%dT%H:%M:%S"))
        elif dtype.is_float():
            casts.append(pl.when(pl.col(name).is_finite()).then(pl.col(name)).alias(name))
    return alt.Data(values=picked.with_columns(casts).to_dicts())


_EXPERIMENT_FIELDS: Final = (
    "trajectory",
    "agent_label",
    "index",
    "tooltip_description",
    "status",
    "val_bpb",
    "category",
)


def _tooltip(*extra: alt.Tooltip) -> list[alt.Tooltip]:
    """The experiment's identity, description, status, val_bpb and category, then ``extra``."""
    return [
        alt.Tooltip("trajectory:N", title="agent"),
        alt.Tooltip("index:Q", title="experiment"),
        alt.Tooltip("tooltip_description:N", title="description"),
        alt.Tooltip("status:N", title="status"),
        alt.Tooltip("val_bpb:Q", title="val_bpb", format=".4f"),
        alt.Tooltip("category:N", title="category"),
        *extra,
    ]


def _layer(*charts: alt.Chart, **kwargs: Any) -> alt.LayerChart:
    """``alt.layer`` typed as what it returns."""
    return alt.LayerChart(layer=list(charts), **kwargs)


def _title(text: str, subtitle: str | Sequence[str] = "") -> alt.TitleParams:
    return alt.TitleParams(text=text, subtitle=subtitle, anchor="start")


def _trajectory_axis(p: Prepared, title: str | None = None, *, labels: bool = True) -> alt.Y:
    return alt.Y(
        "trajectory:N",
        sort=p.trajectories,
        title=title,
        axis=alt.Axis(labelLimit=260, ticks=False, domain=False, labels=labels),
    )


def baseline_table(frame: Frame | Prepared) -> pl.DataFrame:
    """The baseline val_bpb of each trajectory (null where the baseline crashed)."""
    p = prepare(frame)
    return p.experiments.filter(pl.col("position") == 0).select(
        *_KEYS, "trajectory", pl.col("val_bpb").alias("baseline_val_bpb")
    )


def baselines_differ(frame: Frame | Prepared, *, tolerance: float = 0.01) -> bool:
    """Whether the trajectories' baselines differ by more than ``tolerance`` (relative
    to the smallest), so that absolute val_bpb does not compare across them (other
    hardware, data or budget) and relative gain should be read instead."""
    values = baseline_table(frame)["baseline_val_bpb"].drop_nulls()
    if values.len() < 2:
        return False
    low, high = float(values.min()), float(values.max())  # type: ignore[arg-type]
    return high - low > tolerance * low


# --- the charts -------------------------------------------------------------


def convergence_chart(
    frame: Frame | Prepared,
    *,
    measure: Measure = "val_bpb",
    width: int = 620,
    height: int = 320,
) -> alt.LayerChart:
    """The running best over experiments: one line per run, a colour per agent.

    ``measure="val_bpb"`` draws the running best val_bpb (lower is better);
    ``measure="gain"`` the gain over the run's own baseline, (b_0 - b_i) / b_0
    (higher is better), which compares runs whose baselines differ. Dots mark
    the experiments that improved the best. When an agent has several runs, a
    band spans their range at each experiment and a thick line gives their mean.
    Click a legend entry to highlight an agent.
    """
    p = prepare(frame)
    field = "running_best" if measure == "val_bpb" else "gain"
    fmt = ".4f" if measure == "val_bpb" else ".2%"
    title = (
        "best val_bpb so far (lower is better)"
        if measure == "val_bpb"
        else "gain over the run's baseline (higher is better)"
    )
    rows = p.experiments.filter(pl.col(field).is_not_null())
    x = alt.X("index:Q", title="experiment", scale=alt.Scale(nice=False))
    y = alt.Y(
        f"{field}:Q",
        title=title,
        scale=alt.Scale(zero=measure == "gain", nice=True),
        axis=alt.Axis(format=".3f" if measure == "val_bpb" else "%"),
    )
    color = alt.Color("agent_label:N", title="agent", scale=p.agent_scale())
    pick = alt.selection_point(fields=["agent_label"], bind="legend", name="convergence_agent")
    opacity = alt.when(pick).then(alt.value(0.95)).otherwise(alt.value(0.12))
    fields = [*_EXPERIMENT_FIELDS, field]
    best = alt.Tooltip(
        f"{field}:Q", title="best so far" if measure == "val_bpb" else "gain", format=fmt
    )
    # a step line only needs the points where it steps, and the end of each run
    steps = rows.filter(
        pl.col(field).ne_missing(pl.col(field).shift(1)).over("trajectory", order_by="index")
        | (pl.col("index") == pl.col("index").max().over("trajectory"))
    )
    lines = (
        alt.Chart(_data(steps, fields))
        .mark_line(interpolate="step-after", strokeWidth=1.2 if p.replicated else 1.8)
        .encode(
            x=x, y=y, color=color, detail="trajectory:N", opacity=opacity, tooltip=_tooltip(best)
        )
        .add_params(pick)
    )
    dots = (
        alt.Chart(_data(rows.filter(pl.col("improved")), fields))
        .mark_circle(size=26)
        .encode(x=x, y=y, color=color, opacity=opacity, tooltip=_tooltip(best))
    )
    layers: list[alt.Chart] = []
    subtitle = ["Step line: best so far; dots: the experiments that improved it."]
    if p.replicated:
        band = (
            rows.group_by("agent_label", "index")
            .agg(
                pl.col(field).min().alias("low"),
                pl.col(field).max().alias("high"),
                pl.col(field).mean().alias("mean"),
                pl.len().alias("runs"),
            )
            .sort("agent_label", "index")
        )
        data = _data(band, ["agent_label", "index", "low", "high", "mean", "runs"])
        layers.append(
            alt.Chart(data)
            .mark_area(interpolate="step-after", opacity=0.16)
            .encode(x=x, y=alt.Y("low:Q", title=title), y2="high:Q", color=color)
        )
        layers.append(
            alt.Chart(data)
            .mark_line(interpolate="step-after", strokeWidth=2.8)
            .encode(
                x=x,
                y=alt.Y("mean:Q", title=title),
                color=color,
                opacity=opacity,
                tooltip=[
                    alt.Tooltip("agent_label:N", title="agent"),
                    alt.Tooltip("index:Q", title="experiment"),
                    alt.Tooltip("mean:Q", title="mean over runs", format=fmt),
                    alt.Tooltip("low:Q", title="lowest run", format=fmt),
                    alt.Tooltip("high:Q", title="highest run", format=fmt),
                    alt.Tooltip("runs:Q", title="runs"),
                ],
            )
        )
        subtitle.append("Band: range over an agent's runs; thick line: their mean.")
    heading = (
        "Convergence: best val_bpb so far"
        if measure == "val_bpb"
        else "Convergence: gain over baseline"
    )
    return _layer(*layers, lines, dots).properties(
        width=width, height=height, title=_title(heading, subtitle)
    )


def experiments_chart(
    frame: Frame | Prepared, *, columns: int = 2, width: int = 400, height: int = 150
) -> alt.FacetChart:
    """Every experiment of every run, coloured by status, with the running best.

    One panel per run (each with its own scales). A measured val_bpb is a dot;
    a crash is a red cross on the top edge; a value far above the rest (above
    the larger of the baseline and the 90th percentile of the run) is drawn on
    the top edge as a triangle, so that one diverged run does not flatten the
    panel; its tooltip gives the true value.
    """
    p = prepare(frame)
    e = p.experiments.with_columns(
        pl.max_horizontal(
            pl.col("val_bpb").filter(pl.col("position") == 0).first(),
            pl.col("val_bpb").quantile(0.9, interpolation="linear"),
        )
        .over(_KEYS)
        .alias("_top")
    )
    low = pl.col("val_bpb").min().over(_KEYS)
    e = e.with_columns(
        (pl.col("_top") + 0.06 * (pl.col("_top") - low).clip(lower_bound=1e-9)).alias("top")
    )
    e = e.with_columns(
        pl.when(pl.col("val_bpb").is_null())
        .then(pl.col("top"))
        .otherwise(pl.min_horizontal("val_bpb", "top"))
        .alias("shown"),
        pl.when(pl.col("status") == "crash")
        .then(pl.lit("crash (no val_bpb)"))
        .when(pl.col("val_bpb") > pl.col("top"))
        .then(pl.lit("above the panel"))
        .otherwise(pl.lit("measured"))
        .alias("marker"),
    )
    data = _data(e, [*_EXPERIMENT_FIELDS, "shown", "marker", "running_best"])
    x = alt.X("index:Q", title="experiment", scale=alt.Scale(nice=False))
    y_title = "val_bpb"
    dots = (
        alt.Chart()
        .mark_point(filled=True, size=30, opacity=0.9)
        .encode(
            x=x,
            y=alt.Y("shown:Q", title=y_title, scale=alt.Scale(zero=False)),
            color=alt.Color("status:N", title="status", scale=status_scale()),
            shape=alt.Shape(
                "marker:N",
                title="marker",
                scale=alt.Scale(
                    domain=["measured", "above the panel", "crash (no val_bpb)"],
                    range=["circle", "triangle-up", "cross"],
                ),
            ),
            tooltip=_tooltip(alt.Tooltip("running_best:Q", title="best so far", format=".4f")),
        )
    )
    best = (
        alt.Chart()
        .mark_line(interpolate="step-after", color="#222222", strokeWidth=1.3)
        .encode(x=x, y=alt.Y("running_best:Q", title=y_title))
    )
    return (
        _layer(best, dots, data=data)
        .properties(width=width, height=height)
        .facet(
            facet=alt.Facet(
                "trajectory:N",
                sort=p.trajectories,
                title=None,
                header=alt.Header(labelAnchor="start", labelFontWeight="bold", labelLimit=width),
            ),
            columns=columns,
        )
        .resolve_scale(x="independent", y="independent")
        .properties(
            title=_title(
                "All experiments",
                "Dots: val_bpb of each experiment, by status. Line: best so far. "
                "Crosses: crashes; triangles: values above the panel.",
            )
        )
    )


def category_distribution_chart(
    frame: Frame | Prepared,
    *,
    normalize: bool = True,
    width: int = 560,
    row_height: int = 22,
    legend: bool = True,
) -> alt.Chart:
    """Each agent's experiments by category (baseline excluded): shares (``normalize``)
    or counts, one stacked bar per run."""
    p = prepare(frame)
    counts = (
        p.experiments.filter(pl.col("position") > 0)
        .group_by("trajectory", "category")
        .agg(pl.len().alias("experiments"))
        .with_columns(
            (pl.col("experiments") / pl.col("experiments").sum().over("trajectory")).alias("share")
        )
    )
    order = {c: i for i, c in enumerate(p.categories)}
    counts = counts.with_columns(
        pl.col("category").replace_strict(order, default=len(order)).alias("category_order")
    )
    field = "share" if normalize else "experiments"
    return (
        alt.Chart(
            _data(counts, ["trajectory", "category", "experiments", "share", "category_order"])
        )
        .mark_bar()
        .encode(
            x=alt.X(
                f"{field}:Q",
                title="share of experiments" if normalize else "experiments",
                axis=alt.Axis(format="%" if normalize else "d"),
                scale=alt.Scale(domain=[0, 1]) if normalize else alt.Undefined,
            ),
            y=_trajectory_axis(p),
            color=alt.Color(
                "category:N",
                title="category",
                scale=p.category_scale(),
                legend=alt.Legend() if legend else None,
            ),
            order=alt.Order("category_order:Q"),
            tooltip=[
                alt.Tooltip("trajectory:N", title="agent"),
                alt.Tooltip("category:N", title="category"),
                alt.Tooltip("experiments:Q", title="experiments"),
                alt.Tooltip("share:Q", title="share", format=".1%"),
            ],
        )
        .properties(
            width=width,
            height=alt.Step(row_height),
            title=_title(
                "Category mix", "What kind of change each agent tried (baseline excluded)."
            ),
        )
    )


def category_timeline_chart(
    frame: Frame | Prepared,
    *,
    width: int = 620,
    row_height: int = 20,
    outcome_legend: bool = True,
    labels: bool = True,
) -> alt.Chart:
    """The category of each experiment along its run: one row per run, one cell per
    experiment; kept experiments are solid, discarded and crashed ones faded.
    ``labels=False`` leaves out the run labels (when a chart beside it has them)."""
    p = prepare(frame)
    e = p.experiments.filter(pl.col("position") > 0).with_columns(
        (pl.col("index") + 1).alias("index_end"),
        pl.col("status")
        .replace_strict({"keep": "kept"}, default="discarded or crashed")
        .alias("kept"),
    )
    data = _data(e, [*_EXPERIMENT_FIELDS, "index_end", "kept"])
    cells = (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=0.3)
        .encode(
            x=alt.X("index:Q", title="experiment", scale=alt.Scale(nice=False)),
            x2="index_end:Q",
            y=_trajectory_axis(p, labels=labels),
            color=alt.Color("category:N", title="category", scale=p.category_scale()),
            opacity=alt.Opacity(
                "kept:O",
                title="outcome",
                sort=["kept", "discarded or crashed"],
                scale=alt.Scale(domain=["kept", "discarded or crashed"], range=[1.0, 0.38]),
                legend=alt.Legend() if outcome_legend else None,
            ),
            tooltip=_tooltip(),
        )
    )
    return cells.properties(
        width=width,
        height=alt.Step(row_height),
        title=_title(
            "Category timeline",
            "Each cell is one experiment, coloured by the kind of change; solid cells were kept.",
        ),
    )


def _series(
    p: Prepared,
    rows: pl.DataFrame,
    field: str,
    *,
    axis_title: str,
    fmt: str,
    top: float,
    tooltip: alt.Tooltip,
    layout: Layout,
    width: int,
    height: int,
    title: alt.TitleParams,
    ceiling: float | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """A per-experiment series of each run: overlaid lines, or one small area per run."""
    if layout == "auto":
        layout = "rows" if len(p.trajectories) > ROWS_ABOVE else "overlay"
    data = _data(rows, [*_EXPERIMENT_FIELDS, field])
    x = alt.X("index:Q", title="experiment", scale=alt.Scale(nice=False))
    color = alt.Color("agent_label:N", title="agent", scale=p.agent_scale())
    layers: list[alt.Chart] = []
    if ceiling is not None:
        layers.append(
            alt.Chart(alt.Data(values=[{"ceiling": ceiling}]))
            .mark_rule(strokeDash=[5, 4], color="#888888")
            .encode(y="ceiling:Q")
        )
    if layout == "overlay":
        line = (
            alt.Chart(data)
            .mark_line(strokeWidth=1.6, point=alt.OverlayMarkDef(size=12, opacity=0))
            .encode(
                x=x,
                y=alt.Y(
                    f"{field}:Q",
                    title=axis_title,
                    axis=alt.Axis(format=fmt),
                    scale=alt.Scale(domain=[0, top]),
                ),
                color=color,
                detail="trajectory:N",
                tooltip=_tooltip(tooltip),
            )
        )
        return _layer(*layers, line).properties(width=width, height=height, title=title)
    row_height = max(14, min(40, height // max(len(p.trajectories), 1)))
    area = (
        alt.Chart()
        .mark_area(interpolate="step-after", opacity=0.55, line=alt.LineConfig(strokeWidth=1.2))
        .encode(
            x=x,
            y=alt.Y(
                f"{field}:Q",
                title=None,
                axis=alt.Axis(values=[0, top], format=fmt, labelFontSize=8, grid=False),
                scale=alt.Scale(domain=[0, top]),
            ),
            # rows are labelled: no legend (and none to merge in a dashboard)
            color=alt.Color("agent_label:N", title="agent", scale=p.agent_scale(), legend=None),
            tooltip=_tooltip(tooltip),
        )
    )
    points = (
        alt.Chart()
        .mark_point(size=12, opacity=0)
        .encode(x=x, y=alt.Y(f"{field}:Q"), tooltip=_tooltip(tooltip))
    )
    return (
        _layer(area, points, data=data)
        .properties(width=width, height=row_height)
        .facet(
            row=alt.Row(
                "trajectory:N",
                sort=p.trajectories,
                title=axis_title,
                header=alt.Header(
                    labelAngle=0,
                    labelAlign="left",  # with a horizontal label on the left, "left" ends it at the plot
                    labelBaseline="middle",
                    labelOrient="left",
                    labelPadding=6,
                    labelLimit=260,
                    labelFontSize=11,
                ),
            ),
            spacing=3,
        )
        .properties(title=title)
    )


def success_rate_chart(
    frame: Frame | Prepared,
    *,
    window: int | None = None,
    layout: Layout | Literal["strip"] = "auto",
    width: int = 620,
    height: int = 260,
    labels: bool = True,
) -> alt.LayerChart | alt.FacetChart | alt.Chart:
    """The rolling success rate: the kept share of the last ``window`` experiments
    (default: the window the frame was prepared with), per run.

    ``layout="overlay"`` draws one line per run on one plot; ``"rows"`` one small
    area per run, one above the other; ``"auto"`` overlays up to
    :data:`ROWS_ABOVE` runs and uses rows beyond; ``"strip"`` one row of cells
    per run, shaded by the rate (lined up with :func:`category_timeline_chart`;
    ``labels=False`` leaves out the run labels).
    """
    p = prepare(frame)
    w = window or p.window
    e = p.experiments if w == p.window else _with_labels(annotate(p.frame, window=w).collect())
    e = e.filter(pl.col("rolling_success").is_not_null())
    tooltip = alt.Tooltip("rolling_success:Q", title=f"kept, last {w}", format=".0%")
    title = _title(
        "Rolling success rate",
        f"Share of the last {w} experiments that were kept (fewer at the start of a run).",
    )
    if layout == "strip":
        rows = max(len(p.trajectories), 1)
        return (
            alt.Chart(
                _data(
                    e.with_columns((pl.col("index") + 1).alias("index_end")),
                    [*_EXPERIMENT_FIELDS, "rolling_success", "index_end"],
                )
            )
            .mark_rect()
            .encode(
                x=alt.X("index:Q", title="experiment", scale=alt.Scale(nice=False)),
                x2="index_end:Q",
                y=_trajectory_axis(p, labels=labels),
                color=alt.Color(
                    "rolling_success:Q",
                    title=f"kept share, last {w}",
                    # from a pale sand (none kept, still visible) to deep green (all kept)
                    scale=alt.Scale(domain=[0, 0.5, 1], range=["#E9E4C8", "#86C07E", "#1B7837"]),
                    legend=alt.Legend(
                        format="%", orient="bottom", direction="horizontal", gradientLength=140
                    ),
                ),
                tooltip=_tooltip(tooltip),
            )
            .properties(width=width, height=alt.Step(max(8, height // rows)), title=title)
        )
    return _series(
        p,
        e,
        "rolling_success",
        axis_title=f"kept share of the last {w}",
        fmt="%",
        top=1.0,
        tooltip=tooltip,
        layout=layout,
        width=width,
        height=height,
        title=title,
    )


def improvements_chart(
    frame: Frame | Prepared, *, width: int = 620, row_height: int = 26
) -> alt.LayerChart:
    """The personal-best timeline: when each improvement of the best came.

    One row per run, from its first to its last experiment; a dot for each
    experiment that improved the run's best, coloured by category and sized by
    its share of the run's total improvement.
    """
    p = prepare(frame)
    e = p.experiments.with_columns(
        (
            pl.col("running_best").shift(1).over(_KEYS, order_by="index") - pl.col("running_best")
        ).alias("step"),
        (pl.col("running_best").drop_nulls().first() - pl.col("running_best").min())
        .over(_KEYS)
        .alias("_total"),
    )
    steps = e.filter(pl.col("improved") & (pl.col("position") > 0) & pl.col("step").is_not_null())
    steps = steps.with_columns(
        pl.when(pl.col("_total") > 0).then(pl.col("step") / pl.col("_total")).alias("share")
    )
    spans = e.group_by("trajectory").agg(
        pl.col("index").min().alias("first"), pl.col("index").max().alias("last")
    )
    y = _trajectory_axis(p)
    rule = (
        alt.Chart(_data(spans, ["trajectory", "first", "last"]))
        .mark_rule(color="#C8C8C8", strokeWidth=1.5)
        .encode(
            # padding: the first dots stay clear of the run labels
            x=alt.X("first:Q", title="experiment", scale=alt.Scale(nice=False, padding=12)),
            x2="last:Q",
            y=y,
        )
    )
    dots = (
        alt.Chart(_data(steps, [*_EXPERIMENT_FIELDS, "step", "share", "running_best"]))
        .mark_circle(opacity=0.9, stroke="#333333", strokeWidth=0.5)
        .encode(
            x=alt.X("index:Q", title="experiment"),
            y=y,
            color=alt.Color("category:N", title="category", scale=p.category_scale()),
            size=alt.Size(
                "share:Q",
                title="share of the run's improvement",
                scale=alt.Scale(domain=[0, 1], range=[20, 420]),
                legend=alt.Legend(format="%", values=[0.05, 0.25, 0.5, 1.0]),
            ),
            tooltip=_tooltip(
                alt.Tooltip("step:Q", title="improved the best by", format=".4f"),
                alt.Tooltip("share:Q", title="share of the run's improvement", format=".1%"),
            ),
        )
    )
    return _layer(rule, dots).properties(
        width=width,
        height=alt.Step(row_height),
        title=_title(
            "Personal bests",
            "Each dot is an experiment that beat the run's best so far; size: its share of the run's total improvement.",
        ),
    )


def dry_streaks_chart(
    frame: Frame | Prepared, *, width: int = 560, row_height: int = 24
) -> alt.LayerChart:
    """How long each run went without improving: every dry streak (a maximal run of
    experiments that did not improve the best) by its length. Bigger dots mean
    more streaks of that length; a ring is the streak the log ends in (it may go on)."""
    p = prepare(frame)
    labels = p.experiments.select(*_KEYS, "trajectory", "agent_label").unique()
    streaks = (
        dry_streaks(p.frame)
        .collect()
        .join(labels, on=_KEYS, how="left", nulls_equal=True)
        .group_by("trajectory", "length", "open")
        .agg(
            pl.len().alias("streaks"),
            pl.concat_str(
                [
                    pl.col("start_index").cast(pl.String),
                    pl.lit("–"),
                    pl.col("end_index").cast(pl.String),
                ]
            )
            .str.join(", ")
            .alias("spans"),
        )
        .with_columns(
            pl.when(pl.col("open"))
            .then(pl.lit("open (log ends in it)"))
            .otherwise(pl.lit("closed"))
            .alias("kind")
        )
    )
    longest = streaks.group_by("trajectory").agg(pl.col("length").max().alias("length"))
    y = _trajectory_axis(p)
    x = alt.X(
        "length:Q", title="experiments without improving the best", scale=alt.Scale(zero=True)
    )
    dots = (
        alt.Chart(_data(streaks, ["trajectory", "length", "open", "streaks", "spans", "kind"]))
        .mark_point(size=60, opacity=0.85, strokeWidth=1.8)
        .encode(
            x=x,
            y=y,
            size=alt.Size("streaks:Q", title="streaks", scale=alt.Scale(range=[30, 400])),
            fill=alt.Fill(
                "kind:N",
                title="streak",
                scale=alt.Scale(
                    domain=["closed", "open (log ends in it)"], range=["#4C78A8", "transparent"]
                ),
            ),
            color=alt.Color(
                "kind:N",
                title="streak",
                scale=alt.Scale(
                    domain=["closed", "open (log ends in it)"], range=["#4C78A8", "#D62728"]
                ),
            ),
            tooltip=[
                alt.Tooltip("trajectory:N", title="agent"),
                alt.Tooltip("length:Q", title="length"),
                alt.Tooltip("streaks:Q", title="streaks of this length"),
                alt.Tooltip("spans:N", title="experiments"),
                alt.Tooltip("kind:N", title="streak"),
            ],
        )
    )
    text = (
        alt.Chart(_data(longest, ["trajectory", "length"]))
        .mark_text(align="left", dx=12, fontSize=10, color="#333333")
        .encode(x=x, y=y, text=alt.Text("length:Q", format="d"))
    )
    return _layer(dots, text).properties(
        width=width,
        height=alt.Step(row_height),
        title=_title(
            "Dry streaks",
            "Every stretch of experiments that did not beat the best; the number is the longest.",
        ),
    )


def transition_heatmap(
    frame: Frame | Prepared,
    *,
    after: str = "failure",
    columns: int = 4,
    cell: int = 22,
) -> alt.FacetChart:
    """Which category an agent tried next, after an experiment with outcome ``after``
    (``"failure"``: discarded or crashed; or a status): the row-normalised transition
    matrix of each run, with the number of transitions in each cell. The diagonal
    is persistence (the same kind of change again), off-diagonal cells are pivots."""
    p = prepare(frame)
    labels = p.experiments.select(*_KEYS, "trajectory").unique()
    t = (
        transition_matrix(p.frame, after=after)
        .collect()
        .join(labels, on=_KEYS, how="left", nulls_equal=True)
    )
    used = category_order(
        [*t["from_category"].unique().to_list(), *t["to_category"].unique().to_list()]
    )
    # the diagonal (persistence) of every run, outlined, even where a run has no transition
    diagonal = pl.DataFrame(
        {
            "trajectory": [tr for tr in p.trajectories for _ in used],
            "from_category": used * len(p.trajectories),
        },
        schema={"trajectory": pl.String, "from_category": pl.String},
    ).with_columns(pl.col("from_category").alias("to_category"), pl.lit("diagonal").alias("kind"))
    cells = pl.concat(
        [
            t.select(
                "trajectory", "from_category", "to_category", "count", "total", "probability"
            ).with_columns(kind=pl.lit("cell")),
            diagonal,
        ],
        how="diagonal_relaxed",
    )
    axis = alt.Axis(labelFontSize=10, ticks=False, domain=False)
    base = alt.Chart().encode(
        x=alt.X(
            "to_category:N",
            title="next category",
            sort=used,
            axis=axis,
            scale=alt.Scale(domain=used),
        ),
        y=alt.Y(
            "from_category:N",
            title=f"category after {'a failure' if after == 'failure' else after}",
            sort=used,
            axis=axis,
            scale=alt.Scale(domain=used),
        ),
    )
    is_cell = alt.datum.kind == "cell"
    outline = base.mark_rect(
        filled=False, stroke="#555555", strokeWidth=1, strokeDash=[2, 2]
    ).transform_filter(alt.datum.kind == "diagonal")
    heat = (
        base.mark_rect(stroke="white", strokeWidth=1)
        .transform_filter(is_cell)
        .encode(
            color=alt.Color(
                "probability:Q",
                title="probability",
                scale=alt.Scale(scheme="blues", domain=[0, 1]),
                legend=alt.Legend(format="%"),
            ),
            tooltip=[
                alt.Tooltip("trajectory:N", title="agent"),
                alt.Tooltip("from_category:N", title="after"),
                alt.Tooltip("to_category:N", title="next"),
                alt.Tooltip("count:Q", title="transitions"),
                alt.Tooltip("total:Q", title=f"out of (after {after})"),
                alt.Tooltip("probability:Q", title="probability", format=".0%"),
            ],
        )
    )
    text = (
        base.mark_text(fontSize=9)
        .transform_filter(is_cell)
        .encode(
            text=alt.Text("count:Q"),
            color=alt.when(alt.datum.probability > 0.55)
            .then(alt.value("white"))
            .otherwise(alt.value("#222222")),
        )
    )
    side = cell * max(len(used), 1)
    what = "a discarded or crashed experiment" if after == "failure" else f"a {after} experiment"
    return (
        _layer(
            heat,
            outline,
            text,
            data=_data(
                cells,
                [
                    "trajectory",
                    "from_category",
                    "to_category",
                    "count",
                    "total",
                    "probability",
                    "kind",
                ],
            ),
        )
        .properties(width=side, height=side)
        .facet(
            facet=alt.Facet(
                "trajectory:N",
                sort=p.trajectories,
                title=None,
                header=alt.Header(
                    labelAnchor="start", labelFontWeight="bold", labelLimit=side + 80
                ),
            ),
            columns=columns,
        )
        .properties(
            title=_title(
                "What comes after a failure" if after == "failure" else f"What comes after {after}",
                f"Row: the category of {what}; column: the category tried next; number: how often; "
                "dashed: the same category again.",
            )
        )
    )


def rolling_entropy_chart(
    frame: Frame | Prepared,
    *,
    window: int = 10,
    categories: int | None = None,
    layout: Layout = "auto",
    width: int = 620,
    height: int = 260,
) -> alt.LayerChart | alt.FacetChart:
    """Category entropy (bits) of each window of ``window`` consecutive experiments,
    per run: high while an agent explores many kinds of change, low while it digs
    into one. The most a taxonomy of ``categories`` categories (default: the
    size the frame was prepared with) allows is log2(categories) (the dashed
    line, when runs are overlaid). ``layout`` as in :func:`success_rate_chart`."""
    p = prepare(frame)
    categories = categories or p.taxonomy_size
    labels = p.experiments.select(list(dict.fromkeys([*_KEYS, *_EXPERIMENT_FIELDS])))
    e = (
        rolling_entropy(p.frame, window)
        .collect()
        .join(labels, on=[*_KEYS, "index"], how="left", nulls_equal=True)
        .filter(pl.col("entropy_bits").is_not_null())
    )
    top = math.log2(categories)
    return _series(
        p,
        e,
        "entropy_bits",
        axis_title=f"entropy of the last {window} (bits)",
        fmt=".1f",
        top=math.ceil(top * 2) / 2,
        tooltip=alt.Tooltip("entropy_bits:Q", title="entropy (bits)", format=".2f"),
        layout=layout,
        width=width,
        height=height,
        ceiling=top,
        title=_title(
            "Rolling category entropy",
            f"Diversity of the last {window} changes; the most {categories} categories allow is "
            f"log2({categories}) = {top:.2f} bits.",
        ),
    )


def breadth_chart(
    frame: Frame | Prepared, *, measure: Measure = "val_bpb", width: int = 420, height: int = 300
) -> alt.LayerChart:
    """Breadth against outcome, one dot per run: the number of categories explored
    against the best val_bpb (``measure="val_bpb"``) or the gain over the run's
    baseline (``measure="gain"``) — the seed study's central figure."""
    p = prepare(frame)
    s = p.summary
    field = "best_val_bpb" if measure == "val_bpb" else "relative_gain"
    s = s.filter(pl.col(field).is_not_null())
    y = alt.Y(
        f"{field}:Q",
        title="best val_bpb (lower is better)"
        if measure == "val_bpb"
        else "gain over baseline (higher is better)",
        scale=alt.Scale(zero=False),
        axis=alt.Axis(format=".3f" if measure == "val_bpb" else "%"),
    )
    x = alt.X(
        "categories_explored:Q",
        title="categories explored",
        scale=alt.Scale(domain=[0, max(p.taxonomy_size, len(p.categories))]),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )
    data = _data(
        s,
        [
            "trajectory",
            "agent_label",
            "categories_explored",
            field,
            "best_val_bpb",
            "relative_gain",
            "experiments",
        ],
    )
    dots = (
        alt.Chart()
        .mark_circle(size=110, opacity=0.9, stroke="white", strokeWidth=1)
        .encode(
            x=x,
            y=y,
            color=alt.Color("agent_label:N", title="agent", scale=p.agent_scale()),
            tooltip=[
                alt.Tooltip("trajectory:N", title="agent"),
                alt.Tooltip("categories_explored:Q", title="categories explored"),
                alt.Tooltip("best_val_bpb:Q", title="best val_bpb", format=".4f"),
                alt.Tooltip("relative_gain:Q", title="gain over baseline", format=".2%"),
                alt.Tooltip("experiments:Q", title="experiments"),
            ],
        )
    )
    return _layer(dots, data=data).properties(
        width=width,
        height=height,
        title=_title(
            "Breadth and outcome",
            "One dot per run: how many kinds of change it tried, and how well it did.",
        ),
    )


def dashboard(
    frame: Frame | Prepared, *, measure: Measure | None = None, width: int = 900
) -> alt.VConcatChart:
    """Four panels about ``width`` pixels wide: convergence on top; below it, one row
    per run, the category mix, the rolling success rate and the category timeline.

    ``measure`` defaults to ``"gain"`` when the runs' baselines differ (see
    :func:`baselines_differ`), else ``"val_bpb"``.
    """
    p = prepare(frame)
    m: Measure = measure or ("gain" if baselines_differ(p) else "val_bpb")
    rows = max(len(p.trajectories), 1)
    step = max(10, min(22, 260 // rows))
    label_room = min(260, 7 * max((len(t) for t in p.trajectories), default=10))
    panel = max(160, (width - label_room - 160) // 4)
    top = convergence_chart(p, measure=m, width=width - label_room - 40, height=230)
    mix = category_distribution_chart(p, width=panel, row_height=step, legend=False).properties(
        title=_title("Category mix", "share of each kind of change")
    )
    success = success_rate_chart(
        p, layout="strip", width=panel, height=step * rows, labels=False
    ).properties(title=_title("Success rate", f"kept share of the last {p.window}"))
    timeline = category_timeline_chart(
        p, width=2 * panel, row_height=step, outcome_legend=False, labels=False
    ).properties(title=_title("Category timeline", "each change in order; solid: kept"))
    bottom = alt.hconcat(mix, success, timeline, spacing=12).resolve_scale(color="independent")
    return (
        alt.vconcat(top, bottom, spacing=24)
        .resolve_scale(color="independent")
        .properties(
            title=_title(
                "Dashboard",
                "How fast each agent improved; what it tried, how often that was kept, and in which order.",
            )
        )
    )
