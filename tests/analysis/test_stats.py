"""Cross-agent statistics against scipy, brute force and the seed study's table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

import hpdream_analysis as ha
from hpdream_analysis import ColumnError, StatisticsError
from tests.analysis.frames import frame_of, trajectories

SEED_TABLE = pl.DataFrame(
    {
        "agent": ["a1", "a2", "a3", "a4", "a5"],
        "categories_explored": [5, 5, 5, 3, 2],
        "best_val_bpb": [0.5757, 0.5794, 0.5802, 0.5848, 0.5923],
    }
)


def test_seed_study_breadth_correlation() -> None:
    row = ha.correlate(SEED_TABLE, "categories_explored", "best_val_bpb").row(0, named=True)
    assert round(row["pearson_r"], 3) == -0.946
    assert round(row["pearson_p"], 3) == 0.015
    # 6 of the 120 pairings (the three tied breadths swapped) are as extreme
    assert row["permutation_p_one_sided"] == pytest.approx(0.05)
    assert row["permutation_method"] == "exact" and row["permutations"] == 120
    assert row["direction"] == "less" and row["n"] == 5
    loo = []
    for i in range(5):
        part = SEED_TABLE.filter(pl.int_range(pl.len()) != i)
        loo.append(stats.pearsonr(part["categories_explored"], part["best_val_bpb"]).statistic)
    assert row["loo_min"] == pytest.approx(min(loo)) and row["loo_max"] == pytest.approx(max(loo))
    assert row["spearman_rho"] == pytest.approx(
        stats.spearmanr(SEED_TABLE["categories_explored"], SEED_TABLE["best_val_bpb"]).statistic
    )
    assert row["kendall_tau"] == pytest.approx(
        stats.kendalltau(SEED_TABLE["categories_explored"], SEED_TABLE["best_val_bpb"]).statistic
    )


def brute_force_p(x: list[float], y: list[float], statistic, direction: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    observed = statistic(x, y)
    one = two = 0
    perms = list(itertools.permutations(y))
    for p in perms:
        s = statistic(x, list(p))
        one += s <= observed + 1e-9 if direction == "less" else s >= observed - 1e-9
        two += abs(s) >= abs(observed) - 1e-9
    return one / len(perms), two / len(perms)


@settings(max_examples=25)
@given(
    x=st.lists(st.integers(0, 4), min_size=3, max_size=5),
    y=st.lists(st.integers(0, 6), min_size=5, max_size=5),
    direction=st.sampled_from(["less", "greater"]),
)
def test_exact_permutation_p_values_match_brute_force(
    x: list[int], y: list[int], direction: str
) -> None:
    y = y[: len(x)]
    if len(set(x)) < 2 or len(set(y)) < 2:
        return
    frame = pl.DataFrame({"x": x, "y": y})
    row = ha.correlate(frame, "x", "y", direction=direction).row(0, named=True)  # type: ignore[arg-type]
    measures = {
        "": lambda a, b: stats.pearsonr(a, b).statistic,
        "spearman_": lambda a, b: stats.spearmanr(a, b).statistic,
        "kendall_": lambda a, b: stats.kendalltau(a, b).statistic,
    }
    for prefix, statistic in measures.items():
        one, two = brute_force_p(list(map(float, x)), list(map(float, y)), statistic, direction)
        assert row[f"{prefix}permutation_p_one_sided"] == pytest.approx(one), prefix
        assert row[f"{prefix}permutation_p_two_sided"] == pytest.approx(two), prefix


def test_monte_carlo_permutations_for_many_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    frame = pl.DataFrame({"x": x, "y": x + 0.3 * rng.normal(size=40)})
    row = ha.correlate(frame, "x", "y", permutations=2000, seed=1).row(0, named=True)
    assert row["permutation_method"] == "monte carlo" and row["permutations"] == 2000
    assert row["permutation_p_two_sided"] == pytest.approx(1 / 2001)  # nothing beats a strong r
    again = ha.correlate(frame, "x", "y", permutations=2000, seed=1)
    assert again.row(0) == ha.correlate(frame, "x", "y", permutations=2000, seed=1).row(0)


def test_degenerate_correlations_are_null_with_a_note() -> None:
    two = ha.correlate(SEED_TABLE.head(2), "categories_explored", "best_val_bpb").row(0, named=True)
    assert two["n"] == 2 and two["pearson_r"] is None and "at least 3" in two["note"]
    flat = SEED_TABLE.with_columns(categories_explored=pl.lit(4))
    row = ha.correlate(flat, "categories_explored", "best_val_bpb").row(0, named=True)
    assert row["pearson_r"] is None and "constant" in row["note"]
    nulls = SEED_TABLE.with_columns(best_val_bpb=pl.Series([None, 0.5, 0.6, 0.7, float("nan")]))
    assert ha.correlate(nulls, "categories_explored", "best_val_bpb").item(0, "n") == 3
    with pytest.raises(ColumnError, match="nope"):
        ha.correlate(SEED_TABLE, "nope", "best_val_bpb")
    with pytest.raises(ColumnError, match="not numeric"):
        ha.correlate(SEED_TABLE, "agent", "best_val_bpb")


@settings(max_examples=40)
@given(data=trajectories(max_trajectories=4, min_size=1))
def test_jensen_shannon_matches_scipy(data) -> None:  # type: ignore[no-untyped-def]
    frame = frame_of(data)
    got = ha.jensen_shannon(frame, by=("study", "agent", "run")).collect()
    counts: dict[tuple[str, str, int], dict[str, int]] = {}
    for key, rows in data.items():
        if len(rows) > 1:
            counts[key] = {}
            for r in rows[1:]:
                counts[key][r["category"]] = counts[key].get(r["category"], 0) + 1
    keys = sorted(counts)
    assert got.height == len(keys) * (len(keys) - 1) // 2
    cats = sorted({c for d in counts.values() for c in d})
    for row in got.iter_rows(named=True):
        a = (row["study_a"], row["agent_a"], row["run_a"])
        b = (row["study_b"], row["agent_b"], row["run_b"])
        assert keys.index(a) < keys.index(b)
        p = np.array([counts[a].get(c, 0) for c in cats], dtype=float)
        q = np.array([counts[b].get(c, 0) for c in cats], dtype=float)
        want = jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2
        assert row["js_divergence"] == pytest.approx(want, abs=1e-12)
        assert 0 <= row["js_divergence"] <= 1


def rate_frame(a: list[str], b: list[str]) -> pl.LazyFrame:
    def rows(statuses: list[str]) -> list[dict[str, object]]:
        out = [
            {
                "index": 0,
                "status": "keep",
                "val_bpb": 1.0,
                "category": "baseline",
                "description": "b",
            }
        ]
        for i, s in enumerate(statuses, start=1):
            out.append(
                {
                    "index": i,
                    "status": s,
                    "val_bpb": None if s == "crash" else 1.0 + i,
                    "category": "other",
                    "description": f"x{i}",
                }
            )
        return out

    return frame_of({("s", "A", 0): rows(a), ("s", "B", 0): rows(b)})


@settings(max_examples=40)
@given(
    a=st.lists(st.sampled_from(["keep", "discard", "crash"]), min_size=1, max_size=12),
    b=st.lists(st.sampled_from(["keep", "discard", "crash"]), min_size=1, max_size=12),
    event=st.sampled_from(["keep", "crash"]),
)
def test_compare_rates_against_scipy_and_brute_force(
    a: list[str], b: list[str], event: str
) -> None:
    row = ha.compare_rates(rate_frame(a, b), "A", "B", event=event).row(0, named=True)  # type: ignore[arg-type]
    ea, eb = a.count(event), b.count(event)
    assert (row["events_a"], row["n_a"], row["events_b"], row["n_b"]) == (ea, len(a), eb, len(b))
    fisher = stats.fisher_exact([[ea, len(a) - ea], [eb, len(b) - eb]])
    assert row["fisher_p"] == pytest.approx(fisher.pvalue)
    # the permutation test, by enumerating every relabelling of the pooled experiments
    pooled = [1] * (ea + eb) + [0] * (len(a) + len(b) - ea - eb)
    observed = abs(ea / len(a) - eb / len(b))
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        in_a = sum(pooled[i] for i in chosen)
        diff = abs(in_a / len(a) - (ea + eb - in_a) / len(b))
        hits += diff >= observed - 1e-9
        total += 1
        if total > 20000:
            return  # too many to enumerate: scipy agreement above is enough
    assert row["permutation_p"] == pytest.approx(hits / total)


def test_compare_rates_unknown_agent_and_events() -> None:
    frame = rate_frame(["keep"], ["discard"])
    with pytest.raises(StatisticsError, match="Z"):
        ha.compare_rates(frame, "A", "Z")
    with pytest.raises(StatisticsError, match="event"):
        ha.compare_rates(frame, "A", "B", event="luck")  # type: ignore[arg-type]
    improved = ha.compare_rates(frame, "A", "B", event="improved").row(0, named=True)
    assert (improved["events_a"], improved["events_b"]) == (0, 0)


def test_block_bootstrap() -> None:
    frame = rate_frame(["keep", "discard"] * 20, ["crash"] * 3)
    got = ha.block_bootstrap(frame, block=4, n_boot=500, seed=3)
    a = got.filter(pl.col("agent") == "A").row(0, named=True)
    assert a["n"] == 40 and a["rate"] == 0.5 and a["block"] == 4
    assert a["ci_low"] <= 0.5 <= a["ci_high"]
    b = got.filter(pl.col("agent") == "B").row(0, named=True)
    assert (b["rate"], b["ci_low"], b["ci_high"], b["block"]) == (0.0, 0.0, 0.0, 3)
    assert got.equals(ha.block_bootstrap(frame, block=4, n_boot=500, seed=3))
    with pytest.raises(StatisticsError, match="level"):
        ha.block_bootstrap(frame, level=1.5)


def test_moving_block_resamples_are_means_of_real_blocks() -> None:
    from hpdream_analysis._stats import _moving_block_rates

    flags = np.array([1, 0, 0, 1, 1, 1, 0], dtype=float)
    rng = np.random.default_rng(0)
    rates = _moving_block_rates(flags, 3, 2000, rng)
    # every resample is 7 values made of blocks of 3, 3 and 1 consecutive values
    possible = set()
    windows = [flags[s : s + 3].sum() for s in range(5)]
    firsts = [flags[s : s + 1].sum() for s in range(5)]
    for w1, w2, w3 in itertools.product(windows, windows, firsts):
        possible.add(round((w1 + w2 + w3) / 7, 12))
    assert {round(r, 12) for r in rates} <= possible
    assert abs(rates.mean() - flags.mean()) < 0.05


def test_aggregate_runs() -> None:
    summary = pl.DataFrame(
        {
            "study": ["s"] * 5,
            "agent": ["a", "a", "a", "b", "b"],
            "run": [0, 1, 2, 0, 1],
            "best_val_bpb": [1.0, 2.0, 4.0, 3.0, None],
            "experiments": [10, 10, 10, 5, 5],
        }
    )
    got = ha.aggregate_runs(summary, n_boot=400, seed=0)
    a = got.filter((pl.col("agent") == "a") & (pl.col("metric") == "best_val_bpb")).row(
        0, named=True
    )
    assert a["runs"] == 3 and a["mean"] == pytest.approx(7 / 3)
    assert a["std_error"] == pytest.approx(np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert 1.0 <= a["ci_low"] <= a["mean"] <= a["ci_high"] <= 4.0
    b = got.filter((pl.col("agent") == "b") & (pl.col("metric") == "best_val_bpb")).row(
        0, named=True
    )
    assert (b["runs"], b["mean"], b["std_error"], b["ci_low"]) == (1, 3.0, None, None)
    assert set(got.get_column("metric")) == {"best_val_bpb", "experiments"}


@settings(max_examples=40)
@given(
    d=st.lists(
        st.integers(-50, 50).filter(lambda v: v != 0).map(lambda v: v / 8),
        min_size=1,
        max_size=10,
        unique=True,
    ),
    alternative=st.sampled_from(["two-sided", "less", "greater"]),
)
def test_paired_wilcoxon_exact_matches_scipy(d: list[float], alternative: str) -> None:
    if len({abs(v) for v in d}) < len(d):
        return  # scipy's exact method needs untied magnitudes
    summary = pl.DataFrame(
        {
            "study": "s",
            "agent": ["a"] * len(d) + ["b"] * len(d),
            "run": list(range(len(d))) * 2,
            "best_val_bpb": [*d, *([0.0] * len(d))],
        }
    )
    row = ha.paired_wilcoxon(summary, "best_val_bpb", "a", "b", alternative=alternative).row(
        0, named=True
    )  # type: ignore[arg-type]
    want = stats.wilcoxon(np.array(d), alternative=alternative, method="exact")
    assert row["method"] == "exact" and row["pairs"] == len(d)
    assert row["p_value"] == pytest.approx(want.pvalue)
    ranks = stats.rankdata(np.abs(d))
    assert row["statistic"] == pytest.approx(ranks[np.array(d) > 0].sum())


def test_paired_wilcoxon_edges() -> None:
    summary = pl.DataFrame(
        {
            "study": "s",
            "agent": ["a", "a", "b", "b", "c"],
            "run": [0, 1, 0, 2, 5],
            "m": [1.0, 2.0, 1.0, 3.0, 4.0],
        }
    )
    row = ha.paired_wilcoxon(summary, "m", "a", "b").row(0, named=True)
    assert (row["pairs"], row["nonzero"], row["p_value"], row["note"]) == (
        1,
        0,
        None,
        "all differences are zero",
    )
    none = ha.paired_wilcoxon(summary, "m", "a", "c").row(0, named=True)
    assert none["note"] == "no shared runs"
    with pytest.raises(StatisticsError, match="zz"):
        ha.paired_wilcoxon(summary, "m", "a", "zz")
    rng = np.random.default_rng(0)
    d = rng.normal(1, 1, 30)
    big = pl.DataFrame(
        {
            "study": "s",
            "agent": ["a"] * 30 + ["b"] * 30,
            "run": list(range(30)) * 2,
            "m": list(d) + [0.0] * 30,
        }
    )
    row = ha.paired_wilcoxon(big, "m", "a", "b").row(0, named=True)
    assert row["method"] == "normal approximation"
    assert row["p_value"] == pytest.approx(stats.wilcoxon(d, method="approx").pvalue)
