"""Reading, bounding and rewriting train.py's constants (the built-in agents' search space)."""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_runner.agents import (
    DEFAULT_PARAMS,
    Param,
    SpaceError,
    build_space,
    describe_change,
    format_number,
    read_constants,
    set_constants,
)
from hpdream_runner.training import baseline_train_py
from tests.runner.study_helpers import MINI_TRAIN_PY


def test_reads_numbers_arithmetic_and_tuple_elements() -> None:
    c = read_constants(MINI_TRAIN_PY)
    assert c["DEPTH"] == 2
    assert c["TOTAL_BATCH_SIZE"] == 4096
    assert c["MATRIX_LR"] == 0.04
    assert c["ADAM_BETAS[0]"] == 0.8
    assert c["ADAM_BETAS[1]"] == 0.95
    assert "print" not in c


def test_reads_the_real_baseline() -> None:
    c = read_constants(baseline_train_py("cpu-tiny"))
    for name in ("DEPTH", "MATRIX_LR", "EMBEDDING_LR", "ADAM_BETAS[1]", "WARMDOWN_RATIO"):
        assert name in c
    assert c["DEPTH"] == 2  # the preset's value, written into the baseline


def test_set_keeps_comments_and_the_rest_of_the_file() -> None:
    new = set_constants(
        MINI_TRAIN_PY, {"MATRIX_LR": 0.05, "ADAM_BETAS[1]": 0.99, "TOTAL_BATCH_SIZE": 2**11}
    )
    assert "MATRIX_LR = 0.05  # Muon\n" in new
    assert "ADAM_BETAS = (0.8, 0.99)\n" in new
    assert "TOTAL_BATCH_SIZE = 2**11  # tokens per step\n" in new  # the 2**k form is kept
    old_lines, new_lines = MINI_TRAIN_PY.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert len(changed) == 3


def test_set_unknown_constant_is_an_error() -> None:
    with pytest.raises(SpaceError, match="no constant NOPE"):
        set_constants(MINI_TRAIN_PY, {"NOPE": 1})


def test_unparsable_source_says_where() -> None:
    with pytest.raises(SpaceError, match="line 1"):
        read_constants("DEPTH = = 2\n")


def test_set_on_the_real_baseline_changes_only_those_lines() -> None:
    source = baseline_train_py("cpu-tiny")
    new = set_constants(source, {"MATRIX_LR": 0.0625, "WARMDOWN_RATIO": 0.7})
    ast.parse(new)
    c = read_constants(new)
    assert c["MATRIX_LR"] == 0.0625 and c["WARMDOWN_RATIO"] == 0.7
    assert sum(a != b for a, b in zip(source.splitlines(), new.splitlines(), strict=True)) == 2


_FLOATS = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    lr=_FLOATS,
    beta=st.floats(min_value=0.0, max_value=0.9999),
    depth=st.integers(min_value=1, max_value=10_000),
    batch=st.integers(min_value=0, max_value=40).map(lambda k: 2**k),
)
def test_set_then_read_round_trip(lr: float, beta: float, depth: int, batch: int) -> None:
    values = {"MATRIX_LR": lr, "ADAM_BETAS[1]": beta, "DEPTH": depth, "TOTAL_BATCH_SIZE": batch}
    back = read_constants(set_constants(MINI_TRAIN_PY, values))
    for name, value in values.items():
        assert back[name] == value
        assert type(back[name]) is type(value)
    assert back["ADAM_BETAS[0]"] == 0.8


@given(st.one_of(_FLOATS, st.integers(min_value=-(10**9), max_value=10**9)))
def test_format_number_is_python_that_reads_back(value: float) -> None:
    text = format_number(value)
    assert ast.literal_eval(text) == value
    assert type(ast.literal_eval(text)) is type(value)


def test_default_space_follows_the_file() -> None:
    space = build_space(MINI_TRAIN_PY)
    assert space.names == tuple(n for n in DEFAULT_PARAMS if n in read_constants(MINI_TRAIN_PY))
    lr = space["MATRIX_LR"]
    assert (lr.low, lr.high, lr.scale) == (0.01, 0.16, "log")
    assert space["ADAM_BETAS[1]"].high == 0.999


def test_named_params_and_overrides() -> None:
    space = build_space(
        MINI_TRAIN_PY,
        ["DEPTH", "TOTAL_BATCH_SIZE"],
        {"MATRIX_LR": {"low": 0.02, "high": 0.08}},
    )
    assert space.names == ("DEPTH", "TOTAL_BATCH_SIZE", "MATRIX_LR")
    assert space["DEPTH"].kind == "int" and (space["DEPTH"].low, space["DEPTH"].high) == (1, 4)
    assert space["TOTAL_BATCH_SIZE"].scale == "pow2"
    assert (space["MATRIX_LR"].low, space["MATRIX_LR"].high, space["MATRIX_LR"].scale) == (
        0.02,
        0.08,
        "log",
    )


@pytest.mark.parametrize(
    ("params", "overrides", "message"),
    [
        (["NOPE"], {}, "no numeric constant NOPE"),
        (["lower"], {}, "not a constant name"),
        (["HIDDEN"], {}, "has no default bounds"),
        ([], {"MATRIX_LR": {"low": 0.1, "high": 0.01}}, "must be below"),
        ([], {"MATRIX_LR": {"low": 0.0, "high": 0.1}}, "needs low > 0"),
        ([], {"MATRIX_LR": {"step": 2}}, "unknown space keys"),
    ],
)
def test_space_errors(
    params: list[str], overrides: dict[str, dict[str, float]], message: str
) -> None:
    source = MINI_TRAIN_PY + "HIDDEN = 3\n"
    with pytest.raises(SpaceError, match=message):
        build_space(source, params, overrides)


def test_no_known_constant_is_an_error() -> None:
    with pytest.raises(SpaceError, match="no constant to search"):
        build_space("X = 1\n")


@given(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False))
def test_snap_lands_inside(value: float) -> None:
    for p in (
        Param("A_LR", "float", 0.01, 0.16, "log"),
        Param("R", "float", 0.0, 0.9, "linear"),
        Param("D", "int", 1, 8, "linear"),
        Param("B", "int", 16, 256, "pow2"),
    ):
        v = p.snap(abs(value) if p.scale != "linear" else value)
        assert p.contains(v), (p, value, v)


def test_describe_change_lists_only_what_changed() -> None:
    old = {"MATRIX_LR": 0.04, "DEPTH": 4}
    assert describe_change(old, {"MATRIX_LR": 0.05, "DEPTH": 4}) == "MATRIX_LR 0.04 -> 0.05"
    assert describe_change(old, {"DEPTH": 6, "MATRIX_LR": 0.04}) == "DEPTH 4 -> 6"


def test_round_sig_via_snap() -> None:
    p = Param("X_LR", "float", 0.001, 1.0, "log")
    assert p.snap(0.0123456) == 0.0123
    assert math.isclose(p.snap(5.0), 1.0)
