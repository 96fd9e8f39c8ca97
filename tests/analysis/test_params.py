"""Parameter changes (text rules, core's extractor) and micro-optimisation loops."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpdream_analysis as ha
import hpdream_core
from hpdream_analysis import StatisticsError, parse_number, text_param_changes
from hpdream_analysis._params import text_changes
from hpdream_core import ParamChange
from tests.analysis.frames import frame_of, one, rows_of

PIECES = [
    "lr",
    "matrix LR",
    "warmup",
    "try",
    "increase",
    "the",
    "weight decay",
    "from",
    "to",
    " to ",
    "->",
    "→",
    "=",
    ":",
    " ",
    "  ",
    ",",
    "(",
    ")",
    "0.04",
    "0.045",
    "1e-3",
    "2**19",
    "524K",
    "5%",
    "12",
    "1_000",
    "x0_lambda",
    "set",
    "and",
    "Muon",
    "-",
    ".5",
]


@settings(max_examples=200)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(PIECES), max_size=12).map("".join), min_size=1, max_size=8
    )
)
def test_vectorised_text_rules_equal_the_python_rules(texts: list[str]) -> None:
    frame = pl.DataFrame({"_text": list(range(len(texts))), "description": texts})
    got = text_changes(frame)
    want = [
        (i, k, c.name, c.old, c.new)
        for i, t in enumerate(texts)
        for k, c in enumerate(text_param_changes(t))
    ]
    rows = got.select("_text", "_change", "parameter", "old", "new").rows()
    assert len(rows) == len(want)
    for a, b in zip(rows, want, strict=True):
        assert a[:3] == b[:3]
        for x, y in zip(a[3:], b[3:], strict=True):
            assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-12)


def test_text_rules_on_agent_phrasing() -> None:
    assert text_param_changes("matrix LR 0.04 to 0.045") == (ParamChange("matrix_lr", 0.04, 0.045),)
    assert text_param_changes("halve batch 524K to 262K (more steps)") == (
        ParamChange("batch", 524000.0, 262000.0),
    )
    assert text_param_changes("try embedding LR from 0.6 to 0.8 and lr=0.05") == (
        ParamChange("embedding_lr", 0.6, 0.8),
        ParamChange("lr", None, 0.05),
    )
    assert text_param_changes("increase warmup to 5%") == (ParamChange("warmup", None, 0.05),)
    assert text_param_changes("batch 2**19 → 2**18") == (ParamChange("batch", 524288.0, 262144.0),)
    assert text_param_changes("set to 0.5") == ()  # no name left
    assert text_param_changes("add rmsnorm") == ()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.04", 0.04),
        ("1e-3", 0.001),
        ("524_288", 524288.0),
        ("2**19", 524288.0),
        ("262K", 262000.0),
        ("5%", 0.05),
        ("1.5m", 1.5e6),
        (3, 3.0),
        (0.5, 0.5),
        ("0.5x", None),
        ("SSSL", None),
        ("", None),
        (None, None),
        (True, None),
        ("1e999", None),
        (float("nan"), None),
    ],
)
def test_parse_number(text: Any, value: float | None) -> None:
    assert parse_number(text) == value


def test_param_changes_infer_old_values_and_steps() -> None:
    rows = rows_of(["baseline", "lr 0.04 -> 0.05", "lr=0.0502", "add rmsnorm", "lr=0", "lr=0.1"])
    got = ha.param_changes(one(rows), extract="text").collect()
    assert got.select("index", "parameter", "old", "new", "old_inferred").rows() == [
        (1, "lr", 0.04, 0.05, False),
        (2, "lr", 0.05, 0.0502, True),
        (4, "lr", 0.0502, 0.0, True),
        (5, "lr", 0.0, 0.1, True),
    ]
    deltas = got.get_column("delta").to_list()
    assert deltas[:3] == pytest.approx([0.25, 0.004, 1.0])
    assert deltas[3] is None  # a step from 0 has no relative size


def test_core_extractor_is_the_default() -> None:
    assert hasattr(hpdream_core, "extract_params")
    rows = rows_of(["baseline", "depth 9 aspect_ratio 57", "SSSSL window pattern"])
    got = ha.param_changes(one(rows)).collect()
    assert got.select("index", "parameter", "new", "new_text").rows() == [
        (1, "depth", 9.0, "9"),
        (1, "aspect_ratio", 57.0, "57"),
        (2, "window_pattern", None, "SSSSL"),
    ]
    text_only = ha.param_changes(one(rows), extract="text").collect()
    assert text_only.height == 0  # the text rules need an arrow, "to" or "="


def test_a_custom_extractor_sees_the_hypothesis() -> None:
    seen: list[tuple[str, str | None]] = []

    def extract(description: str, hypothesis: str | None) -> list[ParamChange]:
        seen.append((description, hypothesis))
        return [ParamChange("knob", None, len(description))]

    rows = rows_of(["baseline", "ab", "abc", "ab"], hypothesis=[None, "h1", "h2", "h1"])
    got = ha.param_changes(one(rows), extract=extract).collect()
    assert got.get_column("new").to_list() == [2.0, 3.0, 2.0]
    assert sorted(seen) == [("ab", "h1"), ("abc", "h2")]  # once per distinct text


def reference_loops(
    changes: list[tuple[int, str, float | None]], min_length: int, tolerance: float
) -> list[tuple[str, int, int]]:
    """(parameter, start, end) of runs of consecutive positions with a small step."""
    small: dict[str, set[int]] = defaultdict(set)
    for position, name, delta in changes:
        if delta is not None and delta < tolerance:
            small[name].add(position)
    loops = []
    for name, positions in small.items():
        ordered = sorted(positions)
        start = prev = ordered[0]
        for p in [*ordered[1:], None]:
            if p is not None and p == prev + 1:
                prev = p
                continue
            if prev - start + 1 >= min_length:
                loops.append((name, start, prev))
            if p is not None:
                start = prev = p
    return sorted(loops, key=lambda x: (x[1], x[0]))


@settings(max_examples=60)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["lr", "wd", "warmup"]), st.sampled_from([0.0, 0.002, 0.005, 0.02, 0.5])
        ),
        min_size=1,
        max_size=25,
    ),
    min_length=st.integers(1, 4),
    tolerance=st.sampled_from([0.003, 0.01, 0.1]),
)
def test_micro_loops_match_reference(
    steps: list[tuple[str, float]], min_length: int, tolerance: float
) -> None:
    value = {"lr": 0.04, "wd": 0.1, "warmup": 100.0}
    descriptions = ["baseline"]
    for name, step in steps:
        old = value[name]
        new = old * (1 + step)
        value[name] = new
        descriptions.append(f"{name} {old!r} -> {new!r}")
    frame = one(rows_of(descriptions))
    changes = ha.param_changes(frame, extract="text").collect()
    want = reference_loops(
        list(
            zip(
                changes.get_column("position"),
                changes.get_column("parameter"),
                changes.get_column("delta"),
                strict=True,
            )
        ),
        min_length,
        tolerance,
    )
    got = ha.micro_loops(
        frame, min_length=min_length, tolerance=tolerance, extract="text"
    ).collect()
    assert got.select("parameter", "start_position", "end_position").rows() == want
    assert (
        got.get_column("length")
        == got.get_column("end_position") - got.get_column("start_position") + 1
    ).all()


def test_micro_loops_in_summary() -> None:
    descriptions = [
        "baseline",
        "matrix lr 0.040 -> 0.0401",
        "matrix lr 0.0401 -> 0.0402",
        "matrix lr 0.0402 -> 0.0403",
        "add rmsnorm",
        "matrix lr 0.0403 -> 0.0404",
    ]
    frame = one(rows_of(descriptions))
    loops = ha.micro_loops(frame).collect()
    assert loops.select("parameter", "start_index", "end_index", "length").rows() == [
        ("matrix_lr", 1, 3, 3)
    ]
    assert loops.item(0, "max_delta") == pytest.approx(0.0025, rel=1e-3)
    row = ha.summarize(frame).collect().row(0, named=True)
    assert (row["micro_loops"], row["micro_loop_steps"]) == (1, 3)


def test_loop_arguments() -> None:
    frame = one(rows_of(["baseline", "x"]))
    with pytest.raises(StatisticsError, match="min_length"):
        ha.micro_loops(frame, min_length=0)
    with pytest.raises(StatisticsError, match="tolerance"):
        ha.micro_loops(frame, tolerance=0)


def test_several_trajectories_keep_their_own_history() -> None:
    data = {
        ("s", "a", 0): rows_of(["baseline", "lr 0.04 -> 0.05"]),
        ("s", "b", 0): rows_of(["baseline", "lr=0.0501"]),
    }
    got = ha.param_changes(frame_of(data), extract="text").collect()
    # b's first lr has no earlier value in b: a's history does not leak into it
    assert got.filter(pl.col("agent") == "b").select("old", "old_inferred").row(0) == (None, False)
