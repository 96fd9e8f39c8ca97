"""Cross-agent statistics: correlations with exact permutation p-values, Jensen-Shannon
divergence, two-agent rate tests, block-bootstrap intervals, replicate aggregation and
paired Wilcoxon tests.

The statistics return a small ``polars.DataFrame``: they collect the few
columns they need (the docstrings say so). :func:`jensen_shannon` stays lazy.
A statistic that the data leave undefined (fewer than 3 points, a constant
column, no shared runs) is null, with the reason in a ``note`` column; wrong
arguments (an unknown column or agent) raise :class:`StatisticsError` or
:class:`ColumnError`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import polars as pl
from scipy import stats

from hpdream_analysis._exceptions import ColumnError, StatisticsError
from hpdream_analysis._params import ExtractArg
from hpdream_analysis._repeats import repeats
from hpdream_analysis._schema import TRAJECTORY, require
from hpdream_analysis._trajectory import annotate, with_position

Direction = Literal["less", "greater"]
Event = Literal["keep", "crash", "improved", "repeat"]
#: Events a rate can count, among the experiments after the baseline.
EVENTS: Final = ("keep", "crash", "improved", "repeat")
#: Tolerance when comparing a permuted statistic with the observed one.
_TIE: Final = 1e-9

FrameLike = pl.LazyFrame | pl.DataFrame


def _lazy(frame: FrameLike) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


# --- correlation ---------------------------------------------------------------------


def _pearson_many(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson r of x with each row of ys."""
    xc = x - x.mean()
    yc = ys - ys.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xc**2).sum()) * np.sqrt((yc**2).sum(axis=1))
    return np.asarray((yc @ xc) / denominator)


def _kendall_many(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of x with each row of ys (O(rows n^2), in chunks)."""
    i, j = np.triu_indices(len(x), k=1)
    sx = np.sign(x[i] - x[j])
    tied_x = float((sx == 0).sum())
    pairs = float(len(i))
    out = np.empty(len(ys))
    chunk = max(1, 2_000_000 // max(1, len(i)))
    for start in range(0, len(ys), chunk):
        block = ys[start : start + chunk]
        sy = np.sign(block[:, i] - block[:, j])
        tied_y = (sy == 0).sum(axis=1)
        out[start : start + chunk] = (sy @ sx) / np.sqrt((pairs - tied_x) * (pairs - tied_y))
    return out


def _permutations(
    n: int, exact_limit: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    if n <= exact_limit:
        return np.array(list(itertools.permutations(range(n))), dtype=np.int64), True
    return np.argsort(rng.random((count, n)), axis=1), False


def _permutation_p(
    observed: float, permuted: np.ndarray, direction: Direction, exact: bool
) -> tuple[float, float]:
    extreme = permuted <= observed + _TIE if direction == "less" else permuted >= observed - _TIE
    both = np.abs(permuted) >= abs(observed) - _TIE
    if exact:
        return float(extreme.mean()), float(both.mean())
    total = len(permuted) + 1
    return float((extreme.sum() + 1) / total), float((both.sum() + 1) / total)


def _null_correlation(x: str, y: str, n: int, note: str) -> pl.DataFrame:
    row: dict[str, Any] = {"x": x, "y": y, "n": n}
    for name in _CORRELATION_COLUMNS[3:]:
        row[name] = None
    row["note"] = note
    return pl.DataFrame([row], schema=_CORRELATION_SCHEMA)


_CORRELATION_SCHEMA: Final = pl.Schema(
    {
        "x": pl.String(),
        "y": pl.String(),
        "n": pl.Int64(),
        "pearson_r": pl.Float64(),
        "pearson_p": pl.Float64(),
        "permutation_p_one_sided": pl.Float64(),
        "permutation_p_two_sided": pl.Float64(),
        "spearman_rho": pl.Float64(),
        "spearman_p": pl.Float64(),
        "spearman_permutation_p_one_sided": pl.Float64(),
        "spearman_permutation_p_two_sided": pl.Float64(),
        "kendall_tau": pl.Float64(),
        "kendall_p": pl.Float64(),
        "kendall_permutation_p_one_sided": pl.Float64(),
        "kendall_permutation_p_two_sided": pl.Float64(),
        "loo_min": pl.Float64(),
        "loo_max": pl.Float64(),
        "direction": pl.String(),
        "permutation_method": pl.String(),
        "permutations": pl.Int64(),
        "note": pl.String(),
    }
)
_CORRELATION_COLUMNS: Final = tuple(_CORRELATION_SCHEMA.names())


def correlate(
    frame: FrameLike,
    x: str,
    y: str,
    *,
    direction: Direction | None = None,
    exact_limit: int = 8,
    permutations: int = 10_000,
    seed: int = 0,
) -> pl.DataFrame:
    """The correlation of column ``x`` with column ``y`` (e.g. breadth vs best val_bpb).

    Collects the two columns (rows with a null or non-finite value are left
    out) and returns one row:

    * ``pearson_r``, ``pearson_p`` (two-sided, t distribution), ``spearman_rho``,
      ``spearman_p``, ``kendall_tau`` (tau-b), ``kendall_p`` (scipy);
    * permutation p-values of each coefficient, ``*_one_sided`` in ``direction``
      and ``*_two_sided`` (|coefficient| as large): **exact** over all n!
      pairings when n <= ``exact_limit`` (ties make the smallest one-sided p
      larger than 1/n!), else Monte Carlo over ``permutations`` random pairings,
      (k + 1) / (permutations + 1). The unprefixed ``permutation_p_*`` are
      Pearson's;
    * ``loo_min``, ``loo_max``: the range of Pearson's r leaving out one row;
    * ``direction``: ``"less"`` (negative association) or ``"greater"``; None
      takes the sign of the observed r;
    * ``note``: why the statistics are null (fewer than 3 rows, a constant column).
    """
    if exact_limit > 9:
        raise StatisticsError(
            f"exact_limit {exact_limit} would enumerate {math.factorial(exact_limit):,} pairings; "
            "use <= 9"
        )
    if permutations < 1:
        raise StatisticsError(f"permutations must be >= 1, got {permutations}")
    lazy = _lazy(frame)
    schema = require(lazy, [x, y], "correlate")
    for name in (x, y):
        if not schema[name].is_numeric() and schema[name] != pl.Boolean:
            raise ColumnError("correlate", [name], f"is {schema[name]}, not numeric")
    data = (
        lazy.select(pl.col(x).cast(pl.Float64).alias("x"), pl.col(y).cast(pl.Float64).alias("y"))
        .filter(pl.col("x").is_finite() & pl.col("y").is_finite())
        .collect()
    )
    xs = data.get_column("x").to_numpy()
    ys = data.get_column("y").to_numpy()
    n = len(xs)
    if n < 3:
        return _null_correlation(x, y, n, f"{n} complete rows; a correlation needs at least 3")
    for name, values in ((x, xs), (y, ys)):
        if np.ptp(values) == 0:
            return _null_correlation(x, y, n, f"{name!r} is constant; the correlation is undefined")
    pearson = stats.pearsonr(xs, ys)
    spearman = stats.spearmanr(xs, ys)
    kendall = stats.kendalltau(xs, ys)
    chosen: Direction = direction or ("less" if pearson.statistic < 0 else "greater")
    rng = np.random.default_rng(seed)
    order, exact = _permutations(n, exact_limit, permutations, rng)
    rank_x, rank_y = stats.rankdata(xs), stats.rankdata(ys)
    identity = np.arange(n)[None, :]
    row: dict[str, Any] = {
        "x": x,
        "y": y,
        "n": n,
        "pearson_r": float(pearson.statistic),
        "pearson_p": float(pearson.pvalue),
        "spearman_rho": float(spearman.statistic),
        "spearman_p": float(spearman.pvalue),
        "kendall_tau": float(kendall.statistic),
        "kendall_p": float(kendall.pvalue),
        "direction": chosen,
        "permutation_method": "exact" if exact else "monte carlo",
        "permutations": len(order),
        "note": None,
    }
    tests: tuple[
        tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray], np.ndarray, np.ndarray], ...
    ] = (
        ("", _pearson_many, xs, ys),
        ("spearman_", _pearson_many, rank_x, rank_y),
        ("kendall_", _kendall_many, xs, ys),
    )
    for prefix, statistic, a, b in tests:
        observed = float(statistic(a, b[identity])[0])
        one, two = _permutation_p(observed, statistic(a, b[order]), chosen, exact)
        row[f"{prefix}permutation_p_one_sided"] = one
        row[f"{prefix}permutation_p_two_sided"] = two
    loo = []
    for i in range(n):
        keep = np.arange(n) != i
        if np.ptp(xs[keep]) > 0 and np.ptp(ys[keep]) > 0:
            loo.append(float(_pearson_many(xs[keep], ys[keep][None, :])[0]))
    row["loo_min"] = min(loo) if loo else None
    row["loo_max"] = max(loo) if loo else None
    return pl.DataFrame([row], schema=_CORRELATION_SCHEMA)


# --- Jensen-Shannon divergence --------------------------------------------------------


def category_shares(
    frame: pl.LazyFrame, *, by: Sequence[str] = ("study", "agent"), col: str = "category"
) -> pl.LazyFrame:
    """Each group's distribution over ``col`` among experiments after the baseline.

    Columns: the ``by`` columns, ``col``, ``count`` and ``share``.
    """
    keys = list(by)
    require(frame, [*TRAJECTORY, "index", col, *keys], "category_shares")
    return (
        with_position(frame)
        .filter(pl.col("position") >= 1)
        .group_by([*keys, col])
        .agg(count=pl.len().cast(pl.Int64))
        .with_columns(share=pl.col("count") / pl.col("count").sum().over(keys))
        .sort([*keys, col])
    )


def jensen_shannon(
    frame: pl.LazyFrame, *, by: Sequence[str] = ("study", "agent"), col: str = "category"
) -> pl.LazyFrame:
    """Jensen-Shannon divergence (bits, in [0, 1]) between the category distributions of groups.

    One row per unordered pair of ``by`` groups that have experiments after the
    baseline: ``<by>_a``, ``<by>_b`` and ``js_divergence``
    = (KL(P || M) + KL(Q || M)) / 2 with M = (P + Q) / 2, logarithms base 2.
    (``scipy.spatial.distance.jensenshannon`` returns the square root of it.)
    """
    keys = list(by)
    if not keys:
        raise StatisticsError("jensen_shannon needs at least one grouping column in by")
    shares = category_shares(frame, by=keys, col=col)
    groups = (
        shares.select(keys)
        .unique()
        .sort(keys)
        .with_columns(_g=pl.int_range(pl.len(), dtype=pl.Int64))
    )
    indexed = shares.join(groups, on=keys, nulls_equal=True).select("_g", col, "share")
    pairs = (
        groups.select("_g")
        .join(groups.select(pl.col("_g").alias("_g_b")), how="cross")
        .filter(pl.col("_g") < pl.col("_g_b"))
    )

    def half(left: str, right: str) -> pl.LazyFrame:
        # sum over the categories of the left distribution of p/2 log2(2p / (p + q))
        p = indexed.rename({"_g": left, "share": "_p"})
        q = indexed.rename({"_g": right, "share": "_q"})
        return (
            pairs.join(p, on=left)
            .join(q, on=[right, col], how="left")
            .with_columns(pl.col("_q").fill_null(0.0))
            .select(
                "_g",
                "_g_b",
                (
                    0.5 * pl.col("_p") * (2 * pl.col("_p") / (pl.col("_p") + pl.col("_q"))).log(2)
                ).alias("_term"),
            )
        )

    names_a = groups.rename({**{k: f"{k}_a" for k in keys}})
    names_b = groups.rename({**{k: f"{k}_b" for k in keys}, "_g": "_g_b"})
    return (
        pl.concat([half("_g", "_g_b"), half("_g_b", "_g")])
        .group_by("_g", "_g_b")
        .agg(js_divergence=pl.col("_term").sum().clip(0.0, 1.0))
        .join(names_a, on="_g")
        .join(names_b, on="_g_b")
        .sort("_g", "_g_b")
        .select(*[f"{k}_a" for k in keys], *[f"{k}_b" for k in keys], "js_divergence")
    )


# --- rates ----------------------------------------------------------------------------


def event_flags(
    frame: pl.LazyFrame, event: Event, *, eps: float = 0.0, extract: ExtractArg = None
) -> pl.LazyFrame:
    """The experiments after the baseline with a boolean ``event`` column, in trajectory order.

    ``event``: ``"keep"`` or ``"crash"`` (the status), ``"improved"`` (y_i <
    b_{i-1} - eps) or ``"repeat"`` (the experiment repeats an earlier one, see
    :func:`repeats`).
    """
    if event not in EVENTS:
        raise StatisticsError(f"unknown event {event!r}: one of {EVENTS}")
    annotated = annotate(frame, eps=eps).filter(pl.col("position") >= 1)
    if event == "improved":
        flag = pl.col("improved")
    elif event == "repeat":
        found = repeats(frame, extract=extract).select(*TRAJECTORY, "index", _hit=pl.lit(True))
        annotated = annotated.join(
            found, on=[*TRAJECTORY, "index"], how="left", nulls_equal=True, maintain_order="left"
        )
        flag = pl.col("_hit").fill_null(False)
    else:
        flag = pl.col("status") == event
    return annotated.with_columns(flag.alias("event"))


def _rate(events: int, n: int) -> float | None:
    return events / n if n else None


def _rate_tests(events_a: int, n_a: int, events_b: int, n_b: int) -> dict[str, Any]:
    rate_a, rate_b = _rate(events_a, n_a), _rate(events_b, n_b)
    out: dict[str, Any] = {
        "events_a": events_a,
        "n_a": n_a,
        "rate_a": rate_a,
        "events_b": events_b,
        "n_b": n_b,
        "rate_b": rate_b,
        "difference": None,
        "odds_ratio": None,
        "fisher_p": None,
        "permutation_p": None,
        "note": None,
    }
    if not n_a or not n_b:
        out["note"] = "an agent has no experiments after the baseline"
        return out
    assert rate_a is not None and rate_b is not None
    out["difference"] = rate_a - rate_b
    table = [[events_a, n_a - events_a], [events_b, n_b - events_b]]
    fisher = stats.fisher_exact(table)
    out["odds_ratio"] = float(fisher.statistic)
    out["fisher_p"] = float(fisher.pvalue)
    # exact permutation test of the difference in rates: with the margins fixed,
    # the events falling to a follow the hypergeometric distribution
    total, events = n_a + n_b, events_a + events_b
    support = np.arange(max(0, events - n_b), min(events, n_a) + 1)
    differences = support / n_a - (events - support) / n_b
    pmf = stats.hypergeom.pmf(support, total, events, n_a)
    extreme = np.abs(differences) >= abs(out["difference"]) - _TIE
    out["permutation_p"] = float(min(1.0, pmf[extreme].sum()))
    return out


_RATES_SCHEMA: Final = pl.Schema(
    {
        "a": pl.String(),
        "b": pl.String(),
        "event": pl.String(),
        "events_a": pl.Int64(),
        "n_a": pl.Int64(),
        "rate_a": pl.Float64(),
        "events_b": pl.Int64(),
        "n_b": pl.Int64(),
        "rate_b": pl.Float64(),
        "difference": pl.Float64(),
        "odds_ratio": pl.Float64(),
        "fisher_p": pl.Float64(),
        "permutation_p": pl.Float64(),
        "note": pl.String(),
    }
)


def compare_rates(
    frame: pl.LazyFrame,
    a: str,
    b: str,
    *,
    event: Event = "keep",
    by: str = "agent",
    eps: float = 0.0,
    extract: ExtractArg = None,
) -> pl.DataFrame:
    """Test whether two agents (values ``a``, ``b`` of column ``by``) differ in the rate of ``event``.

    Pools each agent's experiments after the baseline (all its runs) and
    collects the counts. Returns one row: counts, rates, ``difference``
    (rate_a - rate_b), ``odds_ratio`` and ``fisher_p`` (Fisher's exact test,
    two-sided) and ``permutation_p`` (exact two-sided permutation test of the
    difference in rates: relabelling experiments between the agents).
    """
    require(frame, [by], "compare_rates")
    flags = event_flags(frame, event, eps=eps, extract=extract)
    counts = (
        flags.filter(pl.col(by).is_in([a, b]))
        .group_by(by)
        .agg(events=pl.col("event").sum().cast(pl.Int64), n=pl.len().cast(pl.Int64))
        .collect()
    )
    found = {row[by]: (row["events"], row["n"]) for row in counts.iter_rows(named=True)}
    missing = [v for v in (a, b) if v not in found]
    if missing:
        raise StatisticsError(f"no experiments after the baseline for {by} {missing}")
    result = _rate_tests(*found[a], *found[b])
    return pl.DataFrame([{"a": a, "b": b, "event": event, **result}], schema=_RATES_SCHEMA)


def _moving_block_rates(
    flags: np.ndarray, block: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Rates of ``n_boot`` moving-block bootstrap resamples of a 0/1 sequence."""
    n = len(flags)
    length = min(block, n)
    blocks = math.ceil(n / length)
    prefix = np.concatenate([[0.0], np.cumsum(flags, dtype=np.float64)])
    starts = rng.integers(0, n - length + 1, size=(n_boot, blocks))
    sizes = np.full(blocks, length)
    sizes[-1] = n - length * (blocks - 1)
    sums = prefix[starts + sizes] - prefix[starts]
    return np.asarray(sums.sum(axis=1) / n)


def block_bootstrap(
    frame: pl.LazyFrame,
    *,
    event: Event = "keep",
    block: int = 10,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    eps: float = 0.0,
    extract: ExtractArg = None,
) -> pl.DataFrame:
    """Moving-block bootstrap confidence interval of a rate within each trajectory.

    Experiments after the baseline are resampled in blocks of ``block``
    consecutive experiments (keeping short-range dependence), ``n_boot`` times;
    the interval is the percentile interval at ``level``. Collects the event
    flags. One row per trajectory: study, agent, run, ``event``, ``n``,
    ``rate``, ``ci_low``, ``ci_high``, ``block`` (shortened to n when longer).
    """
    _check_level(level)
    if block < 1 or n_boot < 1:
        raise StatisticsError(f"block and n_boot must be >= 1, got {block} and {n_boot}")
    flags = (
        event_flags(frame, event, eps=eps, extract=extract)
        .group_by(list(TRAJECTORY), maintain_order=True)
        .agg(pl.col("event"))
        .collect()
    )
    rng = np.random.default_rng(seed)
    rows = []
    alpha = (1 - level) / 2
    for row in flags.iter_rows(named=True):
        values = np.asarray(row["event"], dtype=np.float64)
        n = len(values)
        low = high = None
        if n:
            rates = _moving_block_rates(values, block, n_boot, rng)
            low, high = (float(v) for v in np.quantile(rates, [alpha, 1 - alpha]))
        rows.append(
            {
                **{k: row[k] for k in TRAJECTORY},
                "event": event,
                "n": n,
                "rate": float(values.mean()) if n else None,
                "ci_low": low,
                "ci_high": high,
                "block": min(block, n) if n else None,
            }
        )
    schema = {
        **{k: flags.schema[k] for k in TRAJECTORY},
        "event": pl.String(),
        "n": pl.Int64(),
        "rate": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "block": pl.Int64(),
    }
    return pl.DataFrame(rows, schema=schema)


# --- replicates ----------------------------------------------------------------------------


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise StatisticsError(f"the confidence level must be in (0, 1), got {level}")


def aggregate_runs(
    summary: FrameLike,
    metrics: Sequence[str] | None = None,
    *,
    by: Sequence[str] = ("study", "agent"),
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> pl.DataFrame:
    """Mean, standard error and bootstrap CI of each metric across the runs of each group.

    ``summary`` is a :func:`summarize` table (or any table with the ``by``
    columns); ``metrics`` default to its numeric columns other than ``run``.
    Collects them. One row per (group, metric): the ``by`` columns,
    ``metric``, ``runs`` (non-null values), ``mean``, ``std_error`` (sample
    standard deviation / sqrt(runs); null for one run) and the percentile
    bootstrap interval of the mean, ``ci_low``/``ci_high`` (null for one run).
    """
    _check_level(level)
    keys = list(by)
    lazy = _lazy(summary)
    schema = require(lazy, keys, "aggregate_runs")
    if metrics is None:
        metrics = [c for c, t in schema.items() if c not in (*keys, "run") and (t.is_numeric())]
    require(lazy, list(metrics), "aggregate_runs")
    data = lazy.select(*keys, *[pl.col(m).cast(pl.Float64) for m in metrics]).collect()
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    rows = []
    for group_key, group in data.group_by(keys, maintain_order=True):
        for metric in metrics:
            values = group.get_column(metric).drop_nulls().drop_nans().to_numpy()
            k = len(values)
            mean = float(values.mean()) if k else None
            se = low = high = None
            if k >= 2:
                se = float(values.std(ddof=1) / math.sqrt(k))
                samples = values[rng.integers(0, k, size=(n_boot, k))].mean(axis=1)
                low, high = (float(v) for v in np.quantile(samples, [alpha, 1 - alpha]))
            rows.append(
                {
                    **dict(zip(keys, group_key, strict=True)),
                    "metric": metric,
                    "runs": k,
                    "mean": mean,
                    "std_error": se,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    out_schema = {
        **{k: data.schema[k] for k in keys},
        "metric": pl.String(),
        "runs": pl.Int64(),
        "mean": pl.Float64(),
        "std_error": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=out_schema)


def _signed_rank_exact(d: np.ndarray, alternative: str) -> tuple[float, float]:
    """W+ and its exact p-value by flipping the signs of all 2^n differences (ties: mid-ranks)."""
    ranks = stats.rankdata(np.abs(d))
    observed = float(ranks[d > 0].sum())
    n = len(d)
    signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    w = signs @ ranks
    if alternative == "greater":
        p = (w >= observed - _TIE).mean()
    elif alternative == "less":
        p = (w <= observed + _TIE).mean()
    else:
        centre = ranks.sum() / 2
        p = (np.abs(w - centre) >= abs(observed - centre) - _TIE).mean()
    return observed, float(p)


def paired_wilcoxon(
    summary: FrameLike,
    metric: str,
    a: str,
    b: str,
    *,
    by: str = "agent",
    pair_on: Sequence[str] = ("study", "run"),
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
    exact_limit: int = 16,
) -> pl.DataFrame:
    """Wilcoxon signed-rank test of ``metric`` between agents ``a`` and ``b`` over shared runs.

    Pairs the rows of ``a`` and ``b`` with equal ``pair_on`` values (the same
    seed), collects them, and tests the differences a - b (zeros dropped).
    With at most ``exact_limit`` non-zero differences the p-value is exact
    (all 2^n sign flips, ties by mid-ranks); beyond it, scipy's normal
    approximation. One row: ``a``, ``b``, ``metric``, ``pairs``, ``nonzero``,
    ``median_difference``, ``statistic`` (W+, the sum of ranks of positive
    differences), ``p_value``, ``method`` and ``note``.
    """
    keys = list(pair_on)
    lazy = _lazy(summary)
    require(lazy, [by, metric, *keys], "paired_wilcoxon")
    data = lazy.select(by, *keys, pl.col(metric).cast(pl.Float64)).collect()
    agents = set(data.get_column(by).to_list())
    missing = [v for v in (a, b) if v not in agents]
    if missing:
        raise StatisticsError(f"no rows for {by} {missing}")
    left = data.filter(pl.col(by) == a).drop(by).rename({metric: "_a"})
    right = data.filter(pl.col(by) == b).drop(by).rename({metric: "_b"})
    paired = left.join(right, on=keys, nulls_equal=True).drop_nulls(["_a", "_b"])
    d = (paired.get_column("_a") - paired.get_column("_b")).to_numpy()
    nonzero = d[d != 0]
    row: dict[str, Any] = {
        "a": a,
        "b": b,
        "metric": metric,
        "pairs": len(d),
        "nonzero": len(nonzero),
        "median_difference": float(np.median(d)) if len(d) else None,
        "statistic": None,
        "p_value": None,
        "method": None,
        "note": None,
    }
    if len(nonzero) == 0:
        row["note"] = "no shared runs" if len(d) == 0 else "all differences are zero"
    elif len(nonzero) <= exact_limit:
        row["statistic"], row["p_value"] = _signed_rank_exact(nonzero, alternative)
        row["method"] = "exact"
    else:
        result = stats.wilcoxon(nonzero, alternative=alternative, method="approx")
        ranks = stats.rankdata(np.abs(nonzero))
        row["statistic"] = float(ranks[nonzero > 0].sum())
        row["p_value"] = float(result.pvalue)
        row["method"] = "normal approximation"
    schema = {
        "a": pl.String(),
        "b": pl.String(),
        "metric": pl.String(),
        "pairs": pl.Int64(),
        "nonzero": pl.Int64(),
        "median_difference": pl.Float64(),
        "statistic": pl.Float64(),
        "p_value": pl.Float64(),
        "method": pl.String(),
        "note": pl.String(),
    }
    return pl.DataFrame([row], schema=schema)
