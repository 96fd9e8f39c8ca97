"""Micro-optimisation loops: runs of tiny steps on one parameter (docs/metrics.md)."""

from __future__ import annotations

from typing import Final

import polars as pl

from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._params import ExtractArg, changes_with_delta, index_texts, resolve_extractor
from hpdream_analysis._schema import SCHEMA, TRAJECTORY
from hpdream_analysis._trajectory import experiment_rows

#: Columns of :func:`micro_loops`.
MICRO_LOOPS_SCHEMA: Final = pl.Schema(
    {
        **{k: SCHEMA[k] for k in TRAJECTORY},
        "parameter": pl.String(),
        "start_index": pl.Int64(),
        "end_index": pl.Int64(),
        "start_position": pl.Int64(),
        "end_position": pl.Int64(),
        "length": pl.Int64(),
        "max_delta": pl.Float64(),
    }
)


def check_loop_arguments(min_length: int, tolerance: float) -> None:
    if min_length < 1:
        raise StatisticsError(f"min_length must be >= 1, got {min_length}")
    if not tolerance > 0:
        raise StatisticsError(f"tolerance must be > 0, got {tolerance}")


def loops_of(changes: pl.DataFrame, min_length: int, tolerance: float) -> pl.DataFrame:
    """The loops in a :func:`param_changes` table (eager)."""
    keys = [*TRAJECTORY, "parameter"]
    return (
        changes.lazy()
        .filter(pl.col("delta") < tolerance)
        .group_by([*keys, "position"])
        .agg(index=pl.col("index").first(), delta=pl.col("delta").max())
        .sort([*keys, "position"])
        .with_columns(_run=pl.col("position") - pl.int_range(pl.len(), dtype=pl.Int64).over(keys))
        .group_by([*keys, "_run"])
        .agg(
            start_index=pl.col("index").first(),
            end_index=pl.col("index").last(),
            start_position=pl.col("position").first(),
            end_position=pl.col("position").last(),
            length=pl.len().cast(pl.Int64),
            max_delta=pl.col("delta").max(),
        )
        .filter(pl.col("length") >= min_length)
        .sort([*TRAJECTORY, "start_position", "parameter"])
        .select(MICRO_LOOPS_SCHEMA.names())
        .collect()
    )


def micro_loops(
    frame: pl.LazyFrame,
    *,
    min_length: int = 3,
    tolerance: float = 0.01,
    extract: ExtractArg = None,
) -> pl.LazyFrame:
    """Every micro-optimisation loop: >= ``min_length`` consecutive experiments that change
    the same numeric parameter by a relative step delta = |v' - v| / |v| < ``tolerance``.

    One row per loop: study, agent, run, ``parameter``, ``start_index``,
    ``end_index``, ``start_position``, ``end_position``, ``length`` and
    ``max_delta``. Parameter changes come from :func:`param_changes`
    (``extract`` chooses the source). Computed in one batch when collected.
    """
    check_loop_arguments(min_length, tolerance)
    resolve_extractor(extract)
    rows = experiment_rows(frame, "micro_loops")

    def compute(df: pl.DataFrame) -> pl.DataFrame:
        return loops_of(changes_with_delta(index_texts(df, extract)), min_length, tolerance)

    return rows.map_batches(compute, schema=MICRO_LOOPS_SCHEMA)
