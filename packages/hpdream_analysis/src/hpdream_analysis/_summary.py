"""One row of metrics per trajectory."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Final

import polars as pl

from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._metrics import (
    anytime_auc,
    baseline_value,
    best,
    categories_explored,
    category_entropy,
    chance_pivot_rate,
    crash_rate,
    dry_streak_count,
    experiment_count,
    improved,
    max_dry_streak,
    mean_dry_streak,
    open_dry_streak,
    pivot_rate,
    running_best,
    success_rate,
)
from hpdream_analysis._micro import check_loop_arguments, loops_of
from hpdream_analysis._params import ExtractArg, changes_with_delta, index_texts, resolve_extractor
from hpdream_analysis._repeats import RULES, Rule, check_repeat_arguments, find_repeats
from hpdream_analysis._schema import SCHEMA, TRAJECTORY, require
from hpdream_analysis._trajectory import experiment_rows, sort_trajectories
from hpdream_core import BASELINE, default_taxonomy

#: Categories of core's default taxonomy (docs/taxonomy.md), the baseline excluded:
#: hyperparameters, architecture, optimizer, schedule, tokenizer, other.
DEFAULT_CATEGORIES: Final = sum(1 for c in default_taxonomy() if c.key != BASELINE)

#: The columns :func:`summarize` returns, in order.
SUMMARY_COLUMNS: Final = (
    "study",
    "agent",
    "run",
    "experiments",
    "kept",
    "crashes",
    "improvements",
    "baseline_val_bpb",
    "best_val_bpb",
    "improvement",
    "relative_gain",
    "success_rate",
    "success_rate_completed",
    "improved_rate",
    "crash_rate",
    "anytime_auc",
    "categories_explored",
    "category_entropy_bits",
    "category_entropy_normalized",
    "chance_pivot_rate",
    "pivot_rate",
    "persistence",
    "repeats",
    "repeat_rate",
    "dry_streaks",
    "max_dry_streak",
    "mean_dry_streak",
    "open_dry_streak",
    "micro_loops",
    "micro_loop_steps",
)


def summarize(
    frame: pl.LazyFrame,
    *,
    eps: float = 0.0,
    horizon: int | None = None,
    categories: int = DEFAULT_CATEGORIES,
    miller_madow: bool = False,
    repeat_threshold: float = 0.8,
    repeat_rules: Iterable[Rule] = RULES,
    micro_min_length: int = 3,
    micro_tolerance: float = 0.01,
    extract: ExtractArg = None,
) -> pl.LazyFrame:
    """One row per trajectory (study, agent, run) with the metrics of docs/metrics.md.

    Columns (:data:`SUMMARY_COLUMNS`): counts (``experiments`` n after the
    baseline, ``kept``, ``crashes``, ``improvements``); outcome
    (``baseline_val_bpb``, ``best_val_bpb``, ``improvement``, ``relative_gain``);
    the three success rates (``success_rate`` = kept / n,
    ``success_rate_completed`` = kept / (n - crashes), ``improved_rate`` =
    improved / n), ``crash_rate``; ``anytime_auc`` over ``horizon`` experiments
    (default: the longest trajectory's n, so all share it); breadth
    (``categories_explored``, ``category_entropy_bits``,
    ``category_entropy_normalized`` for a taxonomy of ``categories``);
    reaction to failure (``chance_pivot_rate``, ``pivot_rate``,
    ``persistence``); repeats (``repeats``, ``repeat_rate``); stagnation
    (``dry_streaks``, ``max_dry_streak``, ``mean_dry_streak``,
    ``open_dry_streak``); micro-optimisation (``micro_loops``,
    ``micro_loop_steps``: experiments in loops, summed over loops).

    ``eps`` is the improvement tolerance; ``miller_madow`` corrects the entropy.
    The rest go to :func:`repeats` and :func:`micro_loops`.
    """
    if categories < 2:
        raise StatisticsError(f"categories must be >= 2 (the taxonomy's size), got {categories}")
    if horizon is not None and horizon < 1:
        raise StatisticsError(f"the horizon must be >= 1 experiment, got {horizon}")
    rules = check_repeat_arguments(repeat_threshold, repeat_rules)
    check_loop_arguments(micro_min_length, micro_tolerance)
    resolve_extractor(extract)
    require(
        frame,
        [*TRAJECTORY, "index", "status", "val_bpb", "category", "description"],
        "summarize",
    )
    keys = list(TRAJECTORY)
    ordered = sort_trajectories(frame)
    y = pl.col("val_bpb")
    states = pl.col("status").slice(1)
    first = y.first()
    gains = (first - running_best(y)) / first
    entropy = category_entropy(miller_madow=miller_madow, order_by=None)
    pivots = pivot_rate(order_by=None)
    if horizon is None:
        auc = [
            (gains.slice(1).sum()).alias("_gain_sum"),
            gains.last().alias("_gain_last"),
        ]
    else:
        auc = [anytime_auc(horizon, order_by=None).alias("anytime_auc")]
    metrics = ordered.group_by(keys, maintain_order=True).agg(
        experiment_count().alias("experiments"),
        (states == "keep").sum().cast(pl.Int64).alias("kept"),
        (states == "crash").sum().cast(pl.Int64).alias("crashes"),
        improved(y, eps=eps).sum().cast(pl.Int64).alias("improvements"),
        baseline_value(order_by=None).alias("baseline_val_bpb"),
        best().alias("best_val_bpb"),
        success_rate("kept", order_by=None).alias("success_rate"),
        success_rate("kept_of_completed", order_by=None).alias("success_rate_completed"),
        success_rate("improved", eps=eps, order_by=None).alias("improved_rate"),
        crash_rate(order_by=None).alias("crash_rate"),
        *auc,
        categories_explored(order_by=None).alias("categories_explored"),
        entropy.alias("category_entropy_bits"),
        chance_pivot_rate(order_by=None).alias("chance_pivot_rate"),
        pivots.alias("pivot_rate"),
        dry_streak_count(eps=eps, order_by=None).alias("dry_streaks"),
        max_dry_streak(eps=eps, order_by=None).alias("max_dry_streak"),
        mean_dry_streak(eps=eps, order_by=None).alias("mean_dry_streak"),
        open_dry_streak(eps=eps, order_by=None).alias("open_dry_streak"),
    )
    if horizon is None:
        common = pl.col("experiments").max()
        held = (common - pl.col("experiments")) * pl.col("_gain_last")
        metrics = metrics.with_columns(
            anytime_auc=pl.when(common > 0)
            .then((pl.col("_gain_sum") + held) / common)
            .otherwise(None)
        )
    counts = experiment_rows(ordered, "summarize", presorted=True).map_batches(
        functools.partial(
            _event_counts,
            threshold=repeat_threshold,
            rules=rules,
            min_length=micro_min_length,
            tolerance=micro_tolerance,
            extract=extract,
        ),
        schema=_COUNTS_SCHEMA,
    )
    n = pl.col("experiments")
    return (
        metrics.join(counts, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            pl.col("repeats", "micro_loops", "micro_loop_steps").fill_null(0),
            improvement=pl.col("baseline_val_bpb") - pl.col("best_val_bpb"),
            category_entropy_normalized=pl.col("category_entropy_bits") / math.log2(categories),
            persistence=1.0 - pl.col("pivot_rate"),
        )
        .with_columns(
            relative_gain=pl.col("improvement") / pl.col("baseline_val_bpb"),
            repeat_rate=pl.when(n > 0).then(pl.col("repeats") / n).otherwise(None),
        )
        .select(SUMMARY_COLUMNS)
    )


_COUNTS_SCHEMA: Final = pl.Schema(
    {
        **{k: SCHEMA[k] for k in TRAJECTORY},
        "repeats": pl.Int64(),
        "micro_loops": pl.Int64(),
        "micro_loop_steps": pl.Int64(),
    }
)


def _event_counts(
    rows: pl.DataFrame,
    *,
    threshold: float,
    rules: tuple[Rule, ...],
    min_length: int,
    tolerance: float,
    extract: ExtractArg,
) -> pl.DataFrame:
    """Repeats and micro-loops per trajectory, with the parameter changes extracted once."""
    keys = list(TRAJECTORY)
    indexed = index_texts(rows, extract)
    found = find_repeats(indexed, threshold=threshold, rules=rules)
    loops = loops_of(changes_with_delta(indexed), min_length, tolerance)
    repeat_counts = found.group_by(keys).agg(repeats=pl.len().cast(pl.Int64))
    loop_counts = loops.group_by(keys).agg(
        micro_loops=pl.len().cast(pl.Int64), micro_loop_steps=pl.col("length").sum()
    )
    return (
        rows.lazy()
        .select(keys)
        .unique()
        .join(repeat_counts.lazy(), on=keys, how="left", nulls_equal=True)
        .join(loop_counts.lazy(), on=keys, how="left", nulls_equal=True)
        .select(_COUNTS_SCHEMA.names())
        .collect()
    )
