"""Trajectory metrics against the plain-Python reference, and their degenerate cases."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpdream_analysis as ha
from hpdream_analysis import TRAJECTORY, StatisticsError
from tests.analysis import reference as ref
from tests.analysis.frames import by_trajectory, frame_of, one, trajectories, trajectory

REFERENCE_COLUMNS = tuple(
    ref.summary([{"index": 0, "status": "keep", "val_bpb": 1.0, "category": "baseline"}])
)


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def check_summary(got: dict[str, Any], want: dict[str, Any], columns: tuple[str, ...]) -> None:
    for c in columns:
        assert close(got[c], want[c]), (c, got[c], want[c])


@settings(max_examples=60)
@given(
    data=trajectories(),
    eps=st.sampled_from([0.0, 0.02]),
    horizon=st.integers(1, 30),
    seed=st.integers(0, 9),
)
def test_summarize_matches_reference(
    data: dict[tuple[str, str, int], list[dict[str, Any]]], eps: float, horizon: int, seed: int
) -> None:
    frame = frame_of(data, shuffle_seed=seed)  # row order must not matter
    got = by_trajectory(ha.summarize(frame, eps=eps, horizon=horizon, extract="text").collect())
    assert set(got) == set(data)
    for key, rows in data.items():
        want = ref.summary(rows, eps=eps, horizon=horizon)
        check_summary(got[key], want, REFERENCE_COLUMNS)
        assert close(
            got[key]["persistence"], None if want["pivot_rate"] is None else 1 - want["pivot_rate"]
        )
        n_categories = ha.DEFAULT_CATEGORIES
        entropy = want["category_entropy_bits"]
        assert close(
            got[key]["category_entropy_normalized"],
            None if entropy is None else entropy / math.log2(n_categories),
        )


@settings(max_examples=40)
@given(data=trajectories(), seed=st.integers(0, 9))
def test_expressions_inside_a_users_group_by(
    data: dict[tuple[str, str, int], list[dict[str, Any]]], seed: int
) -> None:
    frame = frame_of(data, shuffle_seed=seed)
    got = by_trajectory(
        frame.group_by(TRAJECTORY)
        .agg(
            ha.success_rate().alias("success_rate"),
            ha.success_rate("kept_of_completed").alias("success_rate_completed"),
            ha.success_rate("improved").alias("improved_rate"),
            ha.crash_rate().alias("crash_rate"),
            ha.best().alias("best_val_bpb"),
            ha.baseline_value().alias("baseline_val_bpb"),
            ha.improvement().alias("improvement"),
            ha.relative_gain().alias("relative_gain"),
            ha.categories_explored().alias("categories_explored"),
            ha.category_entropy().alias("category_entropy_bits"),
            ha.chance_pivot_rate().alias("chance_pivot_rate"),
            ha.pivot_rate().alias("pivot_rate"),
            ha.dry_streak_count().alias("dry_streaks"),
            ha.max_dry_streak().alias("max_dry_streak"),
            ha.mean_dry_streak().alias("mean_dry_streak"),
            ha.open_dry_streak().alias("open_dry_streak"),
            ha.experiment_count().alias("experiments"),
            ha.anytime_auc(7).alias("anytime_auc"),
        )
        .collect()
    )
    for key, rows in data.items():
        want = ref.summary(rows, horizon=7)
        check_summary(got[key], want, tuple(c for c in REFERENCE_COLUMNS if c in got[key]))


@settings(max_examples=40)
@given(
    data=trajectories(),
    eps=st.sampled_from([0.0, 0.02]),
    window=st.integers(1, 6),
    seed=st.integers(0, 9),
)
def test_annotate_matches_reference(
    data: dict[tuple[str, str, int], list[dict[str, Any]]], eps: float, window: int, seed: int
) -> None:
    frame = frame_of(data, shuffle_seed=seed)
    annotated = ha.annotate(frame, eps=eps, window=window).collect()
    # sorted by trajectory and index
    assert annotated.select((*TRAJECTORY, "index")).rows() == sorted(
        annotated.select((*TRAJECTORY, "index")).rows()
    )
    for key, rows in data.items():
        part = annotated.filter(
            (pl.col("study") == key[0]) & (pl.col("agent") == key[1]) & (pl.col("run") == key[2])
        )
        assert part.get_column("position").to_list() == list(range(len(rows)))
        best = ref.running_best(rows)
        assert all(
            close(a, b)
            for a, b in zip(part.get_column("running_best").to_list(), best, strict=True)
        )
        assert part.get_column("improved").to_list() == ref.improved(rows, eps)
        assert part.get_column("plateau").to_list() == ref.plateau(rows, eps)
        b0 = rows[0]["val_bpb"]
        gains = [None if b0 is None or b is None else (b0 - b) / b0 for b in best]
        assert all(
            close(a, b) for a, b in zip(part.get_column("gain").to_list(), gains, strict=True)
        )
        pivots, rolling = [], []
        for i, r in enumerate(rows):
            prev = rows[i - 1] if i else None
            pivot = None
            if i >= 2 and prev is not None and prev["status"] in ("discard", "crash"):
                pivot = r["category"] != prev["category"]
            pivots.append(pivot)
            recent = [x["status"] == "keep" for x in rows[max(1, i - window + 1) : i + 1]]
            rolling.append(None if i == 0 else sum(recent) / len(recent))
        assert part.get_column("pivot").to_list() == pivots
        assert all(
            close(a, b)
            for a, b in zip(part.get_column("rolling_success").to_list(), rolling, strict=True)
        )
        # dry-streak ids: the same id exactly on each streak
        ids = part.get_column("dry_streak").to_list()
        flags = ref.improved(rows, eps)
        assert [i is None for i in ids] == [i == 0 or f for i, f in enumerate(flags)]


@settings(max_examples=40)
@given(data=trajectories(), eps=st.sampled_from([0.0, 0.02]))
def test_dry_streaks_match_reference(
    data: dict[tuple[str, str, int], list[dict[str, Any]]], eps: float
) -> None:
    streaks = ha.dry_streaks(frame_of(data), eps=eps).collect()
    for key, rows in data.items():
        part = streaks.filter(
            (pl.col("study") == key[0]) & (pl.col("agent") == key[1]) & (pl.col("run") == key[2])
        )
        lengths, is_open = ref.dry_streak_lengths(rows, eps)
        assert part.get_column("length").to_list() == lengths
        assert part.get_column("streak").to_list() == list(range(1, len(lengths) + 1))
        opens = part.get_column("open").to_list()
        assert opens == [False] * (len(lengths) - 1) + [is_open] if lengths else opens == []
        for s in part.iter_rows(named=True):
            assert s["end_index"] - s["start_index"] + 1 == s["length"]


@settings(max_examples=40)
@given(data=trajectories(), after=st.sampled_from([None, "keep", "discard", "crash", "failure"]))
def test_transition_matrix_matches_reference(
    data: dict[tuple[str, str, int], list[dict[str, Any]]], after: str | None
) -> None:
    matrix = ha.transition_matrix(frame_of(data), after=after).collect()
    allowed = {None: None, "failure": {"discard", "crash"}}.get(after, {after})
    for key, rows in data.items():
        counts: Counter[tuple[str, str]] = Counter()
        for i in range(2, len(rows)):
            if allowed is None or rows[i - 1]["status"] in allowed:
                counts[(rows[i - 1]["category"], rows[i]["category"])] += 1
        part = matrix.filter(
            (pl.col("study") == key[0]) & (pl.col("agent") == key[1]) & (pl.col("run") == key[2])
        )
        assert {
            (r["from_category"], r["to_category"]): r["count"] for r in part.iter_rows(named=True)
        } == dict(counts)
        for r in part.iter_rows(named=True):
            total = sum(v for (k, _), v in counts.items() if k == r["from_category"])
            assert r["total"] == total
            assert close(r["probability"], r["count"] / total)


@settings(max_examples=30)
@given(rows=trajectory(min_size=1, max_size=20), window=st.integers(1, 6), mm=st.booleans())
def test_rolling_entropy_matches_reference(
    rows: list[dict[str, Any]], window: int, mm: bool
) -> None:
    got = ha.rolling_entropy(one(rows), window, miller_madow=mm).collect()
    assert got.get_column("position").to_list() == list(range(1, len(rows)))
    values = got.get_column("entropy_bits").to_list()
    for position, value in zip(range(1, len(rows)), values, strict=True):
        if position < window:
            assert value is None
            continue
        cats = Counter(r["category"] for r in rows[position - window + 1 : position + 1])
        h = -sum(c / window * math.log2(c / window) for c in cats.values())
        if mm:
            h += (len(cats) - 1) / (2 * window * math.log(2))
        assert close(value, h)


@given(rows=trajectory(min_size=2, max_size=20), theta=st.sampled_from([0.9, 0.95, 1.0, 1.3]))
def test_time_to_threshold(rows: list[dict[str, Any]], theta: float) -> None:
    got = one(rows).group_by(TRAJECTORY).agg(t=ha.time_to_threshold(theta)).collect().item(0, "t")
    best = ref.running_best(rows)
    want = next((i for i, b in enumerate(best) if b is not None and b <= theta), None)
    assert got == want


@given(rows=trajectory(min_size=1, max_size=20), mm=st.booleans())
def test_entropy_options(rows: list[dict[str, Any]], mm: bool) -> None:
    got = (
        one(rows)
        .group_by(TRAJECTORY)
        .agg(
            h=ha.category_entropy(miller_madow=mm),
            j=ha.normalized_entropy(5, miller_madow=mm),
        )
        .collect()
        .row(0, named=True)
    )
    cats = Counter(r["category"] for r in rows[1:])
    n = len(rows) - 1
    if n == 0:
        assert got["h"] is None and got["j"] is None
        return
    h = -sum(c / n * math.log2(c / n) for c in cats.values())
    if mm:
        h += (len(cats) - 1) / (2 * n * math.log(2))
    assert close(got["h"], h)
    assert close(got["j"], h / math.log2(5))


def test_per_experiment_expressions_over_a_shuffled_frame() -> None:
    rows = [
        {"index": 0, "status": "keep", "val_bpb": 1.0, "category": "baseline", "description": "b"},
        {"index": 1, "status": "discard", "val_bpb": 1.1, "category": "other", "description": "x"},
        {"index": 2, "status": "keep", "val_bpb": 0.9, "category": "other", "description": "y"},
        {"index": 3, "status": "crash", "val_bpb": None, "category": "other", "description": "z"},
    ]
    frame = frame_of({("s", "a", 0): rows}, shuffle_seed=3)
    got = (
        frame.with_columns(
            best=ha.over_trajectory(ha.running_best()), flat=ha.over_trajectory(ha.plateau())
        )
        .sort("index")
        .collect()
    )
    assert got.get_column("best").to_list() == [1.0, 1.0, 0.9, 0.9]
    assert got.get_column("flat").to_list() == [0, 1, 0, 1]


# --- degenerate inputs -------------------------------------------------------------------


def baseline_only() -> pl.LazyFrame:
    return one(
        [
            {
                "index": 0,
                "status": "keep",
                "val_bpb": 1.0,
                "category": "baseline",
                "description": "baseline",
            }
        ]
    )


def test_one_experiment() -> None:
    row = ha.summarize(baseline_only()).collect().row(0, named=True)
    assert row["experiments"] == 0
    assert row["best_val_bpb"] == row["baseline_val_bpb"] == 1.0
    assert row["improvement"] == 0.0 and row["relative_gain"] == 0.0
    for rate in (
        "success_rate",
        "success_rate_completed",
        "improved_rate",
        "crash_rate",
        "pivot_rate",
        "persistence",
        "category_entropy_bits",
        "chance_pivot_rate",
        "repeat_rate",
        "mean_dry_streak",
        "anytime_auc",
    ):
        assert row[rate] is None, rate
    assert row["categories_explored"] == 0
    assert (row["dry_streaks"], row["max_dry_streak"], row["open_dry_streak"]) == (0, 0, 0)
    assert (row["repeats"], row["micro_loops"]) == (0, 0)
    assert ha.dry_streaks(baseline_only()).collect().height == 0
    assert ha.transition_matrix(baseline_only()).collect().height == 0
    assert ha.rolling_entropy(baseline_only(), 3).collect().height == 0


def test_all_crashes() -> None:
    rows = [
        {
            "index": i,
            "status": "crash",
            "val_bpb": None,
            "category": "baseline" if i == 0 else "other",
            "description": f"try {i}",
        }
        for i in range(4)
    ]
    row = ha.summarize(one(rows)).collect().row(0, named=True)
    assert row["best_val_bpb"] is None and row["baseline_val_bpb"] is None
    assert row["improvement"] is None and row["anytime_auc"] is None
    assert row["crash_rate"] == 1.0 and row["success_rate"] == 0.0
    assert row["success_rate_completed"] is None  # no completed experiment
    assert row["improved_rate"] == 0.0
    assert (row["dry_streaks"], row["max_dry_streak"], row["open_dry_streak"]) == (1, 3, 3)
    assert row["pivot_rate"] == 0.0  # always the same category after a crash
    annotated = ha.annotate(one(rows)).collect()
    assert annotated.get_column("running_best").to_list() == [None] * 4


def test_single_category() -> None:
    rows = [
        {"index": 0, "status": "keep", "val_bpb": 1.0, "category": "baseline", "description": "b"}
    ] + [
        {
            "index": i,
            "status": "discard",
            "val_bpb": 1.1,
            "category": "schedule",
            "description": f"s{i}",
        }
        for i in range(1, 6)
    ]
    row = ha.summarize(one(rows)).collect().row(0, named=True)
    assert row["categories_explored"] == 1
    assert row["category_entropy_bits"] == 0.0
    assert row["chance_pivot_rate"] == 0.0
    assert row["pivot_rate"] == 0.0 and row["persistence"] == 1.0


def test_empty_frame() -> None:
    empty = ha.conform(
        pl.LazyFrame(
            schema={
                k: ha.SCHEMA[k]
                for k in (
                    "study",
                    "agent",
                    "run",
                    "index",
                    "status",
                    "val_bpb",
                    "category",
                    "description",
                )
            }
        )
    )
    assert ha.summarize(empty).collect().columns == list(ha.SUMMARY_COLUMNS)
    assert ha.summarize(empty).collect().height == 0
    for frame in (
        ha.annotate(empty),
        ha.dry_streaks(empty),
        ha.transition_matrix(empty),
        ha.rolling_entropy(empty, 4),
        ha.repeats(empty),
        ha.micro_loops(empty),
        ha.param_changes(empty),
    ):
        assert frame.collect().height == 0
    # expressions on an empty selection give nulls, not errors
    got = empty.select(
        ha.success_rate(), ha.category_entropy(), ha.max_dry_streak(), ha.best()
    ).collect()
    assert got.row(0) == (None, None, 0, None)


def test_bad_arguments() -> None:
    with pytest.raises(StatisticsError, match="variant"):
        ha.success_rate("sometimes")  # type: ignore[arg-type]
    with pytest.raises(StatisticsError, match="horizon"):
        ha.anytime_auc(0)
    with pytest.raises(StatisticsError, match="eps"):
        ha.improved(eps=-1)
    with pytest.raises(StatisticsError, match="categories"):
        ha.normalized_entropy(1)
    with pytest.raises(StatisticsError, match="window"):
        ha.annotate(baseline_only(), window=0)
    with pytest.raises(StatisticsError, match="kept"):
        ha.transition_matrix(baseline_only(), after="kept")


def test_common_horizon_default() -> None:
    short = [
        {"index": 0, "status": "keep", "val_bpb": 1.0, "category": "baseline", "description": "b"},
        {"index": 1, "status": "keep", "val_bpb": 0.5, "category": "other", "description": "x"},
    ]
    long = short + [
        {
            "index": i,
            "status": "discard",
            "val_bpb": 2.0,
            "category": "other",
            "description": f"y{i}",
        }
        for i in range(2, 5)
    ]
    got = by_trajectory(
        ha.summarize(frame_of({("s", "a", 0): short, ("s", "b", 0): long})).collect()
    )
    # both run to the horizon of the longest (4): a keeps its gain of 0.5 from experiment 1 on
    assert got[("s", "a", 0)]["anytime_auc"] == pytest.approx(0.5)
    assert got[("s", "b", 0)]["anytime_auc"] == pytest.approx(0.5)
