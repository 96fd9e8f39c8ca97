"""H1-H7 on studies with planted effects, and on studies that cannot test them."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import hpdream_analysis as ha
from hpdream_analysis import StatisticsError
from tests.analysis.frames import frame_of

CATS = ["hyperparameters", "architecture", "optimizer", "schedule", "tokenizer", "other"]


def planted_study(n: int = 40) -> pl.LazyFrame:
    """Six agents: breadth k = 1..6 with lower best val_bpb for larger k; 'small' repeats itself
    and stalls, the others vary; success rates differ; micro-loops only late."""
    data: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for k in range(1, 7):
        agent = {1: "small", 6: "large"}.get(k, f"agent{k}")
        rows: list[dict[str, Any]] = [
            {
                "index": 0,
                "status": "keep",
                "val_bpb": 1.0,
                "category": "baseline",
                "description": "baseline",
            }
        ]
        best = 1.0
        for i in range(1, n):
            category = CATS[i % k]
            if agent == "small":
                description = "add rmsnorm" if i % 2 else "increase the depth"
                improved = i == 1
            else:
                description = f"change {i} of {agent}"
                improved = i % (8 - k) == 0
            if i > n - 6:  # a late micro-optimisation loop
                description = f"matrix lr {0.04 + 0.0001 * i:.4f} -> {0.04 + 0.0001 * (i + 1):.4f}"
            if improved:
                best -= 0.001 * k
                val, status = best, "keep"
            else:
                val, status = (
                    best + 0.01,
                    "crash" if (agent == "agent2" and i % 3 == 0) else "discard",
                )
            rows.append(
                {
                    "index": i,
                    "status": status,
                    "val_bpb": None if status == "crash" else val,
                    "category": category,
                    "subcategory": "muon" if improved and k >= 4 else None,
                    "description": description,
                }
            )
        data[("planted", agent, 0)] = rows
    return frame_of(data)


def test_planted_effects_are_found() -> None:
    table = ha.hypotheses(planted_study(), context_pair=("small", "large"), permutations=2000)
    assert table.columns == list(ha._hypotheses.SCHEMA.names())
    got = {r["hypothesis"]: r for r in table.iter_rows(named=True)}
    assert list(got) == ["H1", "H2", "H3a", "H3b", "H4", "H5", "H6", "H7"]
    for h in ("H1", "H3a", "H3b", "H4", "H5", "H7"):
        assert got[h]["verdict"] == "supported", (h, got[h])
    assert got["H1"]["value"] < -0.8 and got["H1"]["n"] == 6
    assert got["H5"]["value"] == 1.0
    assert "muon" in got["H6"]["statistic"]
    assert all(r["exploratory"] for r in got.values())  # 6 agents < small_n
    assert got["H6"]["exploratory"]
    assert set(table.get_column("study")) == {"planted"}
    for r in got.values():
        assert r["claim"] == ha.CLAIMS[r["hypothesis"]]
        assert 0 <= r["p_value"] <= 1


def test_relative_gain_as_the_outcome_when_baselines_differ() -> None:
    # the broader agents ran on slower hardware: a higher val_bpb throughout, a larger gain
    scaled = planted_study().with_columns(
        pl.col("val_bpb")
        * pl.col("agent").replace_strict(
            {"small": 1.0, "agent2": 1.2, "agent3": 1.4, "agent4": 1.6, "agent5": 1.8, "large": 2.0}
        )
    )
    by_best = ha.hypotheses(scaled, permutations=2000)
    by_gain = ha.hypotheses(scaled, permutations=2000, outcome="relative_gain")
    h1_best = by_best.filter(pl.col("hypothesis") == "H1").row(0, named=True)
    h1_gain = by_gain.filter(pl.col("hypothesis") == "H1").row(0, named=True)
    assert h1_best["value"] > 0.8 and h1_best["verdict"] == "not supported"
    assert h1_gain["value"] > 0.8 and h1_gain["verdict"] == "supported"
    assert h1_gain["statistic"] == "Pearson r (categories_explored vs relative_gain)"
    assert "r > 0" in h1_gain["test"]
    # H6 ranks the better half by gain: the broad agents, which found "muon"
    assert "muon" in by_gain.filter(pl.col("hypothesis") == "H6").item(0, "statistic")
    with pytest.raises(StatisticsError, match="outcome"):
        ha.hypotheses(scaled, outcome="val_bpb")  # type: ignore[arg-type]


def test_not_testable_without_what_the_tests_need() -> None:
    table = ha.hypotheses(planted_study(), permutations=200, small_n=3)
    got = {r["hypothesis"]: r for r in table.iter_rows(named=True)}
    for h in ("H3a", "H3b"):
        assert got[h]["verdict"] == "not testable" and "context_pair" in got[h]["detail"]
    assert not got["H1"]["exploratory"] and got["H6"]["exploratory"]
    missing = ha.hypotheses(planted_study(), context_pair=("small", "nobody"), permutations=200)
    assert "nobody" in missing.filter(pl.col("hypothesis") == "H3a").item(0, "detail")


def test_identical_agents_support_nothing_that_needs_a_difference() -> None:
    rows = [
        {
            "index": i,
            "status": "keep" if i % 3 == 0 else "discard",
            "val_bpb": 1.0 - 0.001 * (i % 3 == 0) * i,
            "category": "baseline" if i == 0 else CATS[i % 3],
            "description": f"step {i}",
        }
        for i in range(30)
    ]
    data = {("same", agent, 0): [dict(r) for r in rows] for agent in ("a", "b", "c", "d")}
    got = {
        r["hypothesis"]: r
        for r in ha.hypotheses(frame_of(data), permutations=500).iter_rows(named=True)
    }
    assert got["H4"]["value"] == 0.0 and got["H4"]["verdict"] == "not supported"
    assert got["H7"]["value"] == 0.0 and got["H7"]["verdict"] == "not supported"
    # equal breadth and equal results: the correlation is undefined
    assert got["H1"]["verdict"] == "not testable" and "constant" in got["H1"]["detail"]
    assert got["H5"]["verdict"] == "not testable"


def test_each_study_gets_its_own_rows() -> None:
    two = pl.concat([planted_study(12), planted_study(12).with_columns(study=pl.lit("other"))])
    table = ha.hypotheses(two, permutations=100)
    assert table.get_column("study").unique().sort().to_list() == ["other", "planted"]
    assert table.height == 16


def test_alpha_is_checked() -> None:
    with pytest.raises(StatisticsError, match="alpha"):
        ha.hypotheses(planted_study(), alpha=0)


def test_a_study_of_one_agent_with_only_a_baseline() -> None:
    rows = [
        {
            "index": 0,
            "status": "keep",
            "val_bpb": 1.0,
            "category": "baseline",
            "description": "baseline",
        }
    ]
    table = ha.hypotheses(frame_of({("tiny", "solo", 0): rows}), context_pair=("solo", "solo"))
    assert table.height == 8
    verdicts = dict(zip(table.get_column("hypothesis"), table.get_column("verdict"), strict=True))
    assert set(verdicts.values()) == {"not testable"}, verdicts
