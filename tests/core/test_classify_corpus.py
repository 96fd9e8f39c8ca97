"""The classifier against the hand labels of the shared corpus (../shared/corpus/autoresearch-results).

The acceptance bar of issue 3: category accuracy of at least 90% (a prediction
equal to the label or its acceptable alternative counts as right) and
parameter-extraction precision and recall of at least 85%. The scoring is the
benchmark's (benchmarks/bench_classifier.py), so the test and the printed
figures cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_classifier import (
    Row,
    evaluate,
    load_rows,
    match_params,
    names_compatible,
    values_equal,
)
from hpdream_core import Classifier, ParamChange, load_taxonomy

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def rows(corpus_dir: Path) -> list[Row]:
    return load_rows(corpus_dir)


def test_every_labelled_line_is_an_imported_row(rows: list[Row]) -> None:
    assert len(rows) > 600
    assert len({(r.file, r.line) for r in rows}) == len(rows)
    assert len({r.file for r in rows}) == 12


def test_category_accuracy_and_parameter_extraction(rows: list[Row]) -> None:
    score = evaluate(rows, Classifier())
    assert score.accuracy >= 0.90, f"accuracy {score.accuracy:.1%}"
    assert score.precision >= 0.85, f"parameter precision {score.precision:.1%}"
    assert score.recall >= 0.85, f"parameter recall {score.recall:.1%}"
    for name, (ok, total) in score.per_file.items():
        assert ok / total >= 0.75, f"{name}: {ok}/{total}"


def test_a_custom_taxonomy_labels_the_corpus_with_its_own_categories(
    rows: list[Row], repo_dir: Path
) -> None:
    tax = load_taxonomy(repo_dir / "examples" / "taxonomy-custom.toml")
    classifier = Classifier(tax)
    got = {classifier.classify(r.description).category for r in rows}
    assert got <= set(tax.keys())
    assert {"capacity", "optimisation", "data", "engineering", "baseline"} <= got


def test_scoring_helpers() -> None:
    assert values_equal(262000, "262K") and values_equal(65536, "2^16") and values_equal(0.05, "5%")
    assert (
        values_equal("0.5x", "0.5x") and values_equal(3.5, "3.5x") and values_equal(1800, "1800s")
    )
    assert values_equal("(0.9, 0.98)", "(0.9,0.98)") and not values_equal(0.04, "0.05")
    assert names_compatible("matrix_lr", "MATRIX_LR") and names_compatible(
        "unembedding_lr", "unembedding_learning_rate"
    )
    assert names_compatible("muon_weight_decay", "muon_wd") and names_compatible("n_embd", "dim")
    assert not names_compatible("warmup_ratio", "warmdown_ratio")
    predicted = (
        ParamChange("depth", 4, 6),
        ParamChange("depth", None, 6),
        ParamChange("lr", None, 0.1),
    )
    assert match_params(predicted, [("DEPTH", "6")]) == 1  # each label is matched once
