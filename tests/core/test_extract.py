"""ParamExtractor gives exactly what extract_params gives, reading each shape of description once."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import ParamExtractor, extract_params
from hpdream_core._extract import shape

FREE_DIGITS = re.compile(r"(?<![A-Za-z0-9_])[0-9]+")


def variant(text: str, rng: random.Random) -> str:
    """``text`` with the digits of its numbers redrawn (lengths kept): the same shape."""
    return FREE_DIGITS.sub(lambda m: "".join(rng.choice("0123456789") for _ in m.group()), text)


def corpus_texts(corpus_dir: Path) -> list[str]:
    texts: list[str] = []
    for path in sorted(corpus_dir.glob("*.tsv")):
        if path.name in ("LABELS.tsv", "MANIFEST.tsv"):
            continue
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t"):
                texts.extend(cell for cell in row if re.search(r"[A-Za-z]{3}", cell))
    return texts


@pytest.mark.shared
def test_same_as_extract_params_on_the_corpus_and_its_look_alikes(corpus_dir: Path) -> None:
    rng = random.Random(7)
    texts = corpus_texts(corpus_dir)
    assert len(texts) > 600
    extractor = ParamExtractor()
    checked = 0
    for text in texts:
        for t in [text, text, *(variant(text, rng) for _ in range(3))]:
            assert extractor(t) == extract_params(t), t
            checked += 1
    # most look-alikes were answered from their shape, not read again
    assert extractor.reused > checked // 2
    assert extractor.reused + extractor.parsed == checked


def test_look_alikes_are_answered_from_the_shape() -> None:
    extractor = ParamExtractor()
    rng = random.Random(1)
    texts = [variant("matrix lr 0.04 -> 0.05, warmdown 0.5 to 0.7", rng) for _ in range(50)]
    for text in texts:
        assert extractor(text) == extract_params(text)
    assert extractor.parsed == 2  # the first is read, the second teaches the shape
    assert extractor.reused == 48
    assert extractor("depth: 4") == extract_params("depth: 4")


@pytest.mark.parametrize(
    "texts",
    [
        # the scan branches on whether a value is a number: "1/0" stays text
        ["short window at 1/0", "short window at 1/8", "short window at 1/0"],
        ["batch 2**99 -> 2**16", "batch 2**16 -> 2**99", "batch 2**12 -> 2**13"],
        # two values that are the same object: which one is which cannot be told
        ["lr 0.04 -> 0.04", "lr 0.04 -> 0.05", "lr 0.03 -> 0.04"],
        ["depth 4 -> 6 (4 layers)", "depth 5 -> 6 (4 layers)", "depth 4 -> 4 (4 layers)"],
        # a factor turned into a number
        ["MLP hidden 4x to 3x", "MLP hidden 2x to 5x", "MLP hidden 4x to 3x"],
        # digits inside words make the name
        ["gpt-2 lr 0.1 -> 0.2", "gpt-3 lr 0.1 -> 0.2", "gpt-2 lr 0.3 -> 0.2"],
        ["x0_lambda 0.5 -> 0.7", "x1_lambda 0.5 -> 0.7", "x0_lambda 0.6 -> 0.8"],
        # infinities and percents, tuples, quotes, labels, the baseline
        ["lr=1e999", "lr=1e100", "lr=1e999"],
        ["warmdown 30 percent", "warmdown 50 percent", "warmdown 50 percent"],
        ["ADAM_BETAS (0.8, 0.95) -> (0.9, 0.98)", "ADAM_BETAS (0.7, 0.95) -> (0.9, 0.99)"],
        ['WINDOW "SSSL" -> "L1"', 'WINDOW "SSSL" -> "L2"', 'WINDOW "SSSL" -> "L2"'],
        [
            "exp12: lr 0.1 -> 0.2",
            "exp13: lr 0.3 -> 0.2",
            "#12: lr 0.1 -> 0.2",
            "#13: lr 0.1 -> 0.2",
        ],
        ["baseline 3", "baseline 4", "baseline 4"],
        ["halve batch (0.5x)", "halve batch (0.2x)", "halve batch (0.2x)"],
        ["lr 0.04→0.05", "lr 0.06→0.05", "lr 0.04→0.07"],
    ],
)
def test_tricky_shapes(texts: list[str]) -> None:
    extractor = ParamExtractor()
    for text in [*texts, *texts]:
        assert extractor(text) == extract_params(text), text


def test_a_hypothesis_counts_only_beside_a_description_without_a_change() -> None:
    extractor = ParamExtractor()
    hypothesis = "raising lr 0.04 -> 0.05 should help"
    for text in ("result: 0.98", "result: 0.97", "result: 0.98", "", ""):
        got = extractor(text, hypothesis)
        assert got == extract_params(text, hypothesis=hypothesis) != ()
    rng = random.Random(3)
    for _ in range(20):
        text = variant("matrix lr 0.04 -> 0.05", rng)
        assert extractor(text, variant(hypothesis, rng)) == extract_params(text)
    assert extractor.reused == 18  # the look-alikes with a change of their own


def test_shape_keeps_the_digits_of_words_only() -> None:
    assert shape("x0_lambda 0.5 -> 0.75") == shape("x0_lambda 0.7 -> 0.25")
    assert shape("x0_lambda 0.5 -> 0.75") != shape("x1_lambda 0.5 -> 0.75")
    assert shape("lr 0.5") != shape("lr 0.55")


NAMES = ["lr", "matrix lr", "MATRIX_LR", "WD", "x0_lambda", "gpt-2", "depth", "warmdown", "batch"]
NUMBERS = st.sampled_from(
    ["0", "4", "12", "0.04", ".5", "1e-3", "2**16", "2^7", "1/0", "1/8", "5%", "262K", "4x", "x2"]
) | st.integers(0, 10**6).map(str)
GLUE = [" -> ", " to ", "=", ": ", " ", " from ", " (from ", " instead of ", " at ", ", ", " for "]
WORDS = [
    "embeddings",
    "the",
    "lm_head",
    "layers",
    "percent",
    "halve",
    "baseline",
    "(",
    ")",
    "steps",
]


@st.composite
def descriptions(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            parts.append(draw(st.sampled_from(NAMES)))
        elif kind == 1:
            parts.append(draw(NUMBERS))
        elif kind == 2:
            parts.append(draw(st.sampled_from(WORDS)))
        parts.append(draw(st.sampled_from(GLUE)))
    return "".join(parts).strip()


@given(st.lists(descriptions(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_same_as_extract_params_on_random_look_alikes(texts: list[str], rng: random.Random) -> None:
    extractor = ParamExtractor()
    for text in texts:
        for t in (text, variant(text, rng), variant(text, rng), text):
            assert extractor(t) == extract_params(t), t


@given(
    st.lists(st.tuples(descriptions(), st.none() | descriptions()), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_same_as_extract_params_with_hypotheses(
    pairs: list[tuple[str, str | None]], rng: random.Random
) -> None:
    extractor = ParamExtractor()
    for text, hypothesis in pairs:
        for t in (text, variant(text, rng), variant(text, rng)):
            assert extractor(t, hypothesis) == extract_params(t, hypothesis=hypothesis), t
