"""train.py constants: reading, rendering, overrides; and the presets built on them."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_runner.training import (
    PRESETS,
    OverrideError,
    Preset,
    PresetError,
    baseline_train_py,
    check_train_py,
    get_preset,
    parse_overrides,
    read_constants,
    render_constants,
)
from hpdream_runner.training._constants import apply_overrides, check_overrides, coerce_override

SOURCE = '''"""doc"""
import torch

DEPTH = 4  # blocks
LR: float = 0.04  # annotated
TOTAL = 2**16
BETAS = (0.8, 0.95)
PATTERN = "SSSL"
FLAG = False
NOTHING = None
NEG = -1e-3
computed = DEPTH * 2
DERIVED = torch.zeros(3)


def f():
    INNER = 5
    return INNER
'''


def test_read_constants_takes_top_level_literals_only() -> None:
    assert read_constants(SOURCE) == {
        "DEPTH": 4,
        "LR": 0.04,
        "TOTAL": 65536,
        "BETAS": (0.8, 0.95),
        "PATTERN": "SSSL",
        "FLAG": False,
        "NOTHING": None,
        "NEG": -0.001,
    }


def test_render_changes_only_the_value_and_keeps_comments() -> None:
    out = render_constants(SOURCE, {"DEPTH": 6, "LR": 0.1, "BETAS": (0.9, 0.99), "TOTAL": 2**17})
    assert "DEPTH = 6  # blocks" in out
    assert "LR: float = 0.1  # annotated" in out
    assert "BETAS = (0.9, 0.99)" in out
    assert "TOTAL = 2**17" in out
    assert read_constants(out)["DEPTH"] == 6
    # everything else is byte-identical
    assert (
        out.replace("DEPTH = 6", "DEPTH = 4")
        .replace("0.1  # annotated", "0.04  # annotated")
        .replace("(0.9, 0.99)", "(0.8, 0.95)")
        .replace("2**17", "2**16")
        == SOURCE
    )


def test_render_unknown_constant_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(OverrideError, match=r"no constant WIDTH .*DEPTH"):
        render_constants(SOURCE, {"WIDTH": 3})


def test_render_handles_non_ascii_before_the_value() -> None:
    src = 'TITLE = "é"; DEPTH = 4  # ünïcode\n'
    assert read_constants(render_constants(src, {"DEPTH": 5}))["DEPTH"] == 5


values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
    st.none(),
    st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.integers(-5, 5)),
)


@given(values)
def test_render_then_read_round_trips(value: object) -> None:
    out = render_constants(SOURCE, {"DEPTH": value})  # type: ignore[dict-item]
    ast.parse(out)
    assert read_constants(out)["DEPTH"] == value


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("6", 4, 6),
        ("2**17", 65536, 131072),
        ("0.05", 0.04, 0.05),
        ("1", 0.04, 1.0),
        ("0.9,0.99", (0.8, 0.95), (0.9, 0.99)),
        ("(0.9, 1)", (0.8, 0.95), (0.9, 1.0)),
        ("SSSL", "L", "SSSL"),
        ("'S L'", "L", "S L"),
        ("123", "L", "123"),
        ("True", False, True),
        ("3", None, 3),
    ],
)
def test_coerce_override(text: str, current: object, expected: object) -> None:
    value = coerce_override("X", text, current)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "current", "message"),
    [
        ("0.5", 4, "X is a int"),
        ("True", 4, "X is a int"),
        ("1", False, "X is a bool"),
        ("0.9", (0.8, 0.95), "X is a tuple"),
        ("1,2,3", (0.8, 0.95), "needs 2 values"),
        ("four", 4, "not a Python literal"),
        ("2**100000", 4, "not a Python literal"),
    ],
)
def test_coerce_override_rejects_what_does_not_fit(
    text: str, current: object, message: str
) -> None:
    with pytest.raises(OverrideError, match=message):
        coerce_override("X", text, current)


def test_parse_overrides() -> None:
    assert parse_overrides(["DEPTH=6", "LR = 0.1", "DEPTH=8"]) == {"DEPTH": "8", "LR": "0.1"}
    for bad in ["DEPTH", "depth=4", "=4", "1X=2"]:
        with pytest.raises(OverrideError, match="KEY=VALUE"):
            parse_overrides([bad])


def test_apply_overrides_sets_globals_and_rejects_unknown_names() -> None:
    namespace: dict[str, object] = {"DEPTH": 4, "LR": 0.04, "torch": object()}
    assert apply_overrides(namespace, {"DEPTH": "6"}) == {"DEPTH": 6}
    assert namespace["DEPTH"] == 6
    with pytest.raises(OverrideError, match=r"no constant WIDTH \(its constants: DEPTH, LR\)"):
        apply_overrides(namespace, {"WIDTH": "3"})
    assert check_overrides(SOURCE, {"TOTAL": "2**10"}) == {"TOTAL": 1024}


# -- presets -------------------------------------------------------------------------------------


def test_get_preset() -> None:
    assert get_preset("seed") is PRESETS["seed"]
    assert get_preset(PRESETS["smoke"]) is PRESETS["smoke"]
    with pytest.raises(
        PresetError, match="unknown preset 'nope'; presets: seed, depth8, cpu-tiny, smoke"
    ):
        get_preset("nope")


def test_seed_preset_is_the_study_setting() -> None:
    seed = PRESETS["seed"]
    assert (seed.budget_s, seed.seq_len, seed.vocab_size) == (300.0, 2048, 8192)
    assert baseline_train_py("seed") == baseline_train_py()
    constants = read_constants(baseline_train_py())
    expected = {
        "DEPTH": 4,
        "ASPECT_RATIO": 64,
        "HEAD_DIM": 128,
        "WINDOW_PATTERN": "L",
        "TOTAL_BATCH_SIZE": 2**16,
        "DEVICE_BATCH_SIZE": 16,
        "EMBEDDING_LR": 0.6,
        "UNEMBEDDING_LR": 0.004,
        "MATRIX_LR": 0.04,
        "SCALAR_LR": 0.5,
        "WEIGHT_DECAY": 0.2,
        "ADAM_BETAS": (0.8, 0.95),
        "WARMUP_RATIO": 0.0,
        "WARMDOWN_RATIO": 0.5,
        "FINAL_LR_FRAC": 0.0,
    }
    assert {k: constants[k] for k in expected} == expected


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_renders_a_clean_baseline(name: str) -> None:
    preset = PRESETS[name]
    source = baseline_train_py(name)
    constants = read_constants(source)
    for key, value in preset.constants.items():
        assert constants[key] == value
    assert check_train_py(source) == []
    # the batch fits whole passes of the preset's sequence
    assert constants["TOTAL_BATCH_SIZE"] % (constants["DEVICE_BATCH_SIZE"] * preset.seq_len) == 0
    assert preset.to_dict()["name"] == name


def test_preset_validates_its_settings() -> None:
    with pytest.raises(PresetError, match="budget_s must be a positive number"):
        PRESETS["smoke"].with_settings(budget_s=0)
    with pytest.raises(PresetError, match="grace_s must be a positive number"):
        PRESETS["smoke"].with_settings(grace_s=float("nan"))
    assert PRESETS["smoke"].with_settings(budget_s=7).budget_s == 7
    assert isinstance(PRESETS["smoke"], Preset)
