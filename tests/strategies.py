"""Hypothesis strategies for hpdream's records, shared by the test suite."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from hpdream_core import STATUSES, Experiment

# any Unicode scalar value (no lone surrogates: they cannot be written as UTF-8)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
nonempty_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    min_size=1,
    max_size=20,
)
nonneg = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=100, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10**9)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
extra_names = st.sampled_from(["mfu", "tok_per_sec", "notes", "gpu", "raw_status"])


@st.composite
def experiments(draw: st.DrawFn, extras: tuple[str, ...] = ()) -> Experiment:
    status = draw(st.sampled_from(STATUSES))
    val = None if status == "crash" else draw(st.none() | positive)
    return Experiment.from_values(
        {
            "study": draw(names),
            "agent": draw(names),
            "run": draw(st.integers(0, 50)),
            "index": draw(st.integers(0, 10_000)),
            "started_at": draw(st.none() | times),
            "status": status,
            "val_bpb": val,
            "memory_gb": draw(st.none() | nonneg),
            "training_seconds": draw(st.none() | nonneg),
            "total_seconds": draw(st.none() | nonneg),
            "num_params_m": draw(st.none() | nonneg),
            "category": draw(st.sampled_from(["baseline", "hyperparameters", "other", "my cat"])),
            "subcategory": draw(st.none() | nonempty_text),
            "multi": draw(st.booleans()),
            "description": draw(any_text),
            "hypothesis": draw(st.none() | nonempty_text),
            "commit": draw(st.none() | st.from_regex(r"[0-9a-f]{7,40}", fullmatch=True)),
            "diff_added": draw(st.none() | counts),
            "diff_removed": draw(st.none() | counts),
            "agent_seconds": draw(st.none() | nonneg),
            "input_tokens": draw(st.none() | counts),
            "output_tokens": draw(st.none() | counts),
            "cost_usd": draw(st.none() | nonneg),
            "error": draw(st.none() | nonempty_text),
            "source": draw(st.none() | nonempty_text),
            "source_line": draw(st.none() | st.integers(1, 10**6)),
            "extras": {name: draw(any_text) for name in extras},
        }
    )
