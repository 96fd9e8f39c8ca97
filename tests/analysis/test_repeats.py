"""Repeats: the text rule against an all-pairs reference, the diff and parameter rules."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpdream_analysis as ha
from hpdream_analysis import StatisticsError
from tests.analysis import reference as ref
from tests.analysis.frames import frame_of, one, rows_of

WORDS = ["lr", "the", "warmup", "add", "rmsnorm", "attention", "depth", "to", "matrix", "Muon", "é"]
NUMBERS = ["0.04", "0.05", "0.050", "1e-3", "3", "12"]
SEPARATORS = [" ", "  ", " -> ", ", ", "=", "\n"]


@st.composite
def description(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.sampled_from(WORDS + NUMBERS), min_size=0, max_size=5))
    parts = []
    for t in tokens:
        parts.append(t)
        parts.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(parts)


@settings(max_examples=80)
@given(
    data=st.lists(st.lists(description(), min_size=1, max_size=14), min_size=1, max_size=3),
    threshold=st.sampled_from([0.5, 0.6, 0.75, 0.8, 1.0]),
)
def test_text_rule_matches_all_pairs_reference(data: list[list[str]], threshold: float) -> None:
    trajectories = {
        ("s", f"a{k}", 0): rows_of(["baseline", *descs]) for k, descs in enumerate(data)
    }
    got = ha.repeats(frame_of(trajectories), threshold=threshold, rules=["text"]).collect()
    for (_, agent, _), rows in trajectories.items():
        want = ref.text_repeats([r["description"] for r in rows], threshold)
        part = got.filter(pl.col("agent") == agent)
        found = {r["index"]: (r["repeat_of"], r["similarity"]) for r in part.iter_rows(named=True)}
        assert set(found) == set(want)
        for i, (j, similarity) in want.items():
            assert found[i][0] == j
            assert found[i][1] == pytest.approx(similarity)
        for r in part.iter_rows(named=True):
            assert r["description"] == rows[r["index"]]["description"]
            assert r["repeat_of_description"] == rows[r["repeat_of"]]["description"]


def test_number_only_differences_are_not_repeats() -> None:
    frame = one(
        rows_of(
            ["baseline", "lr 0.04 -> 0.05", "lr 0.04 -> 0.03", "LR 0.04 → 0.050", "lr 0.04 -> 0.05"]
        )
    )
    got = ha.repeats(frame, rules=["text"]).collect()
    assert got.select("index", "repeat_of", "rule", "similarity").rows() == [
        (3, 1, "text", 1.0),  # same words and numbers (0.050 is 0.05), other spelling
        (4, 1, "text", 1.0),
    ]


def test_near_duplicates_by_threshold() -> None:
    descriptions = [
        "baseline",
        "add rmsnorm before attention",
        "add rmsnorm before the attention layers",
    ]
    frame = one(rows_of(descriptions))
    # word sets {add, rmsnorm, before, attention} and {+ layers}: Jaccard 4/5
    assert ha.repeats(frame, threshold=0.8, rules=["text"]).collect().select(
        "index", "repeat_of", "similarity"
    ).rows() == [(2, 1, 0.8)]
    assert ha.repeats(frame, threshold=0.81, rules=["text"]).collect().height == 0


def test_trajectories_are_separate() -> None:
    frame = frame_of(
        {("s", "a", 0): rows_of(["b", "add qk norm"]), ("s", "a", 1): rows_of(["b", "add qk norm"])}
    )
    assert ha.repeats(frame).collect().height == 0


def test_the_baseline_is_never_a_repeat() -> None:
    frame = one(rows_of(["baseline", "baseline", "baseline"]))
    got = ha.repeats(frame, rules=["text"]).collect()
    assert got.select("index", "repeat_of").rows() == [(2, 1)]


def test_params_rule() -> None:
    frame = one(
        rows_of(
            [
                "baseline",
                "matrix lr 0.04 -> 0.05",
                "set matrix_lr=0.05 again",
                "matrix lr 0.05 -> 0.06",
            ]
        )
    )
    got = ha.repeats(frame, rules=["params"], extract="text").collect()
    assert got.select("index", "repeat_of", "rule").rows() == [(2, 1, "params")]


def test_params_rule_with_core_extractor() -> None:
    frame = one(
        rows_of(
            [
                "baseline",
                "depth 9 aspect_ratio 57",
                "aspect ratio 57 and depth 9 (retry)",
                "depth 10",
            ]
        )
    )
    got = ha.repeats(frame, rules=["params"]).collect()
    assert got.select("index", "repeat_of", "rule").rows() == [(2, 1, "params")]


def test_the_same_value_for_another_parameter_group_is_not_a_repeat() -> None:
    # Karpathy's log: weight decay on the head, then on the embeddings, then the head again
    frame = one(
        rows_of(
            [
                "baseline",
                "add WD 0.01 to lm_head",
                "add WD 0.01 to embeddings (hurts)",
                "lm_head WD 0.01 again",
            ]
        )
    )
    got = ha.repeats(frame, rules=["params"]).collect()
    assert got.select("index", "repeat_of", "rule").rows() == [(3, 1, "params")]


def test_diff_rule() -> None:
    diffs = [
        None,
        "--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n-DEPTH = 4\n+DEPTH = 6\n",
        "diff --git a/train.py b/train.py\n@@ -9,3 +9,3 @@\n-DEPTH  =  4\n+DEPTH = 6\n\n",
        "@@ -1 +1 @@\n-DEPTH = 4\n+DEPTH = 8\n",
        "",
        "",
    ]
    rows = rows_of(["baseline", "deeper", "go deeper again", "much deeper", "x", "y"], diff=diffs)
    got = ha.repeats(one(rows), rules=["diff"]).collect()
    assert got.select("index", "repeat_of", "rule").rows() == [(2, 1, "diff")]


def test_earliest_match_wins_and_rules_are_ordered() -> None:
    rows = rows_of(["baseline", "lr=0.05", "try lr=0.05", "lr=0.05"])
    got = ha.repeats(one(rows), extract="text").collect()
    # 2 repeats 1 by parameters only; 3 repeats 1 by text and parameters: text names it
    assert got.select("index", "repeat_of", "rule").rows() == [(2, 1, "params"), (3, 1, "text")]


def test_repeat_rate_in_summary() -> None:
    rows = rows_of(["baseline", "add qk norm", "use swiglu", "add qk norm", "add qk norm"])
    row = ha.summarize(one(rows)).collect().row(0, named=True)
    assert (row["repeats"], row["repeat_rate"]) == (2, 0.5)


def test_bad_arguments() -> None:
    frame = one(rows_of(["baseline", "x"]))
    with pytest.raises(StatisticsError, match="rule"):
        ha.repeats(frame, rules=["vibes"])  # type: ignore[list-item]
    with pytest.raises(StatisticsError, match="threshold"):
        ha.repeats(frame, threshold=0)
    with pytest.raises(StatisticsError, match="extract"):
        ha.repeats(frame, extract="regex")  # type: ignore[arg-type]


def test_many_descriptions_quickly() -> None:
    # 20 trajectories x 500: exercises the join-based path at some scale (no timing asserted)
    phrases = ["add rmsnorm", "use swiglu", "lr {} -> {}", "warmup {} steps", "depth {} to {}"]
    data = {}
    for t in range(20):
        descs = ["baseline"] + [
            phrases[(i * 7 + t) % 5].format(i % 13, (i * 3) % 11) for i in range(1, 500)
        ]
        data[("s", f"a{t}", 0)] = rows_of(descs)
    got = ha.repeats(frame_of(data), rules=["text"]).collect()
    for (_, agent, _), rows in list(data.items())[:2]:
        want = ref.text_repeats([r["description"] for r in rows], 0.8)
        part = got.filter(pl.col("agent") == agent)
        assert dict(zip(part.get_column("index"), part.get_column("repeat_of"), strict=True)) == {
            i: j for i, (j, _) in want.items()
        }
