"""The schema as data, the Experiment record, the package boundary."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

import hpdream_core
from hpdream_core import COLUMN_NAMES, COLUMNS, FORMAT_VERSION, Experiment, SchemaError


def test_columns_follow_schema_md(shared_dir) -> None:  # type: ignore[no-untyped-def]
    text = (shared_dir / "docs" / "schema.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and "|---" not in line][1:]
    documented: list[str] = []
    for line in table:
        cell = line.split("|")[1].strip()
        documented += [c.strip() for c in cell.split(",")]
    assert [c for c in COLUMN_NAMES if c != "format_version"] == documented
    nullable = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in table}
    for c in COLUMNS:
        key = next((k for k in nullable if c.name in [x.strip() for x in k.split(",")]), None)
        if key is not None:
            assert c.nullable == (nullable[key] == "yes"), c.name


def test_named_constructors_and_validation() -> None:
    b = Experiment.baseline(study="s", agent="a", val_bpb=0.63)
    assert (b.index, b.category, b.status, b.format_version) == (
        0,
        "baseline",
        "keep",
        FORMAT_VERSION,
    )
    with pytest.raises(SchemaError, match="status"):
        Experiment.from_row(
            {
                "study": "s",
                "agent": "a",
                "run": "0",
                "index": "1",
                "status": "won",
                "description": "",
            }
        )
    with pytest.raises(SchemaError, match="run"):
        Experiment.from_row(
            {
                "study": "s",
                "agent": "a",
                "run": "-1",
                "index": "1",
                "status": "keep",
                "description": "",
            }
        )
    with pytest.raises(SchemaError, match="required column is missing"):
        Experiment.from_row(
            {"study": "s", "agent": "a", "run": "0", "status": "keep", "description": ""}
        )
    with pytest.raises(SchemaError, match="val_bpb"):
        Experiment.from_values(
            {
                "study": "s",
                "agent": "a",
                "run": 0,
                "index": 1,
                "status": "keep",
                "description": "",
                "val_bpb": 0.0,
            }
        )
    with pytest.raises(SchemaError, match="finite"):
        Experiment.from_values(
            {
                "study": "s",
                "agent": "a",
                "run": 0,
                "index": 1,
                "status": "keep",
                "description": "",
                "val_bpb": float("nan"),
            }
        )
    with pytest.raises(SchemaError, match="time zone"):
        Experiment.from_values(
            {
                "study": "s",
                "agent": "a",
                "run": 0,
                "index": 1,
                "status": "keep",
                "description": "",
                "started_at": datetime(2026, 1, 1),
            }
        )


def test_datetimes_are_utc_in_text() -> None:
    t = datetime(2026, 3, 8, 21, 0, tzinfo=timezone(timedelta(hours=9)))
    e = Experiment.from_values(
        {
            "study": "s",
            "agent": "a",
            "run": 0,
            "index": 1,
            "status": "keep",
            "description": "",
            "started_at": t,
        }
    )
    assert e.to_row()["started_at"] == "2026-03-08T12:00:00Z"
    assert Experiment.from_row(e.to_row()).started_at == t.astimezone(UTC)


def test_importing_core_pulls_in_neither_polars_nor_torch() -> None:
    code = "import sys, hpdream_core; bad = {'polars', 'torch', 'numpy'} & set(sys.modules); print(sorted(bad)); sys.exit(bool(bad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_all_lists_the_public_names() -> None:
    public = {n for n in dir(hpdream_core) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(hpdream_core, n)).__name__ == "module"}
    assert len(set(hpdream_core.__all__)) == len(hpdream_core.__all__)  # order: ruff RUF022
    assert set(hpdream_core.__all__) == public - modules
