"""load(): canonical CSV (fast path and core's reader), autoresearch logs, parquet, folders."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpdream_analysis as ha
from hpdream_analysis import SCHEMA, AnalysisError, LoadWarning
from hpdream_analysis._load import _fast_canonical
from hpdream_core import Experiment, LogFormatError, import_autoresearch, read_log, write_log
from tests.strategies import experiments


def values_of(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: row[k] for k in SCHEMA}
        for row in frame.sort("study", "agent", "run", "index").iter_rows(named=True)
    ]


def expected_values(exps: list[Experiment]) -> list[dict[str, Any]]:
    return sorted(
        (e.to_values() for e in exps), key=lambda v: (v["study"], v["agent"], v["run"], v["index"])
    )


def unique_keys(exps: list[Experiment]) -> list[Experiment]:
    seen, out = set(), []
    for e in exps:
        key = (e.study, e.agent, e.run, e.index)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exps=st.lists(experiments(extras=("notes", "gpu")), min_size=1, max_size=8).map(unique_keys))
def test_canonical_csv_fast_path_equals_core(tmp_path: Path, exps: list[Experiment]) -> None:
    path = tmp_path / "experiments.csv"
    write_log(path, exps)
    fast = _fast_canonical(path)
    core = read_log(path)
    if core.reports:
        return  # core itself rejects something (written values read back differently)
    assert fast is not None, "a log written by core must take the fast path"
    frame = ha.load(path).collect()
    assert values_of(frame) == expected_values(list(core.experiments))
    for name in ("notes", "gpu"):
        want = sorted(
            ((e.study, e.agent, e.run, e.index), dict(e.extras)[name]) for e in core.experiments
        )
        got = sorted(
            ((r["study"], r["agent"], r["run"], r["index"]), r[name] or "")
            for r in frame.iter_rows(named=True)
        )
        assert got == [(k, v or "") for k, v in want]


def write(path: Path, exps: list[Experiment]) -> Path:
    write_log(path, exps)
    return path


def simple(n: int = 3, agent: str = "a", **values: Any) -> list[Experiment]:
    out = [Experiment.baseline(study="s", agent=agent, val_bpb=1.0)]
    for i in range(1, n):
        out.append(
            Experiment.from_values(
                {
                    "study": "s",
                    "agent": agent,
                    "run": 0,
                    "index": i,
                    "status": "discard",
                    "val_bpb": 1.0 + i,
                    "description": f'line one\nline "two", {i}',
                    "category": "other",
                    **values,
                }
            )
        )
    return out


def test_quoted_newlines_and_commas(tmp_path: Path) -> None:
    frame = ha.load(write(tmp_path / "e.csv", simple())).collect()
    assert frame.get_column("description").to_list() == [
        "baseline",
        'line one\nline "two", 1',
        'line one\nline "two", 2',
    ]
    assert frame.schema == pl.Schema({**SCHEMA})


def test_bad_value_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", simple(4))
    path.write_bytes(path.read_bytes().replace(b",3.0,", b",abc,"))
    assert _fast_canonical(path) is None
    with pytest.raises(LogFormatError) as err:
        ha.load(path, strict=True)
    assert err.value.column == "val_bpb" and err.value.line is not None and err.value.line > 1
    result = ha.load_with_reports(path)
    assert result.frame.collect().height == 3
    assert [r.column for r in result.reports] == ["val_bpb"]
    with pytest.warns(LoadWarning, match="1 line"):
        assert ha.load(path).collect().height == 3


def test_semantic_errors_go_to_core(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", simple(3))
    text = path.read_bytes().decode()
    path.write_bytes(text.replace(",discard,", ",crash,", 1).encode())  # a crash with a val_bpb
    result = ha.load_with_reports(path)
    assert result.frame.collect().height == 2
    assert result.reports[0].column == "val_bpb"


def test_cut_last_row_and_other_booleans(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", simple(3))
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # killed while writing the last row
    result = ha.load_with_reports(path)
    assert result.frame.collect().height == 2
    assert "incomplete last row" in result.reports[0].reason
    path2 = write(tmp_path / "f.csv", simple(2, agent="b"))
    path2.write_bytes(path2.read_bytes().replace(b",false,", b",no,"))
    assert _fast_canonical(path2) is None  # core reads "no"
    assert ha.load(path2).collect().get_column("multi").to_list() == [False, False]


def test_autoresearch_corpus_folder(corpus_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    shutil.copytree(corpus_dir, folder, ignore=shutil.ignore_patterns("MANIFEST.tsv", "LABELS.tsv"))
    result = ha.load_with_reports(folder)
    frame = result.frame.collect()
    files = sorted(folder.glob("*.tsv"))
    imports = [import_autoresearch(f) for f in files]
    assert frame.height == sum(len(i.experiments) for i in imports)
    assert len(result.reports) == sum(len(i.reported) for i in imports)
    assert set(frame.get_column("study")) == {"corpus"}
    assert set(frame.get_column("agent")) == {f.stem for f in files}
    assert frame.get_column("run").unique().to_list() == [0]
    assert "raw_status" in frame.columns  # core's extra columns come along
    summary = ha.summarize(frame.lazy()).collect()
    assert summary.height == len(files)
    if result.reports:
        with pytest.warns(LoadWarning):
            ha.load(folder)


def test_agent_argument_makes_runs(corpus_dir: Path, tmp_path: Path) -> None:
    a = tmp_path / "one.tsv"
    b = tmp_path / "two.tsv"
    shutil.copy(corpus_dir / "03_miolini__autoresearch-macos.tsv", a)
    shutil.copy(corpus_dir / "09_blueberry-llm__autoresearch-windows.tsv", b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoadWarning)
        frame = ha.load(a, b, study="mine", agent="claude").collect()
    assert frame.group_by("run").len().sort("run").get_column("run").to_list() == [0, 1]
    assert set(frame.get_column("agent")) == {"claude"} and set(frame.get_column("study")) == {
        "mine"
    }


def test_parquet_files_and_missing_keys(tmp_path: Path) -> None:
    folder = tmp_path / "mystudy"
    folder.mkdir()
    full = ha.load(write(tmp_path / "e.csv", simple(3))).collect()
    full.write_parquet(folder / "with_keys.parquet")
    full.drop("study", "agent", "run").with_columns(pl.col("index")).write_parquet(
        folder / "bare.parquet"
    )
    frame = ha.load(folder).collect()
    assert frame.height == 6
    bare = frame.filter(pl.col("agent") == "bare")
    assert set(bare.get_column("study")) == {"mystudy"} and set(bare.get_column("run")) == {0}
    assert frame.schema["val_bpb"] == pl.Float64


def test_mixed_folder_and_errors(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    write(folder / "a.csv", simple(2, agent="a"))
    (folder / "notes.txt").write_text("not a log\n")
    ha.load(write(tmp_path / "b.csv", simple(2, agent="b"))).collect().write_parquet(
        folder / "b.parquet"
    )
    assert set(ha.load(folder).collect().get_column("agent")) == {"a", "b"}
    with pytest.raises(AnalysisError, match="at least one"):
        ha.load()
    with pytest.raises(LogFormatError, match="no such file"):
        ha.load(tmp_path / "missing.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LogFormatError, match="no experiment logs"):
        ha.load(empty)
    with pytest.raises(AnalysisError, match="more than once"):
        ha.load(folder / "a.csv", write(tmp_path / "again.csv", simple(2, agent="a")))
    ha.load(folder / "a.csv").collect().write_parquet(tmp_path / "a_copy.parquet")
    with pytest.raises(AnalysisError, match=r"a_copy\.parquet"):
        ha.load(folder / "a.csv", tmp_path / "a_copy.parquet")
