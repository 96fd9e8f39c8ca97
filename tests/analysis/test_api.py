"""The public surface of hpdream_analysis: __all__, types from core, no torch."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import polars as pl
import pytest

import hpdream_analysis
from hpdream_analysis import SCHEMA, AnalysisError, ColumnError, StatisticsError, polars_dtype
from hpdream_core import COLUMNS, HpdreamError


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(hpdream_analysis) if not n.startswith("_")}
    modules = {n for n in public if inspect.ismodule(getattr(hpdream_analysis, n))}
    exported = hpdream_analysis.__all__
    assert len(set(exported)) == len(exported)
    assert set(exported) == public - modules

    # ruff's RUF022 order: constants, classes, then functions, each alphabetical
    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert exported == sorted(exported, key=key)


def test_schema_comes_from_core_columns() -> None:
    expected = {
        "str": pl.String(),
        "int": pl.Int64(),
        "float": pl.Float64(),
        "bool": pl.Boolean(),
        "datetime": pl.Datetime("us", "UTC"),
    }
    assert SCHEMA.names() == [c.name for c in COLUMNS]
    for c in COLUMNS:
        assert polars_dtype(c) == expected[c.type] == SCHEMA[c.name]


def test_exceptions_are_hpdream_errors() -> None:
    for cls in (AnalysisError, ColumnError, StatisticsError):
        assert issubclass(cls, HpdreamError)
        assert issubclass(cls, ValueError)
    err = ColumnError("summarize", ["val_bpb"])
    assert "summarize" in str(err) and "'val_bpb'" in str(err)


@pytest.mark.slow  # a fresh interpreter importing polars, scipy and altair
def test_import_works_without_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from importlib.abc import Loader, MetaPathFinder
        from importlib.machinery import ModuleSpec

        # importing torch (or any torch.*) raises ImportError; probes such as
        # importlib.util.find_spec still answer, as they do where torch is absent
        class Blocked(Loader):
            def create_module(self, spec):
                raise ImportError(f"{spec.name} is blocked in this test")

            def exec_module(self, module):
                raise ImportError("torch is blocked in this test")

        class NoTorch(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    return ModuleSpec(name, Blocked())
                return None

        sys.meta_path.insert(0, NoTorch())
        try:
            import torch  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker did not block torch")
        import hpdream_analysis
        import polars as pl
        frame = pl.LazyFrame({
            "study": ["s", "s"], "agent": ["a", "a"], "run": [0, 0], "index": [0, 1],
            "status": ["keep", "discard"], "val_bpb": [1.0, 1.1],
            "category": ["baseline", "other"], "description": ["baseline", "lr 0.04 -> 0.05"],
        })
        print(hpdream_analysis.summarize(frame).collect().height)
        assert "torch" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_missing_columns_are_named() -> None:
    frame = pl.LazyFrame({"study": ["s"], "agent": ["a"], "run": [0], "index": [0]})
    try:
        hpdream_analysis.summarize(frame)
    except ColumnError as exc:
        assert exc.columns == ("status", "val_bpb", "category", "description")
        assert "summarize" in str(exc)
    else:
        raise AssertionError("summarize accepted a frame without status")
