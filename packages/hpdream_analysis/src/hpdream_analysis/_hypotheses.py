"""The seed study's hypotheses H1-H7 as tests over the metrics, for any study.

The unit is the agent: each agent's metric is the mean over its runs (a
study with one run per agent, like the seed, uses the runs as they are).
Each hypothesis gives one row (H3 gives two) with its statistic, p-value and
a verdict; ``exploratory`` is true when the study has fewer agents than
``small_n``, and always for H6, which picks the best of many post-hoc
comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

import numpy as np
import polars as pl
from scipy import stats

from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._micro import micro_loops
from hpdream_analysis._schema import TRAJECTORY, require
from hpdream_analysis._stats import Direction, correlate
from hpdream_analysis._summary import summarize
from hpdream_analysis._trajectory import annotate, dry_streaks

#: What "performance" is in H1, H2 and H6 (see :func:`hypotheses`).
Outcome = Literal["best_val_bpb", "relative_gain"]
OUTCOMES: Final = get_args(Outcome)

#: What each hypothesis claims.
CLAIMS: Final[Mapping[str, str]] = {
    "H1": "breadth predicts performance: agents exploring more categories reach a better result",
    "H2": "pivoting when stuck: agents that change category after a failure reach a better result",
    "H3a": "context size: the smaller-context agent repeats earlier experiments more often",
    "H3b": "context size: the smaller-context agent has longer plateaus (dry streaks)",
    "H4": "success rates (kept / n) differ between agents",
    "H5": "micro-optimisation comes late: experiments in micro-loops lie mostly in the second half",
    "H6": "specific discoveries separate performers: some kept improvement is found by the better half of agents, not the worse",
    "H7": "category entropy differs between agents (some specialise, some spread out)",
}

SCHEMA: Final = pl.Schema(
    {
        "study": pl.String(),
        "hypothesis": pl.String(),
        "claim": pl.String(),
        "statistic": pl.String(),
        "value": pl.Float64(),
        "p_value": pl.Float64(),
        "test": pl.String(),
        "verdict": pl.String(),
        "exploratory": pl.Boolean(),
        "n": pl.Int64(),
        "detail": pl.String(),
    }
)


def _row(
    hypothesis: str,
    statistic: str,
    value: float | None,
    p_value: float | None,
    test: str,
    *,
    supported: bool | None,
    n: int,
    exploratory: bool,
    detail: str,
) -> dict[str, Any]:
    if supported is None or p_value is None or value is None or not math.isfinite(value):
        verdict = "not testable"
    else:
        verdict = "supported" if supported else "not supported"
    return {
        "hypothesis": hypothesis,
        "claim": CLAIMS[hypothesis],
        "statistic": statistic,
        "value": value,
        "p_value": p_value,
        "test": test,
        "verdict": verdict,
        "exploratory": exploratory,
        "n": n,
        "detail": detail,
    }


def _correlation_row(
    hypothesis: str,
    agents: pl.DataFrame,
    x: str,
    outcome: Outcome,
    alpha: float,
    small: bool,
    permutations: int,
    seed: int,
) -> dict[str, Any]:
    better: Direction = "less" if outcome == "best_val_bpb" else "greater"
    result = correlate(
        agents, x, outcome, direction=better, permutations=permutations, seed=seed
    ).row(0, named=True)
    r, p = result["pearson_r"], result["permutation_p_one_sided"]
    if r is None:
        detail = result["note"]
    else:
        detail = (
            f"parametric p = {result['pearson_p']:.3g}; Spearman rho = {result['spearman_rho']:.3f}; "
            f"Kendall tau = {result['kendall_tau']:.3f}; leave-one-out r in "
            f"[{result['loo_min']:.3f}, {result['loo_max']:.3f}]; {result['permutation_method']} "
            f"permutation p over {result['permutations']} pairings"
        )
    sign = -1 if better == "less" else 1
    supported = None if r is None else bool(sign * r > 0 and p < alpha)
    return _row(
        hypothesis,
        f"Pearson r ({x} vs {outcome})",
        r,
        p,
        f"one-sided permutation test (r {'<' if sign < 0 else '>'} 0)",
        supported=supported,
        n=result["n"],
        exploratory=small,
        detail=detail,
    )


def _spread_permutation(
    codes: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    n_codes: int,
    statistic: Any,
    permutations: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Observed statistic of per-group code counts, and its permutation p (labels shuffled)."""

    def counts_of(perm_codes: np.ndarray) -> np.ndarray:
        rows = perm_codes.shape[0]
        index = (np.arange(rows)[:, None] * n_groups + groups[None, :]) * n_codes + perm_codes
        return np.bincount(index.ravel(), minlength=rows * n_groups * n_codes).reshape(
            rows, n_groups, n_codes
        )

    observed = float(statistic(counts_of(codes[None, :]))[0])
    chunk = max(1, 4_000_000 // max(1, len(codes)))
    extreme = 0
    done = 0
    while done < permutations:
        rows = min(chunk, permutations - done)
        shuffled = codes[np.argsort(rng.random((rows, len(codes))), axis=1)]
        extreme += int((statistic(counts_of(shuffled)) >= observed - 1e-9).sum())
        done += rows
    return observed, (extreme + 1) / (permutations + 1)


def _rate_spread(counts: np.ndarray) -> np.ndarray:
    rates = counts[:, :, 1] / counts.sum(axis=2)
    return np.asarray(rates.max(axis=1) - rates.min(axis=1))


def _entropy_spread(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=2, keepdims=True)
    shares = counts / totals
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0, -shares * np.log2(np.where(shares > 0, shares, 1.0)), 0.0)
    entropy = terms.sum(axis=2)
    return np.asarray(entropy.max(axis=1) - entropy.min(axis=1))


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    labels = sorted(set(values), key=str)
    lookup = {v: i for i, v in enumerate(labels)}
    return np.array([lookup[v] for v in values], dtype=np.int64), labels


def _holm(p_values: list[float]) -> list[float]:
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def hypotheses(
    frame: pl.LazyFrame,
    *,
    context_pair: tuple[str, str] | None = None,
    alpha: float = 0.05,
    small_n: int = 10,
    permutations: int = 10_000,
    seed: int = 0,
    summary_options: Mapping[str, Any] | None = None,
    outcome: Outcome = "best_val_bpb",
) -> pl.DataFrame:
    """Evaluate H1-H7 of the seed study on every study in ``frame`` (experiments).

    ``context_pair`` names two agents (smaller context, larger context) for
    H3; without it H3 is not testable. ``outcome`` is what "performance"
    means in H1, H2 and H6: ``"best_val_bpb"`` (lower is better; the seed
    study's choice, for agents that share one baseline) or
    ``"relative_gain"`` ((baseline - best) / baseline, higher is better; for
    runs whose baselines differ, such as logs from different hardware). ``summary_options`` go to
    :func:`summarize` (e.g. ``eps``, ``repeat_threshold``, ``extract``).
    Collects what the tests need and returns one row per hypothesis and
    study: ``hypothesis``, ``claim``, ``statistic`` (its name), ``value``,
    ``p_value``, ``test``, ``verdict`` (supported / not supported / not
    testable at level ``alpha``), ``exploratory``, ``n`` (the units the test
    used) and ``detail``. The tests:

    * H1, H2: Pearson r of categories explored (H1) or pivot rate (H2) against
      the outcome over agents, exact one-sided permutation p (r < 0 for best
      val_bpb, r > 0 for relative gain);
    * H3a: repeats / n of the two agents, Fisher's exact test, one-sided;
      H3b: dry-streak lengths, Mann-Whitney U, one-sided;
    * H4: spread (max - min) of agents' success rates; permutation test
      relabelling experiments between agents;
    * H5: share of micro-loop experiments in the second half of their
      trajectory; binomial test against 1/2, one-sided;
    * H6: for each discovery (the subcategory, else category, of a kept
      improvement), Fisher's exact test of "found by the better half of agents";
      the smallest Holm-adjusted p is reported (always exploratory);
    * H7: spread of agents' category entropies; permutation test relabelling
      experiments between agents.
    """
    if not 0 < alpha < 1:
        raise StatisticsError(f"alpha must be in (0, 1), got {alpha}")
    if outcome not in OUTCOMES:
        raise StatisticsError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    require(
        frame, [*TRAJECTORY, "index", "status", "val_bpb", "category", "description"], "hypotheses"
    )
    summary = summarize(frame, **dict(summary_options or {})).collect()
    rows: list[dict[str, Any]] = []
    for study in sorted(summary.get_column("study").unique().to_list()):
        study_frame = frame.filter(pl.col("study") == study)
        study_summary = summary.filter(pl.col("study") == study)
        for row in _study_hypotheses(
            study_frame,
            study_summary,
            context_pair=context_pair,
            alpha=alpha,
            small_n=small_n,
            permutations=permutations,
            seed=seed,
            eps=float(dict(summary_options or {}).get("eps", 0.0)),
            summary_options=summary_options or {},
            outcome=outcome,
        ):
            rows.append({"study": study, **row})
    return pl.DataFrame(rows, schema=SCHEMA)


def _study_hypotheses(
    frame: pl.LazyFrame,
    summary: pl.DataFrame,
    *,
    context_pair: tuple[str, str] | None,
    alpha: float,
    small_n: int,
    permutations: int,
    seed: int,
    eps: float,
    summary_options: Mapping[str, Any],
    outcome: Outcome,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    agents = summary.group_by("agent", maintain_order=True).agg(
        pl.col("categories_explored", "pivot_rate", "best_val_bpb", "relative_gain").mean(),
        pl.col("experiments", "kept", "repeats").sum(),
    )
    n_agents = agents.height
    small = n_agents < small_n
    out = [
        _correlation_row(
            "H1", agents, "categories_explored", outcome, alpha, small, permutations, seed
        ),
        _correlation_row("H2", agents, "pivot_rate", outcome, alpha, small, permutations, seed),
    ]
    out.extend(_context_rows(frame, agents, context_pair, alpha, small, eps))
    annotated = annotate(frame, eps=eps).filter(pl.col("position") >= 1).collect()
    out.append(_success_spread(annotated, alpha, small, permutations, rng))
    out.append(_late_micro(frame, annotated, alpha, small, summary_options))
    out.append(_discoveries(annotated, agents, outcome, alpha))
    out.append(_entropy_spread_row(annotated, alpha, small, permutations, rng))
    return out


def _context_rows(
    frame: pl.LazyFrame,
    agents: pl.DataFrame,
    context_pair: tuple[str, str] | None,
    alpha: float,
    small: bool,
    eps: float,
) -> list[dict[str, Any]]:
    present = set(agents.get_column("agent").to_list())
    if context_pair is None or any(a not in present for a in context_pair):
        why = (
            "name the two agents with context_pair=(smaller, larger)"
            if context_pair is None
            else f"agent(s) {[a for a in context_pair if a not in present]} not in this study"
        )
        return [
            _row(h, s, None, None, t, supported=None, n=0, exploratory=small, detail=why)
            for h, s, t in (
                ("H3a", "repeat-rate difference", "Fisher's exact test, one-sided"),
                ("H3b", "mean dry-streak difference", "Mann-Whitney U, one-sided"),
            )
        ]
    smaller, larger = context_pair
    by_agent = {r["agent"]: r for r in agents.iter_rows(named=True)}
    a, b = by_agent[smaller], by_agent[larger]
    rows = []
    if a["experiments"] and b["experiments"]:
        table = [
            [a["repeats"], a["experiments"] - a["repeats"]],
            [b["repeats"], b["experiments"] - b["repeats"]],
        ]
        fisher = stats.fisher_exact(table, alternative="greater")
        difference = a["repeats"] / a["experiments"] - b["repeats"] / b["experiments"]
        rows.append(
            _row(
                "H3a",
                "repeat-rate difference (smaller - larger context)",
                difference,
                float(fisher.pvalue),
                "Fisher's exact test, one-sided",
                supported=bool(difference > 0 and fisher.pvalue < alpha),
                n=a["experiments"] + b["experiments"],
                exploratory=small,
                detail=f"{smaller}: {a['repeats']}/{a['experiments']} repeats; "
                f"{larger}: {b['repeats']}/{b['experiments']}",
            )
        )
    else:
        rows.append(
            _row(
                "H3a",
                "repeat-rate difference",
                None,
                None,
                "Fisher's exact test, one-sided",
                supported=None,
                n=0,
                exploratory=small,
                detail="an agent has no experiments",
            )
        )
    streaks = dry_streaks(frame.filter(pl.col("agent").is_in([smaller, larger])), eps=eps).collect()
    xs = streaks.filter(pl.col("agent") == smaller).get_column("length").to_numpy()
    ys = streaks.filter(pl.col("agent") == larger).get_column("length").to_numpy()
    if len(xs) and len(ys):
        test = stats.mannwhitneyu(xs, ys, alternative="greater")
        difference = float(xs.mean() - ys.mean())
        rows.append(
            _row(
                "H3b",
                "mean dry-streak difference (smaller - larger context)",
                difference,
                float(test.pvalue),
                "Mann-Whitney U, one-sided",
                supported=bool(difference > 0 and test.pvalue < alpha),
                n=len(xs) + len(ys),
                exploratory=small,
                detail=f"{smaller}: {len(xs)} streaks, mean {xs.mean():.2f}, max {xs.max()}; "
                f"{larger}: {len(ys)} streaks, mean {ys.mean():.2f}, max {ys.max()}",
            )
        )
    else:
        rows.append(
            _row(
                "H3b",
                "mean dry-streak difference",
                None,
                None,
                "Mann-Whitney U, one-sided",
                supported=None,
                n=len(xs) + len(ys),
                exploratory=small,
                detail="an agent has no dry streak",
            )
        )
    return rows


def _success_spread(
    annotated: pl.DataFrame, alpha: float, small: bool, permutations: int, rng: np.random.Generator
) -> dict[str, Any]:
    test = "permutation test (experiments relabelled between agents)"
    groups, names = _codes(annotated.get_column("agent").to_list())
    if len(names) < 2:
        return _row(
            "H4",
            "success-rate spread",
            None,
            None,
            test,
            supported=None,
            n=len(names),
            exploratory=small,
            detail="needs at least two agents",
        )
    kept = (annotated.get_column("status") == "keep").cast(pl.Int64).to_numpy()
    observed, p = _spread_permutation(kept, groups, len(names), 2, _rate_spread, permutations, rng)
    rates = annotated.group_by("agent").agg(rate=(pl.col("status") == "keep").mean()).sort("rate")
    listing = ", ".join(f"{r['agent']} {r['rate']:.3f}" for r in rates.iter_rows(named=True))
    return _row(
        "H4",
        "success-rate spread (max - min of kept / n)",
        observed,
        p,
        test,
        supported=bool(p < alpha),
        n=len(names),
        exploratory=small,
        detail=f"success rates: {listing}; {permutations} permutations",
    )


def _late_micro(
    frame: pl.LazyFrame,
    annotated: pl.DataFrame,
    alpha: float,
    small: bool,
    summary_options: Mapping[str, Any],
) -> dict[str, Any]:
    test = "binomial test against 1/2, one-sided"
    loops = micro_loops(
        frame,
        min_length=summary_options.get("micro_min_length", 3),
        tolerance=summary_options.get("micro_tolerance", 0.01),
        extract=summary_options.get("extract"),
    ).collect()
    lengths = annotated.group_by(list(TRAJECTORY)).agg(n=pl.col("position").max())
    steps = (
        loops.with_columns(position=pl.int_ranges("start_position", pl.col("end_position") + 1))
        .explode("position")
        .unique([*TRAJECTORY, "position"])
        .join(lengths, on=list(TRAJECTORY))
    )
    if steps.height == 0:
        return _row(
            "H5",
            "share of micro-loop experiments in the second half",
            None,
            None,
            test,
            supported=None,
            n=0,
            exploratory=small,
            detail="no micro-optimisation loops",
        )
    late = int((steps.get_column("position") > steps.get_column("n") / 2).sum())
    total = steps.height
    result = stats.binomtest(late, total, 0.5, alternative="greater")
    share = late / total
    return _row(
        "H5",
        "share of micro-loop experiments in the second half",
        share,
        float(result.pvalue),
        test,
        supported=bool(share > 0.5 and result.pvalue < alpha),
        n=total,
        exploratory=small,
        detail=f"{late} of {total} loop experiments late, in {loops.height} loops; "
        "consecutive experiments are not independent",
    )


def _discoveries(
    annotated: pl.DataFrame, agents: pl.DataFrame, outcome: Outcome, alpha: float
) -> dict[str, Any]:
    test = "Fisher's exact test per discovery, one-sided, Holm-adjusted"
    ranked = agents.drop_nulls(outcome).sort(outcome, descending=outcome == "relative_gain")
    n = ranked.height
    if n < 4:
        return _row(
            "H6",
            "smallest Holm-adjusted p",
            None,
            None,
            test,
            supported=None,
            n=n,
            exploratory=True,
            detail=f"needs at least 4 agents with a {outcome}",
        )
    top = set(ranked.get_column("agent").head(n // 2).to_list())
    bottom = set(ranked.get_column("agent").to_list()) - top
    found = (
        annotated.filter(pl.col("improved") & (pl.col("status") == "keep"))
        .select(
            "agent",
            (
                pl.coalesce("subcategory", "category")
                if "subcategory" in annotated.columns
                else pl.col("category")
            ).alias("discovery"),
        )
        .unique()
    )
    by_discovery: dict[str, set[str]] = {}
    for row in found.iter_rows(named=True):
        by_discovery.setdefault(row["discovery"], set()).add(row["agent"])
    if not by_discovery:
        return _row(
            "H6",
            "smallest Holm-adjusted p",
            None,
            None,
            test,
            supported=None,
            n=n,
            exploratory=True,
            detail="no kept improvements",
        )
    names = sorted(by_discovery)
    p_values = []
    for d in names:
        with_top = len(by_discovery[d] & top)
        with_bottom = len(by_discovery[d] & bottom)
        table = [[with_top, len(top) - with_top], [with_bottom, len(bottom) - with_bottom]]
        p_values.append(float(stats.fisher_exact(table, alternative="greater").pvalue))
    adjusted = _holm(p_values)
    best = min(range(len(names)), key=lambda i: (adjusted[i], p_values[i]))
    d = names[best]
    share_top = len(by_discovery[d] & top) / len(top)
    share_bottom = len(by_discovery[d] & bottom) / len(bottom)
    return _row(
        "H6",
        f"share of better half minus worse half finding {d!r}",
        share_top - share_bottom,
        adjusted[best],
        test,
        supported=bool(adjusted[best] < alpha),
        n=n,
        exploratory=True,
        detail=f"{d!r}: {len(by_discovery[d] & top)}/{len(top)} better agents, "
        f"{len(by_discovery[d] & bottom)}/{len(bottom)} worse; raw p = {p_values[best]:.3g}; "
        f"{len(names)} discoveries tested",
    )


def _entropy_spread_row(
    annotated: pl.DataFrame, alpha: float, small: bool, permutations: int, rng: np.random.Generator
) -> dict[str, Any]:
    test = "permutation test (categories relabelled between agents)"
    groups, agents = _codes(annotated.get_column("agent").to_list())
    codes, categories = _codes(annotated.get_column("category").to_list())
    if len(agents) < 2:
        return _row(
            "H7",
            "category-entropy spread",
            None,
            None,
            test,
            supported=None,
            n=len(agents),
            exploratory=small,
            detail="needs at least two agents",
        )
    observed, p = _spread_permutation(
        codes, groups, len(agents), len(categories), _entropy_spread, permutations, rng
    )
    return _row(
        "H7",
        "category-entropy spread (max - min, bits)",
        observed,
        p,
        test,
        supported=bool(p < alpha),
        n=len(agents),
        exploratory=small,
        detail=f"{len(categories)} categories; {permutations} permutations",
    )
