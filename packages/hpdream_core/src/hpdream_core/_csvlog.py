"""The canonical experiments CSV: read, write, append.

The file is UTF-8, RFC 4180 quoting, one header row, rows ending in ``\\r\\n`` (RFC 4180).
Null is the empty cell. The writer appends one row at a time and flushes it,
so a killed study loses at most the row being written; the reader then reads
every complete row and reports the cut one, and a new writer on that file
moves the cut fragment to ``<file>.cut`` before appending.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from hpdream_core._exceptions import LogFormatError, SchemaError
from hpdream_core._schema import COLUMN_NAMES, COLUMNS_BY_NAME, Experiment

csv.field_size_limit(2**31 - 1)

#: columns a log must have to be read at all (the others default or are null)
REQUIRED_COLUMNS = tuple(
    c
    for c in COLUMN_NAMES
    if not COLUMNS_BY_NAME[c].nullable and c not in ("category", "multi", "format_version")
)


@attrs.frozen
class LineReport:
    """A physical line of an input that did not become a row, and why."""

    path: str
    line: int
    reason: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.reason}"

    def to_error(self) -> LogFormatError:
        return LogFormatError(self.path, self.line, self.reason, self.column)


@attrs.frozen
class LogRead:
    """What :func:`read_log` found: the rows, the reported lines, the extra columns."""

    path: str
    experiments: tuple[Experiment, ...]
    reports: tuple[LineReport, ...]
    extra_columns: tuple[str, ...]


def decode(data: bytes, path: str) -> str:
    """UTF-8 text of ``data`` (a BOM is dropped); a bad byte is a LogFormatError with its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LogFormatError(
            path, line, f"not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None


def complete_prefix_length(text: str) -> int:
    """Length of the longest prefix of ``text`` made of complete CSV records.

    A record is complete when it ends with a line end outside quotes. In RFC
    4180 every quote character toggles the quoted state (an escaped ``""``
    toggles twice), so a line end closes a record iff the number of quotes
    before it is even.
    """
    end = 0
    quotes = 0
    pos = 0
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            return end
        quotes += text.count('"', pos, nl)
        if quotes % 2 == 0:
            end = nl + 1
        pos = nl + 1


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each record; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise LogFormatError(None, start, f"malformed CSV: {exc}") from None
        if fields:
            yield start, fields
        start = reader.line_num + 1


def read_log(path: str | os.PathLike[str], *, strict: bool = False) -> LogRead:
    """Read a canonical experiments CSV.

    Every complete, valid row becomes an :class:`Experiment` (with its unknown
    columns in ``extras``). Rows that fail validation and a last row cut by a
    kill are reported with line, column and reason; ``strict=True`` raises
    :class:`LogFormatError` for the first of them instead. A file that is not
    a log at all (undecodable, no header, missing required columns) raises.
    """
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LogFormatError(p, None, f"cannot read: {exc.strerror or exc}") from None
    return parse_log(decode(data, p), p, strict=strict)


def parse_log(text: str, path: str = "<input>", *, strict: bool = False) -> LogRead:
    """Parse the text of a canonical experiments CSV (see :func:`read_log`)."""
    reports: list[LineReport] = []
    complete = complete_prefix_length(text)
    body, tail = text[:complete], text[complete:]
    if tail.strip():
        reports.append(
            LineReport(
                path,
                text.count("\n", 0, complete) + 1,
                "incomplete last row (the file ends inside it: was the writer killed?)",
            )
        )
    try:
        records = list(_records(body))
    except LogFormatError as exc:
        raise LogFormatError(path, exc.line, exc.reason) from None
    if not records:
        if reports:
            if strict:
                raise reports[0].to_error()
            return LogRead(path, (), tuple(reports), ())
        raise LogFormatError(path, 1, "empty file: no header row")
    header_line, header = records[0]
    header = [h.strip() for h in header]
    _check_header(header, path, header_line)
    extra_columns = tuple(h for h in header if h not in COLUMNS_BY_NAME)
    experiments: list[Experiment] = []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            reports.append(
                LineReport(path, line, f"{len(fields)} fields, but the header has {len(header)}")
            )
            continue
        try:
            experiments.append(Experiment.from_row(dict(zip(header, fields, strict=True))))
        except SchemaError as exc:
            reports.append(LineReport(path, line, exc.reason, exc.column))
    reports.sort(key=lambda r: r.line)
    if strict and reports:
        raise reports[0].to_error()
    return LogRead(path, tuple(experiments), tuple(reports), extra_columns)


def _check_header(header: Sequence[str], path: str, line: int) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise LogFormatError(path, line, f"column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise LogFormatError(
            path, line, f"not an hpdream experiments log: header lacks {', '.join(missing)}"
        )


def _row_text(header: Sequence[str], row: dict[str, str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerow(
        [row.get(name, "") for name in header]
    )
    return buf.getvalue()


def _header_for(experiments: Iterable[Experiment], extra_columns: Sequence[str] = ()) -> list[str]:
    extras: dict[str, None] = dict.fromkeys(extra_columns)
    for e in experiments:
        extras.update(dict.fromkeys(k for k, _ in e.extras))
    return [*COLUMN_NAMES, *extras]


def _check_row(row: dict[str, str], header: Sequence[str], path: str) -> None:
    unknown = [k for k in row if k not in header]
    if unknown:
        raise SchemaError(unknown[0], row[unknown[0]], f"{path} has no such column")
    for name, text in row.items():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SchemaError(name, text, "not encodable as UTF-8 (a lone surrogate)") from None


def write_log(
    path: str | os.PathLike[str],
    experiments: Iterable[Experiment],
    *,
    extra_columns: Sequence[str] = (),
) -> Path:
    """Write a whole log at once, atomically (temporary file, then rename)."""
    items = list(experiments)
    header = _header_for(items, extra_columns)
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.write(_row_text(header, {h: h for h in header}))
        for e in items:
            row = e.to_row()
            _check_row(row, header, str(target))
            f.write(_row_text(header, row))
    os.replace(tmp, target)
    return target


class LogWriter:
    """Append-only writer of a canonical experiments CSV, one flushed row at a time.

    Opening an existing log checks that its header holds the canonical columns
    and moves a row cut by a kill (an incomplete last record) to
    ``<file>.cut``, so appending goes on from the last complete row. Rows with
    an extra column the file lacks are refused (the header is never rewritten).
    Use as a context manager, or call :meth:`close`.

    The writer's file is the log: if something else deletes or replaces the
    file at ``path`` while it is open, the next :meth:`append` puts the
    writer's rows back at ``path`` (the other file, when it differs, is kept
    as ``<file>.replaced-N``, listed in :attr:`replaced`) and goes on there,
    so no row is written to a file nobody can see.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        extra_columns: Sequence[str] = (),
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.cut_fragment: str | None = None
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists:
            self.header = self._recover()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.header = [*COLUMN_NAMES, *dict.fromkeys(extra_columns)]
        #: files found at ``path`` in place of the writer's own, moved aside
        self.replaced: list[Path] = []
        self._file: IO[str] = self._open()
        if not exists:
            self._write(_row_text(self.header, {h: h for h in self.header}))

    def _open(self) -> IO[str]:
        f = self.path.open("a+", encoding="utf-8", newline="")
        st = os.fstat(f.fileno())
        self._identity = (st.st_dev, st.st_ino)
        return f

    def _reclaim(self) -> None:
        """Put the writer's own file back at ``path`` if it was deleted or replaced."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == self._identity:
            return
        self._file.flush()
        self._file.seek(0)
        ours = self._file.read().encode("utf-8")
        if st is not None and self.path.read_bytes() != ours:
            n = 1
            while (aside := self.path.with_name(f"{self.path.name}.replaced-{n}")).exists():
                n += 1
            os.replace(self.path, aside)
            self.replaced.append(aside)
        self.path.parent.mkdir(parents=True, exist_ok=True)  # its folder may be gone too
        tmp = self.path.with_name(f".{self.path.name}.reclaim")
        with tmp.open("wb") as f:
            f.write(ours)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._file.close()
        self._file = self._open()

    def _recover(self) -> list[str]:
        p = str(self.path)
        raw = self.path.read_bytes()
        bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
        text = decode(raw, p)
        complete = complete_prefix_length(text)
        records = _records(text[:complete])
        try:
            _, header = next(records)
        except StopIteration:
            raise LogFormatError(p, 1, "no complete header row; cannot append") from None
        except LogFormatError as exc:
            raise LogFormatError(p, exc.line, exc.reason) from None
        header = [h.strip() for h in header]
        _check_header(header, p, 1)
        missing = [c for c in COLUMN_NAMES if c not in header]
        if missing:
            raise LogFormatError(p, 1, f"cannot append: header lacks {', '.join(missing)}")
        if complete < len(text):
            self.cut_fragment = text[complete:]
            with self.path.with_name(self.path.name + ".cut").open("a", encoding="utf-8") as f:
                f.write(self.cut_fragment + "\n")
            with self.path.open("r+b") as f:
                f.truncate(bom + len(text[:complete].encode("utf-8")))
        return header

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def append(self, experiment: Experiment) -> None:
        """Write one row and flush it to disk."""
        row = experiment.to_row()
        _check_row(row, self.header, str(self.path))
        self._reclaim()
        self._write(_row_text(self.header, row))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
