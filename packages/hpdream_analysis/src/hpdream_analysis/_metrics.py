"""Trajectory metrics as polars expressions (definitions: docs/metrics.md).

Two kinds of expression live here:

* **per-experiment** expressions (``running_best``, ``improved``, ``plateau``,
  ``dry_streak``, ``gain``) give one value per row and must see a trajectory's
  rows in order: wrap them in :func:`over_trajectory` (or sort the frame by
  study, agent, run, index and use ``.over(TRAJECTORY)`` yourself);
* **per-trajectory** expressions (``best``, ``success_rate``,
  ``category_entropy``, ...) reduce a trajectory to one value, for
  ``frame.group_by(TRAJECTORY).agg(...)``. They order the rows themselves
  (``order_by="index"``); pass ``order_by=None`` when the frame is already
  sorted, which is faster.

In both kinds the first row in order is the baseline (experiment 0) and
``n`` counts the experiments after it. A rate whose denominator is 0 is null,
never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal

import polars as pl

from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._schema import TRAJECTORY, to_expr

Col = str | pl.Expr
OrderBy = str | pl.Expr | None

#: Outcomes after which a change of category counts as a pivot.
FAILURES: Final = ("discard", "crash")
#: The three success rates of docs/metrics.md, by name.
SUCCESS_VARIANTS: Final = ("kept", "kept_of_completed", "improved")
SuccessVariant = Literal["kept", "kept_of_completed", "improved"]


def _ordered(column: Col, order_by: OrderBy) -> pl.Expr:
    expr = to_expr(column)
    return expr if order_by is None else expr.sort_by(to_expr(order_by))


def _after_baseline(column: Col, order_by: OrderBy) -> pl.Expr:
    return _ordered(column, order_by).slice(1)


def _rate(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(None)


def _position() -> pl.Expr:
    return pl.int_range(pl.len(), dtype=pl.Int64)


def _n_after_baseline() -> pl.Expr:
    return (pl.len().cast(pl.Int64) - 1).clip(lower_bound=0)


# --- per-experiment expressions -----------------------------------------------


def over_trajectory(expr: pl.Expr, *, order_by: Col = "index") -> pl.Expr:
    """Evaluate a per-experiment expression within each trajectory, in ``order_by`` order.

    The result is aligned with the frame's rows, whatever their order.
    """
    return expr.over(list(TRAJECTORY), order_by=to_expr(order_by))


def running_best(val: Col = "val_bpb") -> pl.Expr:
    """b_i = min(b_0, min{y_j : j <= i, y_j not null}): the best value so far (lower is better).

    Null until the first non-null value (only when the baseline crashed).
    """
    return to_expr(val).cum_min().forward_fill()


def improved(val: Col = "val_bpb", *, eps: float = 0.0) -> pl.Expr:
    """improved_i = y_i < b_{i-1} - eps, for i >= 1; false for the baseline and for crashes.

    When no earlier value exists (the baseline crashed), the first measured
    value is an improvement.
    """
    if eps < 0:
        raise StatisticsError(f"eps must be >= 0, got {eps}")
    y = to_expr(val)
    previous = running_best(y).shift(1)
    better = previous.is_null() | (y < previous - eps)
    return ((_position() > 0) & y.is_not_null() & better).fill_null(False)


def _resets(val: Col, eps: float) -> pl.Expr:
    # the baseline and every improvement end a stagnation
    return (_position() == 0) | improved(val, eps=eps)


def plateau(val: Col = "val_bpb", *, eps: float = 0.0) -> pl.Expr:
    """Experiments since the last improvement (the baseline counts as one): 0 on improvements."""
    position = _position()
    last = pl.when(_resets(val, eps)).then(position).otherwise(None).forward_fill()
    return position - last


def dry_streak(val: Col = "val_bpb", *, eps: float = 0.0) -> pl.Expr:
    """An id shared by the rows of one dry streak (a maximal run of non-improving experiments).

    Null on the baseline and on improvements. Ids increase along the trajectory
    but are not consecutive.
    """
    resets = _resets(val, eps)
    return pl.when(resets).then(None).otherwise(resets.cum_sum().cast(pl.Int64))


def gain(val: Col = "val_bpb") -> pl.Expr:
    """(b_0 - b_i) / b_0: the relative gain of the running best over the baseline."""
    best_so_far = running_best(val)
    first = to_expr(val).first()
    return (first - best_so_far) / first


# --- per-trajectory expressions: outcome ----------------------------------------


def experiment_count() -> pl.Expr:
    """n: the experiments after the baseline."""
    return _n_after_baseline()


def baseline_value(val: Col = "val_bpb", *, order_by: OrderBy = "index") -> pl.Expr:
    """b_0 = y_0, the baseline's value (null when the baseline crashed)."""
    return _ordered(val, order_by).first()


def best(val: Col = "val_bpb") -> pl.Expr:
    """b_n: the lowest value of the trajectory, the baseline included (null if none)."""
    return to_expr(val).min()


def improvement(val: Col = "val_bpb", *, order_by: OrderBy = "index") -> pl.Expr:
    """b_0 - b_n (null when the baseline crashed)."""
    return baseline_value(val, order_by=order_by) - best(val)


def relative_gain(val: Col = "val_bpb", *, order_by: OrderBy = "index") -> pl.Expr:
    """(b_0 - b_n) / b_0 (null when the baseline crashed)."""
    return improvement(val, order_by=order_by) / baseline_value(val, order_by=order_by)


def success_rate(
    variant: SuccessVariant = "kept",
    *,
    status: Col = "status",
    val: Col = "val_bpb",
    eps: float = 0.0,
    order_by: OrderBy = "index",
) -> pl.Expr:
    """A success rate over the experiments after the baseline; say which ``variant``:

    * ``"kept"``: kept / n (the protocol's decisions);
    * ``"kept_of_completed"``: kept / (n - crashes);
    * ``"improved"``: improved / n (improved_i = y_i < b_{i-1} - eps).
    """
    n = _n_after_baseline()
    states = _after_baseline(status, order_by)
    kept = (states == "keep").sum()
    if variant == "kept":
        return _rate(kept, n)
    if variant == "kept_of_completed":
        return _rate(kept, n - (states == "crash").sum())
    if variant == "improved":
        flags = improved(_ordered(val, order_by), eps=eps)
        return _rate(flags.sum(), n)
    raise StatisticsError(f"unknown success-rate variant {variant!r}: one of {SUCCESS_VARIANTS}")


def crash_rate(*, status: Col = "status", order_by: OrderBy = "index") -> pl.Expr:
    """crashes / n over the experiments after the baseline."""
    return _rate((_after_baseline(status, order_by) == "crash").sum(), _n_after_baseline())


def anytime_auc(horizon: int, val: Col = "val_bpb", *, order_by: OrderBy = "index") -> pl.Expr:
    """AUC = (1/N) sum_{i=1..N} (b_0 - b_i) / b_0 over a common horizon N.

    A trajectory shorter than N keeps its last running best to the horizon
    (the agent stopped; its best stands). Null when the baseline crashed.
    """
    if horizon < 1:
        raise StatisticsError(f"the horizon must be >= 1 experiment, got {horizon}")
    y = _ordered(val, order_by)
    first = y.first()
    gains = (first - running_best(y)) / first
    window = gains.slice(1, horizon)
    held = gains.head(horizon + 1).last()
    auc = (window.sum() + (horizon - window.len().cast(pl.Int64)) * held) / horizon
    return pl.when(first.is_not_null()).then(auc).otherwise(None)


def time_to_threshold(
    theta: float, val: Col = "val_bpb", *, order_by: OrderBy = "index"
) -> pl.Expr:
    """T(theta) = min{i : b_i <= theta}, the position (0 = baseline); null if never reached."""
    y = _ordered(val, order_by)
    return _position().filter(running_best(y) <= theta).first()


# --- breadth and focus ---------------------------------------------------------------


def categories_explored(col: Col = "category", *, order_by: OrderBy = "index") -> pl.Expr:
    """Distinct categories among the experiments after the baseline (the seed's "breadth")."""
    return _after_baseline(col, order_by).drop_nulls().n_unique().cast(pl.Int64)


def _category_counts(col: Col, order_by: OrderBy) -> tuple[pl.Expr, pl.Expr]:
    values = _after_baseline(col, order_by).drop_nulls()
    return values.unique_counts(), values.len()


def entropy_bits(values: pl.Expr, *, miller_madow: bool = False) -> pl.Expr:
    """Shannon entropy in bits of the distribution of ``values`` (nulls dropped); null if empty.

    ``miller_madow=True`` adds the Miller-Madow bias correction (m - 1) / (2 N ln 2)
    for m distinct values among N.
    """
    present = values.drop_nulls()
    counts = present.unique_counts()
    n = present.len()
    shares = counts / n
    entropy = (shares * (1.0 / shares).log(2)).sum()
    if miller_madow:
        entropy = entropy + (counts.len().cast(pl.Float64) - 1) / (2 * n * math.log(2))
    return pl.when(n > 0).then(entropy).otherwise(None)


def category_entropy(
    col: Col = "category", *, miller_madow: bool = False, order_by: OrderBy = "index"
) -> pl.Expr:
    """H = -sum_k p_k log2 p_k over the category shares after the baseline, in bits.

    ``miller_madow=True`` adds the Miller-Madow bias correction (m - 1) / (2 N ln 2)
    for m observed categories among N experiments. Null when N = 0.
    """
    return entropy_bits(_after_baseline(col, order_by), miller_madow=miller_madow)


def normalized_entropy(
    categories: int,
    col: Col = "category",
    *,
    miller_madow: bool = False,
    order_by: OrderBy = "index",
) -> pl.Expr:
    """J = H / log2 K for a taxonomy of K ``categories`` (the baseline excluded), in [0, 1]."""
    if categories < 2:
        raise StatisticsError(f"normalising needs a taxonomy of >= 2 categories, got {categories}")
    entropy = category_entropy(col, miller_madow=miller_madow, order_by=order_by)
    return entropy / math.log2(categories)


def chance_pivot_rate(col: Col = "category", *, order_by: OrderBy = "index") -> pl.Expr:
    """1 - sum_k p_k^2: the pivot rate expected if categories were drawn independently."""
    counts, n = _category_counts(col, order_by)
    return pl.when(n > 0).then(1.0 - ((counts / n) ** 2).sum()).otherwise(None)


# --- reaction to failure ------------------------------------------------------------


def _pivots(
    col: Col, status: Col, after: Iterable[str], order_by: OrderBy
) -> tuple[pl.Expr, pl.Expr]:
    categories = _after_baseline(col, order_by)
    states = _after_baseline(status, order_by)
    eligible = states.shift(1).is_in(list(after)).fill_null(False)
    changed = (categories != categories.shift(1)).fill_null(False)
    return (eligible & changed).sum(), eligible.sum()


def pivot_rate(
    col: Col = "category",
    *,
    status: Col = "status",
    after: Iterable[str] = FAILURES,
    order_by: OrderBy = "index",
) -> pl.Expr:
    """P(c_i != c_{i-1} | s_{i-1} in ``after``) over i >= 2; null when no such i."""
    pivots, eligible = _pivots(col, status, tuple(after), order_by)
    return _rate(pivots, eligible)


def persistence(
    col: Col = "category",
    *,
    status: Col = "status",
    after: Iterable[str] = FAILURES,
    order_by: OrderBy = "index",
) -> pl.Expr:
    """1 - pivot rate: staying in the category after a failure."""
    return 1.0 - pivot_rate(col, status=status, after=after, order_by=order_by)


# --- stagnation -------------------------------------------------------------------


def _streaks(val: Col, eps: float, order_by: OrderBy) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    resets = _resets(_ordered(val, order_by), eps)
    runs = resets.rle()
    lengths = runs.struct.field("len").cast(pl.Int64)
    streaks = lengths.filter(~runs.struct.field("value"))
    return streaks, lengths, resets


def dry_streak_count(
    val: Col = "val_bpb", *, eps: float = 0.0, order_by: OrderBy = "index"
) -> pl.Expr:
    """Number of dry streaks (maximal runs of non-improving experiments), the open one included."""
    streaks, _, _ = _streaks(val, eps, order_by)
    return streaks.len().cast(pl.Int64)


def max_dry_streak(
    val: Col = "val_bpb", *, eps: float = 0.0, order_by: OrderBy = "index"
) -> pl.Expr:
    """The longest dry streak, the open last one included; 0 when there is none."""
    streaks, _, _ = _streaks(val, eps, order_by)
    return streaks.max().fill_null(0)


def mean_dry_streak(
    val: Col = "val_bpb", *, eps: float = 0.0, order_by: OrderBy = "index"
) -> pl.Expr:
    """The mean dry-streak length, the open last one included; null when there is none."""
    streaks, _, _ = _streaks(val, eps, order_by)
    return streaks.mean()


def open_dry_streak(
    val: Col = "val_bpb", *, eps: float = 0.0, order_by: OrderBy = "index"
) -> pl.Expr:
    """Length of the streak still open at the end of the log (0 if the last row improved)."""
    _, lengths, resets = _streaks(val, eps, order_by)
    return pl.when(resets.last()).then(0).otherwise(lengths.last()).cast(pl.Int64)
