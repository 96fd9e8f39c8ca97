"""The altair charts: every chart renders (PNG and SVG), and its spec encodes the right fields.

Specs are checked, not pixels: which fields each channel encodes, the fixed
category colours, the tooltips, and that the data drawn are the metrics of
``annotate`` / ``summarize`` (not a second computation).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import altair as alt
import polars as pl
import pytest
import vl_convert
from hypothesis import given, settings
from hypothesis import strategies as st

import hpdream_analysis as ha
from hpdream_analysis import (
    CATEGORY_COLORS,
    EXTRA_COLORS,
    STATUS_COLORS,
    ColumnError,
    annotate,
    conform,
    summarize,
)
from tests.analysis.frames import frame_of, trajectories

CATEGORIES = ("hyperparameters", "architecture", "optimizer", "schedule", "other")


def synthetic_study(
    agents: Sequence[str] = ("alpha", "beta"),
    *,
    runs: int = 1,
    experiments: int = 24,
    seed: int = 0,
    baseline_spread: float = 0.0,
    study: str = "synthetic",
) -> pl.DataFrame:
    """A study with the canonical columns: each agent improves by kept changes, discards
    worse ones and sometimes crashes. ``baseline_spread`` > 0 gives agents other baselines."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for a, agent in enumerate(agents):
        focus = CATEGORIES[a % len(CATEGORIES)]
        for run in range(runs):
            base = 1.0 + baseline_spread * a
            best = base
            rows.append(_row(study, agent, run, 0, "keep", base, "baseline", "baseline run"))
            for i in range(1, experiments + 1):
                category = focus if rng.random() < 0.5 else rng.choice(CATEGORIES)
                draw = rng.random()
                param = rng.choice(["MATRIX_LR", "DEPTH", "WARMUP", "WEIGHT_DECAY"])
                text = f"{category}: set {param} {rng.randint(1, 9)} -> {rng.randint(1, 9)}"
                if draw < 0.08:
                    rows.append(
                        _row(study, agent, run, i, "crash", None, category, text + " (OOM)")
                    )
                elif draw < 0.4:
                    best *= 1 - rng.uniform(0.001, 0.02)
                    rows.append(_row(study, agent, run, i, "keep", best, category, text))
                else:
                    value = best * (1 + rng.uniform(0.0005, 0.03))
                    rows.append(_row(study, agent, run, i, "discard", value, category, text))
    return conform(pl.DataFrame(rows, infer_schema_length=None).lazy()).collect()


def _row(
    study: str,
    agent: str,
    run: int,
    index: int,
    status: str,
    val_bpb: float | None,
    category: str,
    description: str,
) -> dict[str, Any]:
    return {
        "study": study,
        "agent": agent,
        "run": run,
        "index": index,
        "status": status,
        "val_bpb": val_bpb,
        "category": category,
        "multi": False,
        "description": description,
        "format_version": 1,
    }


# --- helpers over specs -------------------------------------------------------


def walk(spec: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a spec (depth first)."""
    if isinstance(spec, dict):
        yield spec
        for value in spec.values():
            yield from walk(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from walk(value)


def units(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The unit specs (those with a mark)."""
    return [d for d in walk(spec) if "mark" in d and "encoding" in d]


def channel_fields(spec: dict[str, Any], channel: str) -> set[str]:
    return {
        u["encoding"][channel]["field"]
        for u in units(spec)
        if channel in u["encoding"] and "field" in u["encoding"][channel]
    }


def tooltip_fields(unit: dict[str, Any]) -> set[str]:
    tips = unit["encoding"].get("tooltip", [])
    return {t["field"] for t in (tips if isinstance(tips, list) else [tips]) if "field" in t}


def values_of(spec: dict[str, Any], unit: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline rows a unit draws (its own data, or the nearest enclosing data)."""
    data = unit.get("data")
    if data is None:
        for d in walk(spec):
            if "data" in d and unit in list(walk(d)):
                data = d["data"]
        assert data is not None, "a unit without data"
    if "values" in data:
        return list(data["values"])
    return list(spec["datasets"][data["name"]])


def category_scales(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        u["encoding"]["color"]["scale"]
        for u in units(spec)
        if u["encoding"].get("color", {}).get("field") == "category"
    ]


@pytest.fixture(scope="module")
def study() -> pl.DataFrame:
    return synthetic_study(("alpha", "beta", "gamma"), experiments=30, seed=1)


@pytest.fixture(scope="module")
def prepared(study: pl.DataFrame) -> ha.Prepared:
    return ha.prepare(study)


CHARTS: dict[str, Callable[[Any], alt.TopLevelMixin]] = {
    "convergence": ha.convergence_chart,
    "convergence_gain": lambda p: ha.convergence_chart(p, measure="gain"),
    "experiments": ha.experiments_chart,
    "category_distribution": ha.category_distribution_chart,
    "category_timeline": ha.category_timeline_chart,
    "success_rate": ha.success_rate_chart,
    "improvements": ha.improvements_chart,
    "dry_streaks": ha.dry_streaks_chart,
    "transition_heatmap": ha.transition_heatmap,
    "rolling_entropy": ha.rolling_entropy_chart,
    "breadth": ha.breadth_chart,
    "dashboard": ha.dashboard,
}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_chart_renders_to_png_and_svg(prepared: ha.Prepared, name: str) -> None:
    chart = CHARTS[name](prepared)
    spec = ha.themed(chart).to_dict()  # validates against the Vega-Lite schema
    svg = vl_convert.vegalite_to_svg(spec)
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<text" in svg  # titles and axes were drawn
    png = vl_convert.svg_to_png(svg, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_tooltips_of_experiments_show_description_status_and_val_bpb(
    prepared: ha.Prepared, name: str
) -> None:
    spec = CHARTS[name](prepared).to_dict()
    per_experiment = [u for u in units(spec) if "tooltip_description" in tooltip_fields(u)]
    for unit in per_experiment:
        assert {"tooltip_description", "status", "val_bpb"} <= tooltip_fields(unit)
    # charts drawing single experiments must have such tooltips
    if name in {
        "convergence",
        "convergence_gain",
        "experiments",
        "category_timeline",
        "success_rate",
        "improvements",
        "rolling_entropy",
    }:
        assert per_experiment, f"{name}: no experiment tooltip"


def test_category_colours_are_fixed_in_every_chart(prepared: ha.Prepared) -> None:
    seen = 0
    for name, make in CHARTS.items():
        for scale in category_scales(make(prepared).to_dict()):
            seen += 1
            mapping = dict(zip(scale["domain"], scale["range"], strict=True))
            for category, color in mapping.items():
                assert color == CATEGORY_COLORS[category], (name, category)
    assert seen >= 4  # distribution, timeline, improvements, dashboard (twice)


def test_convergence_draws_annotate_running_best(study: pl.DataFrame) -> None:
    spec = ha.convergence_chart(study).to_dict()
    assert channel_fields(spec, "x") == {"index"}
    assert channel_fields(spec, "y") == {"running_best"}
    assert channel_fields(spec, "color") == {"agent_label"}
    expected = annotate(study.lazy()).collect()
    line = next(u for u in units(spec) if u["mark"]["type"] == "line")
    drawn: dict[str, list[tuple[int, float]]] = {}
    for r in values_of(spec, line):
        drawn.setdefault(r["agent_label"], []).append((r["index"], r["running_best"]))
    for r in expected.iter_rows(named=True):
        if r["running_best"] is not None:
            # the step line (step-after) holds the last point drawn at or before the index
            points = [(i, v) for i, v in drawn[r["agent"]] if i <= r["index"]]
            assert max(points)[1] == pytest.approx(r["running_best"])
    last = expected.group_by("agent").agg(pl.col("index").max())
    for agent, index in last.iter_rows():
        assert max(drawn[agent])[0] == index  # each line runs to the end of its run
    assert sum(map(len, drawn.values())) < expected.height  # only where the line steps
    dots = next(u for u in units(spec) if u["mark"]["type"] == "circle")
    improved = {(r["agent"], r["index"]) for r in expected.filter("improved").iter_rows(named=True)}
    assert {(r["agent_label"], r["index"]) for r in values_of(spec, dots)} == improved


def test_convergence_gain_uses_the_gain_column(study: pl.DataFrame) -> None:
    spec = ha.convergence_chart(study, measure="gain").to_dict()
    assert channel_fields(spec, "y") == {"gain"}
    line = next(u for u in units(spec) if u["mark"]["type"] == "line")
    expected = annotate(study.lazy()).collect()
    gains = {(r["agent"], r["index"]): r["gain"] for r in expected.iter_rows(named=True)}
    for r in values_of(spec, line):
        assert r["gain"] == pytest.approx(gains[(r["agent_label"], r["index"])])


def test_replicates_get_a_band_and_one_line_per_run() -> None:
    frame = synthetic_study(("alpha", "beta"), runs=3, experiments=12, seed=2)
    spec = ha.convergence_chart(frame).to_dict()
    marks = [u["mark"]["type"] for u in units(spec)]
    assert "area" in marks
    line = next(u for u in units(spec) if u["mark"]["type"] == "line" and "detail" in u["encoding"])
    assert line["encoding"]["detail"]["field"] == "trajectory"
    trajectories = {r["trajectory"] for r in values_of(spec, line)}
    assert trajectories == {f"{a} · run {r}" for a in ("alpha", "beta") for r in range(3)}
    band = next(u for u in units(spec) if u["mark"]["type"] == "area")
    for row in values_of(spec, band):
        assert row["low"] <= row["mean"] <= row["high"]
    # without replicates: no band
    single = ha.convergence_chart(synthetic_study(("alpha",), experiments=8)).to_dict()
    assert "area" not in [u["mark"]["type"] for u in units(single)]


def test_experiments_chart_marks_crashes_and_values_off_the_panel() -> None:
    frame = synthetic_study(("alpha",), experiments=20, seed=3).with_columns(
        # one diverged run far above the rest
        pl.when(pl.col("index") == 5)
        .then(pl.lit(9.0))
        .otherwise(pl.col("val_bpb"))
        .alias("val_bpb"),
        pl.when(pl.col("index") == 5)
        .then(pl.lit("discard"))
        .otherwise(pl.col("status"))
        .alias("status"),
    )
    spec = ha.experiments_chart(frame).to_dict()
    assert spec["resolve"]["scale"]["y"] == "independent"
    dots = next(u for u in units(spec) if u["mark"]["type"] == "point")
    assert dots["encoding"]["color"]["scale"]["range"] == list(STATUS_COLORS.values())
    rows = values_of(spec, dots)
    diverged = next(r for r in rows if r["index"] == 5)
    assert diverged["marker"] == "above the panel"
    assert diverged["val_bpb"] == 9.0 and diverged["shown"] < 9.0
    for r in rows:
        if r["status"] == "crash":
            assert r["marker"] == "crash (no val_bpb)" and r["val_bpb"] is None
            assert r["shown"] == pytest.approx(diverged["shown"])  # on the top edge
        elif r["marker"] == "measured":
            assert r["shown"] == pytest.approx(r["val_bpb"])


def test_category_distribution_shares_add_up(study: pl.DataFrame) -> None:
    spec = ha.category_distribution_chart(study).to_dict()
    bars = units(spec)[0]
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in values_of(spec, bars):
        totals[r["trajectory"]] = totals.get(r["trajectory"], 0) + r["share"]
        counts[r["trajectory"]] = counts.get(r["trajectory"], 0) + r["experiments"]
        assert r["category"] != "baseline"
    assert all(t == pytest.approx(1.0) for t in totals.values())
    expected = study.filter(pl.col("index") > 0).group_by("agent").len()
    assert counts == dict(expected.iter_rows())


def test_transition_heatmap_shows_the_matrix_after_failure(study: pl.DataFrame) -> None:
    spec = ha.transition_heatmap(study).to_dict()
    assert spec["facet"]["field"] == "trajectory"
    rect = next(u for u in units(spec) if u["mark"]["type"] == "rect")
    rows = values_of(spec, rect)
    cells = [r for r in rows if r["kind"] == "cell"]
    expected = ha.transition_matrix(study.lazy(), after="failure").collect()
    assert len(cells) == expected.height
    assert all(0 < r["probability"] <= 1 for r in cells)
    assert sum(r["count"] for r in cells) == expected["count"].sum()
    # every run gets its diagonal outlined (persistence), one cell per category shown
    diagonal = [r for r in rows if r["kind"] == "diagonal"]
    assert all(r["from_category"] == r["to_category"] for r in diagonal)
    shown = set(expected["from_category"]) | set(expected["to_category"])
    assert len(diagonal) == 3 * len(shown)


def test_dry_streaks_chart_counts_every_streak(study: pl.DataFrame) -> None:
    spec = ha.dry_streaks_chart(study).to_dict()
    dots = next(u for u in units(spec) if u["mark"]["type"] == "point")
    expected = ha.dry_streaks(study.lazy()).collect()
    assert sum(r["streaks"] for r in values_of(spec, dots)) == expected.height
    drawn = sorted(length for r in values_of(spec, dots) for length in [r["length"]] * r["streaks"])
    assert drawn == sorted(expected["length"].to_list())


def test_breadth_chart_draws_the_summary(study: pl.DataFrame) -> None:
    spec = ha.breadth_chart(study).to_dict()
    assert channel_fields(spec, "x") == {"categories_explored"}
    assert channel_fields(spec, "y") == {"best_val_bpb"}
    dots = units(spec)[0]
    summary = summarize(study.lazy()).collect()
    drawn = {
        r["trajectory"]: (r["categories_explored"], r["best_val_bpb"])
        for r in values_of(spec, dots)
    }
    for r in summary.iter_rows(named=True):
        assert drawn[r["agent"]] == (r["categories_explored"], pytest.approx(r["best_val_bpb"]))


@pytest.mark.parametrize("layout", ["overlay", "rows"])
def test_series_layouts(study: pl.DataFrame, layout: Literal["overlay", "rows"]) -> None:
    for spec in (
        ha.success_rate_chart(study, layout=layout).to_dict(),
        ha.rolling_entropy_chart(study, layout=layout).to_dict(),
    ):
        assert ("facet" in spec) == (layout == "rows")
    strip = ha.success_rate_chart(study, layout="strip").to_dict()
    assert strip["mark"]["type"] == "rect" and strip["encoding"]["y"]["field"] == "trajectory"
    auto = ha.success_rate_chart(synthetic_study([f"agent{i}" for i in range(8)], experiments=6))
    assert "facet" in auto.to_dict()  # more runs than ROWS_ABOVE: one row each


def test_success_rate_window_is_annotate_rolling_success(study: pl.DataFrame) -> None:
    spec = ha.success_rate_chart(study, window=5, layout="overlay").to_dict()
    line = next(u for u in units(spec) if u["mark"]["type"] == "line")
    expected = annotate(study.lazy(), window=5).collect()
    rates = {(r["agent"], r["index"]): r["rolling_success"] for r in expected.iter_rows(named=True)}
    for r in values_of(spec, line):
        assert r["rolling_success"] == pytest.approx(rates[(r["agent_label"], r["index"])])


def test_labels_name_studies_and_runs_when_there_are_several() -> None:
    one = synthetic_study(("alpha",), experiments=4, study="s1")
    two = synthetic_study(("alpha",), runs=2, experiments=4, study="s2")
    p = ha.prepare(pl.concat([one, two]))
    assert p.agents == ["s1 / alpha", "s2 / alpha"]
    assert p.trajectories == ["s1 / alpha", "s2 / alpha · run 0", "s2 / alpha · run 1"]
    assert p.replicated


def test_baselines_differ(study: pl.DataFrame) -> None:
    assert not ha.baselines_differ(study)
    assert ha.baselines_differ(synthetic_study(("a", "b"), experiments=3, baseline_spread=0.5))


def test_degenerate_frames_still_draw() -> None:
    baseline_only = synthetic_study(("alpha",), experiments=0)
    crashes = pl.DataFrame(
        [
            _row("s", "crashy", 0, i, "crash", None, "baseline" if i == 0 else "other", "x")
            for i in range(4)
        ]
    )
    for frame in (baseline_only, conform(crashes.lazy()).collect()):
        p = ha.prepare(frame)
        for make in CHARTS.values():
            vl_convert.vegalite_to_svg(ha.themed(make(p)).to_dict())


def test_a_frame_without_the_needed_columns_is_a_clear_error(study: pl.DataFrame) -> None:
    with pytest.raises(ColumnError, match="'category'"):
        ha.prepare(study.drop("category"))


def test_themed_charts_carry_the_style_and_no_longer_compose(study: pl.DataFrame) -> None:
    chart = ha.category_distribution_chart(study)
    assert "config" not in chart.to_dict() or "font" not in chart.to_dict()["config"]
    themed = ha.themed(chart).to_dict()
    assert themed["config"]["font"] == ha.CHART_CONFIG["font"]
    # unthemed charts compose
    (ha.convergence_chart(study) | chart).to_dict()


def test_descriptions_in_tooltips_are_cut() -> None:
    frame = synthetic_study(("alpha",), experiments=3).with_columns(
        pl.when(pl.col("index") == 2)
        .then(pl.lit("word " * 200))
        .otherwise(pl.col("description"))
        .alias("description")
    )
    rows = ha.prepare(frame).experiments
    text = rows.filter(pl.col("index") == 2)["tooltip_description"].item()
    assert len(text) == ha._charts.TOOLTIP_CHARS and text.endswith("…")


# --- colour scales -------------------------------------------------------------

names = st.text(st.characters(codec="ascii", categories=["Ll"]), min_size=1, max_size=8)


@given(
    known=st.lists(st.sampled_from(sorted(CATEGORY_COLORS)), unique=True),
    extra=st.lists(names.filter(lambda n: n not in CATEGORY_COLORS), unique=True, max_size=12),
)
def test_category_colors_are_fixed_and_distinct(known: list[str], extra: list[str]) -> None:
    colors = ha.category_colors([*extra, *known, *known])
    assert set(colors) == set(known) | set(extra)
    for c in known:
        assert colors[c] == CATEGORY_COLORS[c]
    for i, c in enumerate(sorted(extra)):
        assert colors[c] == EXTRA_COLORS[i % len(EXTRA_COLORS)]
    if len(extra) <= len(EXTRA_COLORS):
        assert len(set(colors.values())) == len(colors)
    order = ha.category_order([*extra, *known])
    tail = [c for c in order if c in ("baseline", "unknown")]
    assert order[len(order) - len(tail) :] == tail  # baseline and unknown come last


@given(st.lists(names, min_size=1, max_size=30, unique=True))
def test_agent_scale_is_sorted_and_stable(agents: list[str]) -> None:
    scale = ha.agent_scale(agents).to_dict()
    assert scale["domain"] == sorted(agents)
    again = ha.agent_scale(list(reversed(agents))).to_dict()
    assert again == scale


@settings(max_examples=15)
@given(trajectories(max_trajectories=3, max_size=12))
def test_charts_of_random_trajectories_are_valid_specs(
    data: dict[Any, list[dict[str, Any]]],
) -> None:
    p = ha.prepare(frame_of(data))
    for name in (
        "convergence",
        "experiments",
        "category_timeline",
        "dry_streaks",
        "transition_heatmap",
    ):
        CHARTS[name](p).to_dict()  # altair validates against the Vega-Lite schema
