"""The canonical experiments CSV: round trips, cut rows, arbitrary bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import (
    COLUMN_NAMES,
    Experiment,
    LogFormatError,
    LogWriter,
    SchemaError,
    parse_log,
    read_log,
    write_log,
)
from tests.strategies import experiments


def _exp(i: int, **kw: object) -> Experiment:
    values = {
        "study": "s",
        "agent": "a",
        "run": 0,
        "index": i,
        "status": "keep",
        "val_bpb": 1.0 - i / 100,
        "description": f"exp {i}",
    }
    values.update(kw)
    return Experiment.from_values(values)


@given(st.lists(experiments(), max_size=8))
def test_write_then_read_returns_equal_records(
    tmp_path_factory: pytest.TempPathFactory, items: list[Experiment]
) -> None:
    path = tmp_path_factory.mktemp("log") / "experiments.csv"
    write_log(path, items)
    log = read_log(path, strict=True)
    assert list(log.experiments) == items
    assert log.reports == ()


@given(st.lists(experiments(extras=("mfu", "notes")), min_size=1, max_size=5))
def test_extra_columns_survive_a_round_trip(
    tmp_path_factory: pytest.TempPathFactory, items: list[Experiment]
) -> None:
    d = tmp_path_factory.mktemp("log")
    write_log(d / "a.csv", items)
    first = read_log(d / "a.csv", strict=True)
    assert first.extra_columns == ("mfu", "notes")
    write_log(d / "b.csv", first.experiments)
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes()


@given(st.lists(experiments(), max_size=6))
def test_appending_row_by_row_equals_writing_at_once(
    tmp_path_factory: pytest.TempPathFactory, items: list[Experiment]
) -> None:
    d = tmp_path_factory.mktemp("log")
    with LogWriter(d / "a.csv", fsync=False) as w:
        for e in items:
            w.append(e)
    write_log(d / "b.csv", items)
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes()


@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_our_error(data: bytes) -> None:
    header = (",".join(COLUMN_NAMES) + "\n").encode()
    for blob in (data, header + data):
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            continue
        try:
            parse_log(text, "x.csv")
        except LogFormatError as exc:
            assert exc.path == "x.csv"
            assert exc.line is not None and exc.line >= 1


@given(st.binary(max_size=300))
def test_arbitrary_files_read_or_raise_our_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("b") / "x.csv"
    path.write_bytes((",".join(COLUMN_NAMES) + "\n").encode() + data)
    try:
        read_log(path)
    except LogFormatError as exc:
        assert exc.path == str(path) and exc.line is not None


def test_a_log_cut_mid_line_reads_every_complete_row(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    rows = [
        _exp(i, description='multi\nline, "quoted"' if i == 2 else f"exp {i}") for i in range(5)
    ]
    write_log(path, rows)
    data = path.read_bytes()
    ends = [i + 2 for i in range(len(data)) if data[i : i + 2] == b"\r\n"]
    ends = [e for e in ends if data[:e].count(b'"') % 2 == 0]  # record ends, header first
    for cut in range(ends[0], len(data) + 1):
        path.write_bytes(data[:cut])
        complete = sum(1 for e in ends[1:] if e <= cut)
        log = read_log(path)
        assert log.experiments == tuple(rows[:complete])
        if cut in ends:
            assert log.reports == ()
        else:
            assert len(log.reports) == 1
            assert "incomplete last row" in log.reports[0].reason
            with pytest.raises(LogFormatError, match="incomplete"):
                read_log(path, strict=True)


def test_a_cut_inside_a_quoted_multiline_field(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    rows = [_exp(0), _exp(1, description="first line\nsecond line\nthird")]
    write_log(path, rows)
    text = path.read_text()
    path.write_text(text[: text.index("second line") + 3])  # ends inside the quotes, after a \n
    log = read_log(path)
    assert log.experiments == (rows[0],)
    assert log.reports[0].line == 3


def test_writer_resumes_after_a_cut_without_losing_or_duplicating(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    with LogWriter(path, fsync=False) as w:
        w.append(_exp(0))
        w.append(_exp(1))
    with path.open("a") as f:
        f.write("s,a,0,2,,keep,0.5")  # a row cut by kill -9
    with LogWriter(path, fsync=False) as w:
        assert w.cut_fragment == "s,a,0,2,,keep,0.5"
        w.append(_exp(2))
    log = read_log(path, strict=True)
    assert [e.index for e in log.experiments] == [0, 1, 2]
    assert (tmp_path / "e.csv.cut").read_text() == "s,a,0,2,,keep,0.5\n"


def test_writer_takes_its_log_back_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    with LogWriter(path, fsync=False) as w:
        w.append(_exp(0))
        w.append(_exp(1))
        forged = tmp_path / "forged.csv"
        write_log(forged, [_exp(0, description="forged")])
        os.replace(forged, path)  # someone swaps the file under the open writer
        w.append(_exp(2))
        assert w.replaced == [tmp_path / "e.csv.replaced-1"]
    log = read_log(path, strict=True)
    assert [e.description for e in log.experiments] == ["exp 0", "exp 1", "exp 2"]
    assert read_log(tmp_path / "e.csv.replaced-1").experiments[0].description == "forged"


def test_writer_puts_a_deleted_log_back(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    with LogWriter(path, fsync=False) as w:
        w.append(_exp(0))
        path.unlink()
        w.append(_exp(1))
        # a copy of the writer's own rows in a new file (a restore) is simply taken over
        copy = path.read_bytes()
        path.unlink()
        path.write_bytes(copy)
        w.append(_exp(2))
        assert w.replaced == []
    assert [e.index for e in read_log(path, strict=True).experiments] == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


def test_writer_puts_back_a_log_whose_folder_was_removed(tmp_path: Path) -> None:
    path = tmp_path / "study" / "e.csv"
    with LogWriter(path, fsync=False) as w:
        w.append(_exp(0))
        path.unlink()
        path.parent.rmdir()
        w.append(_exp(1))
    assert [e.index for e in read_log(path, strict=True).experiments] == [0, 1]


def test_writer_refuses_a_file_that_is_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(LogFormatError, match="lacks"):
        LogWriter(path)


def test_writer_refuses_unknown_extra_column(tmp_path: Path) -> None:
    with (
        LogWriter(tmp_path / "e.csv", fsync=False) as w,
        pytest.raises(SchemaError, match="no such column"),
    ):
        w.append(_exp(0, extras={"gpu": "h100"}))


def test_bad_cells_are_reported_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    write_log(path, [_exp(0), _exp(1)])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("0.99", "zero")
    lines.append("only,three,fields")
    path.write_text("\n".join(lines) + "\n")
    log = read_log(path)
    assert [e.index for e in log.experiments] == [0]
    assert [(r.line, r.column) for r in log.reports] == [(3, "val_bpb"), (4, None)]
    with pytest.raises(LogFormatError, match=r"line 3, column 'val_bpb'"):
        read_log(path, strict=True)


def test_crash_with_a_value_is_refused() -> None:
    with pytest.raises(SchemaError, match="null, never 0"):
        _exp(1, status="crash", val_bpb=0.5)


def test_header_problems_raise(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("")
    with pytest.raises(LogFormatError, match="empty"):
        read_log(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("study,study\n")
    with pytest.raises(LogFormatError, match="twice"):
        read_log(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_bytes(b"study,agent\n\xff\xfe\n")
    with pytest.raises(LogFormatError, match=r"line 2.*UTF-8"):
        read_log(tmp_path / "c.csv")
