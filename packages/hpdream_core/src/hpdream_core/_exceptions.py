"""Exceptions raised by hpdream_core.

::

    HpdreamError (Exception)
     ├── SchemaError (HpdreamError, ValueError)      a value breaks the log schema
     ├── LogFormatError (HpdreamError, ValueError)   a log file cannot be read: file, line, column, why
     └── TableError (HpdreamError, ValueError)       a user's table is invalid: file, where, why
          └── TaxonomyError                          a taxonomy file

Every error says what, where and why, so the user can fix the input.
"""

from __future__ import annotations

from pathlib import Path


class HpdreamError(Exception):
    """Base class of every error hpdream raises on purpose."""


class SchemaError(HpdreamError, ValueError):
    """A value does not fit a column of the experiment schema."""

    def __init__(self, column: str, value: object, reason: str) -> None:
        self.column = column
        self.value = value
        self.reason = reason
        super().__init__(f"column {column!r}: {reason} (got {value!r})")


class LogFormatError(HpdreamError, ValueError):
    """A log file (canonical CSV or an autoresearch results.tsv) cannot be read.

    ``path`` and ``line`` (1-based physical line, the header is line 1) say where;
    ``column`` names the column when one is at fault.
    """

    def __init__(
        self,
        path: str | Path | None,
        line: int | None,
        reason: str,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.reason = reason
        where = self.path or "<input>"
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {reason}")


class TableError(HpdreamError, ValueError):
    """A table the user supplies (a TOML file, usually) is invalid: which file, where, why."""

    def __init__(self, source: str | Path | None, where: str, reason: str) -> None:
        self.source = None if source is None else str(source)
        self.where = where
        self.reason = reason
        prefix = f"{self.source}: " if self.source else ""
        super().__init__(f"{prefix}{where}: {reason}")


class TaxonomyError(TableError):
    """A taxonomy (usually a user's TOML file) is invalid."""
