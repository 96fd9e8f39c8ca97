"""Hypothesis strategies for trajectories, and helpers to turn them into frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from hypothesis import strategies as st

from hpdream_analysis import SCHEMA, TRAJECTORY, conform

CATEGORIES = ("hyperparameters", "architecture", "optimizer", "schedule", "other")
Row = dict[str, Any]


@st.composite
def trajectory(
    draw: st.DrawFn,
    *,
    min_size: int = 1,
    max_size: int = 25,
    categories: Sequence[str] = CATEGORIES,
    crash_weight: int = 1,
) -> list[Row]:
    """One trajectory, in index order: the baseline, then experiments."""
    n = draw(st.integers(min_size, max_size))
    statuses = st.sampled_from(["keep", "discard"] + ["crash"] * crash_weight)
    # few distinct values, so ties and repeated bests happen
    values = st.sampled_from([0.9, 0.95, 0.97, 1.0, 1.01, 1.05, 1.2]) | st.floats(0.5, 1.5)
    rows = []
    for i in range(n):
        status = draw(statuses)
        rows.append(
            {
                "index": i,
                "status": status,
                "val_bpb": None if status == "crash" else draw(values),
                "category": "baseline" if i == 0 else draw(st.sampled_from(list(categories))),
                "description": "baseline" if i == 0 else f"change {i}",
            }
        )
    return rows


@st.composite
def trajectories(
    draw: st.DrawFn, max_trajectories: int = 4, **kwargs: Any
) -> dict[tuple[str, str, int], list[Row]]:
    """Several trajectories keyed by (study, agent, run)."""
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["s1", "s2"]), st.sampled_from(["a", "b", "c"]), st.integers(0, 2)
            ),
            min_size=1,
            max_size=max_trajectories,
            unique=True,
        )
    )
    return {k: draw(trajectory(**kwargs)) for k in keys}


def frame_of(
    data: dict[tuple[str, str, int], list[Row]], *, shuffle_seed: int | None = None
) -> pl.LazyFrame:
    """A canonical LazyFrame of the trajectories (rows optionally shuffled)."""
    rows = [
        {"study": s, "agent": a, "run": r, **row}
        for (s, a, r), traj in data.items()
        for row in traj
    ]
    frame = pl.DataFrame(
        rows, schema_overrides={k: SCHEMA[k] for k in ("val_bpb",)}, infer_schema_length=None
    )
    if shuffle_seed is not None:
        frame = frame.sample(fraction=1.0, shuffle=True, seed=shuffle_seed)
    return conform(frame.lazy())


def one(rows: list[Row], study: str = "s", agent: str = "a", run: int = 0) -> pl.LazyFrame:
    return frame_of({(study, agent, run): rows})


def rows_of(descriptions: Sequence[str], **extra: Sequence[Any]) -> list[Row]:
    """A trajectory with these descriptions (index 0 is the baseline)."""
    out = []
    for i, d in enumerate(descriptions):
        row = {
            "index": i,
            "status": "keep" if i == 0 else "discard",
            "val_bpb": 1.0,
            "category": "baseline" if i == 0 else "other",
            "description": d,
        }
        for k, values in extra.items():
            row[k] = values[i]
        out.append(row)
    return out


def by_trajectory(frame: pl.DataFrame) -> dict[tuple[str, str, int], Row]:
    return {tuple(r[k] for k in TRAJECTORY): r for r in frame.iter_rows(named=True)}  # type: ignore[misc]
