"""Exceptions raised by hpdream_analysis.

::

    HpdreamError (hpdream_core)
     └── AnalysisError (HpdreamError, ValueError)   an analysis cannot run on this input
          ├── ColumnError                           a frame lacks a column, or has the wrong type
          └── StatisticsError                       a statistic's arguments do not fit the data

    LoadWarning (UserWarning)                       load() skipped lines it could not read

Files that cannot be read raise core's :class:`hpdream_core.LogFormatError`
(file, line, column, why). Data that only make a statistic undefined (a
constant column, too few agents) give null results, not errors.
"""

from __future__ import annotations

from collections.abc import Iterable

from hpdream_core import HpdreamError


class AnalysisError(HpdreamError, ValueError):
    """Base class of the errors hpdream_analysis raises on purpose."""


class ColumnError(AnalysisError):
    """A frame lacks columns a metric needs, or holds one with the wrong type."""

    def __init__(self, what: str, missing: Iterable[str], reason: str = "missing") -> None:
        self.what = what
        self.columns = tuple(missing)
        self.reason = reason
        names = ", ".join(repr(c) for c in self.columns)
        super().__init__(f"{what}: column(s) {names} {reason}")


class StatisticsError(AnalysisError):
    """The arguments of a statistic do not fit the data (an unknown agent, a bad level)."""


class LoadWarning(UserWarning):
    """:func:`hpdream_analysis.load` skipped lines of a log that it could not read."""
