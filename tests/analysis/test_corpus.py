"""The worked example of docs/metrics.md, on the shared corpus (figures that do not depend
on the classifier)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import hpdream_analysis as ha

KARPATHY = "01_karpathy__autoresearch"


@pytest.fixture(scope="module")
def corpus_frame(corpus_dir: Path) -> ha.LoadResult:
    return ha.load_with_reports(corpus_dir)


def test_worked_example_figures(corpus_frame: ha.LoadResult) -> None:
    frame = corpus_frame.frame
    assert len(corpus_frame.files) == 12
    assert [r.reason for r in corpus_frame.reports] == ["divider line, not an experiment"] * 3
    assert frame.select(pl.len()).collect().item() == 655
    summary = ha.summarize(frame).collect()
    assert summary.height == 12
    row = summary.filter(pl.col("agent") == KARPATHY).row(0, named=True)
    assert (row["experiments"], row["kept"], row["crashes"], row["improvements"]) == (
        125,
        22,
        1,
        23,
    )
    assert (row["baseline_val_bpb"], row["best_val_bpb"]) == (0.9979, 0.969686)
    assert row["success_rate"] == 0.176 and row["crash_rate"] == 0.008
    assert (row["dry_streaks"], row["max_dry_streak"], row["open_dry_streak"]) == (15, 25, 7)
    rates = summary.get_column("success_rate")
    assert round(rates.min(), 3) == 0.140 and round(rates.max(), 3) == 0.567
    test = ha.compare_rates(frame, KARPATHY, "12_trevin-creator__autoresearch-mlx").row(
        0, named=True
    )
    assert (test["events_a"], test["n_a"], test["events_b"], test["n_b"]) == (22, 125, 17, 30)
    assert test["fisher_p"] == pytest.approx(3.44e-05, rel=1e-2)
    text_repeats = ha.repeats(frame.filter(pl.col("agent") == KARPATHY), rules=["text"]).collect()
    assert (108, 103) in text_repeats.select("index", "repeat_of").rows()
