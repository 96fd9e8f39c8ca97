"""Whole-trajectory views: per-experiment annotations, dry streaks, transitions, rolling entropy.

Each function takes a LazyFrame of experiments and returns a LazyFrame; nothing
is computed until the caller collects.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._metrics import (
    FAILURES,
    dry_streak,
    entropy_bits,
    gain,
    improved,
    plateau,
    running_best,
)
from hpdream_analysis._schema import SCHEMA, TRAJECTORY, require
from hpdream_core import STATUSES

_KEYS = list(TRAJECTORY)


def sort_trajectories(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The frame sorted by study, agent, run, index (the order every metric reads)."""
    require(frame, [*TRAJECTORY, "index"], "sorting trajectories")
    return frame.sort([*TRAJECTORY, "index"], maintain_order=True)


def with_position(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Sorted by trajectory and index, with ``position`` (0 = baseline) per trajectory."""
    return sort_trajectories(frame).with_columns(
        position=pl.int_range(pl.len(), dtype=pl.Int64).over(_KEYS)
    )


def experiment_rows(frame: pl.LazyFrame, what: str, *, presorted: bool = False) -> pl.LazyFrame:
    """The experiments after the baseline, for the repeat and parameter rules.

    Sorted by trajectory and index; keys cast to core's types; with
    ``position`` (1, 2, ...), ``_row`` (0, 1, ... over the frame), ``_tid`` (a
    trajectory number) and a null description read as empty text.
    """
    schema = require(frame, [*TRAJECTORY, "index", "description"], what)
    ordered = frame if presorted else sort_trajectories(frame)
    optional = [c for c in ("hypothesis", "diff") if c in schema]
    return (
        ordered.select(
            *[pl.col(k).cast(SCHEMA[k]) for k in TRAJECTORY],
            pl.col("index").cast(pl.Int64),
            pl.col("description").cast(pl.String).fill_null(""),
            *[pl.col(c).cast(pl.String) for c in optional],
        )
        .with_columns(
            position=pl.int_range(pl.len(), dtype=pl.Int64).over(_KEYS),
            _tid=pl.struct(_KEYS).rle_id().cast(pl.Int64),
        )
        .filter(pl.col("position") >= 1)
        .with_row_index("_row")
        .with_columns(pl.col("_row").cast(pl.Int64))
    )


def annotate(frame: pl.LazyFrame, *, eps: float = 0.0, window: int = 10) -> pl.LazyFrame:
    """The experiments, sorted by trajectory and index, with derived columns for charts.

    Added columns (see docs/metrics.md):

    * ``position``: order in the trajectory, 0 for the baseline;
    * ``running_best``: b_i; ``gain``: (b_0 - b_i) / b_0;
    * ``improved``: y_i < b_{i-1} - ``eps``; ``plateau``: experiments since the
      last improvement; ``dry_streak``: id of the dry streak the row belongs to;
    * ``prev_category``, ``prev_status``: those of the experiment before;
    * ``pivot``: for i >= 2 after a discard or crash, whether the category
      changed (null elsewhere);
    * ``rolling_success``: kept share of the last ``window`` experiments after
      the baseline (null on the baseline).
    """
    if window < 1:
        raise StatisticsError(f"window must be >= 1, got {window}")
    require(frame, [*TRAJECTORY, "index", "status", "val_bpb", "category"], "annotate")
    keys = _KEYS
    position = pl.col("position")
    after_failure = pl.col("prev_status").is_in(list(FAILURES))
    kept = pl.when(position > 0).then((pl.col("status") == "keep").cast(pl.Float64))
    return (
        with_position(frame)
        .with_columns(
            running_best=running_best().over(keys),
            gain=gain().over(keys),
            improved=improved(eps=eps).over(keys),
            plateau=plateau(eps=eps).over(keys),
            dry_streak=dry_streak(eps=eps).over(keys),
            prev_category=pl.col("category").shift(1).over(keys),
            prev_status=pl.col("status").shift(1).over(keys),
            rolling_success=kept.rolling_mean(window, min_samples=1).over(keys),
        )
        .with_columns(
            pivot=pl.when((position >= 2) & after_failure)
            .then(pl.col("category") != pl.col("prev_category"))
            .otherwise(None)
        )
    )


def dry_streaks(frame: pl.LazyFrame, *, eps: float = 0.0) -> pl.LazyFrame:
    """Every dry streak: a maximal run of non-improving experiments after the baseline.

    One row per streak with ``streak`` (1, 2, ... along the trajectory),
    ``start_index``, ``end_index``, ``length`` and ``open`` (the log ends inside
    it, so it may go on). Trajectories without a streak have no rows.
    """
    annotated = annotate(frame, eps=eps)
    last = annotated.group_by(_KEYS).agg(last_index=pl.col("index").max())
    return (
        annotated.filter(pl.col("dry_streak").is_not_null())
        .group_by([*_KEYS, "dry_streak"])
        .agg(
            start_index=pl.col("index").min(),
            end_index=pl.col("index").max(),
            length=pl.len().cast(pl.Int64),
        )
        .join(last, on=_KEYS, how="left", nulls_equal=True)
        .sort([*_KEYS, "start_index"])
        .with_columns(
            streak=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(_KEYS),
            open=pl.col("end_index") == pl.col("last_index"),
        )
        .select(*_KEYS, "streak", "start_index", "end_index", "length", "open")
    )


def _statuses(after: str | Iterable[str] | None) -> list[str] | None:
    if after is None:
        return None
    if after == "failure":
        return list(FAILURES)
    chosen = [after] if isinstance(after, str) else list(after)
    unknown = [s for s in chosen if s not in STATUSES]
    if unknown:
        raise StatisticsError(f"after: unknown status(es) {unknown}; use {STATUSES} or 'failure'")
    return chosen


def transition_matrix(
    frame: pl.LazyFrame,
    *,
    after: str | Iterable[str] | None = None,
    col: str = "category",
    status: str = "status",
) -> pl.LazyFrame:
    """T_o[k, l] = #(c_{i-1}=k, c_i=l, s_{i-1} in o) / #(c_{i-1}=k, s_{i-1} in o), per trajectory.

    ``after`` is the previous outcome o: a status (``"keep"``, ``"discard"``,
    ``"crash"``), ``"failure"`` (discard or crash), several statuses, or None
    for all transitions. Pairs start at i = 2 (the baseline is not a choice).
    Columns: study, agent, run, ``from_<col>``, ``to_<col>``, ``count``,
    ``total`` (transitions out of ``from_<col>``) and ``probability``. Only
    observed transitions have rows; the missing cells are 0.
    """
    require(frame, [*TRAJECTORY, "index", col, status], "transition_matrix")
    source, target = f"from_{col}", f"to_{col}"
    pairs = (
        with_position(frame)
        .with_columns(
            pl.col(col).shift(1).over(_KEYS).alias(source),
            pl.col(status).shift(1).over(_KEYS).alias("_prev_status"),
        )
        .filter(pl.col("position") >= 2)
    )
    statuses = _statuses(after)
    if statuses is not None:
        pairs = pairs.filter(pl.col("_prev_status").is_in(statuses))
    return (
        pairs.group_by([*_KEYS, source, pl.col(col).alias(target)])
        .agg(count=pl.len().cast(pl.Int64))
        .with_columns(total=pl.col("count").sum().over([*_KEYS, source]))
        .with_columns(probability=pl.col("count") / pl.col("total"))
        .sort([*_KEYS, source, target])
    )


def rolling_entropy(
    frame: pl.LazyFrame, window: int, *, col: str = "category", miller_madow: bool = False
) -> pl.LazyFrame:
    """Category entropy (bits) of each window of ``window`` consecutive experiments.

    One row per experiment after the baseline: study, agent, run, index,
    ``position`` and ``entropy_bits`` of the experiments ``position - window + 1
    .. position``; null until a trajectory has ``window`` experiments.
    """
    if window < 1:
        raise StatisticsError(f"window must be >= 1, got {window}")
    require(frame, [*TRAJECTORY, "index", col], "rolling_entropy")
    rows = (
        with_position(frame)
        .filter(pl.col("position") >= 1)
        .select(*_KEYS, "index", "position", col)
    )
    windows = rows.rolling(index_column="position", period=f"{window}i", group_by=_KEYS).agg(
        entropy_bits=pl.when(pl.len() == window)
        .then(entropy_bits(pl.col(col), miller_madow=miller_madow))
        .otherwise(None)
    )
    return rows.join(
        windows, on=[*_KEYS, "position"], how="left", nulls_equal=True, maintain_order="left"
    ).select(*_KEYS, "index", "position", "entropy_bits")
