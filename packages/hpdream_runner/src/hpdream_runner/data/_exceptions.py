"""Errors of the data package.

::

    HpdreamError                (hpdream_core)
    └── DataError               bad options, unreadable input files, a corpus too small
        ├── NotPreparedError    open_prepared found nothing: run ``hpdream-run prepare``
        └── DownloadError       a shard could not be downloaded (after the retries)
"""

from __future__ import annotations

from hpdream_core import HpdreamError


class DataError(HpdreamError, ValueError):
    """Bad data options or input: the message names the file (and line or column) and why."""


class NotPreparedError(DataError, FileNotFoundError):
    """The data set asked for has not been prepared in this data directory."""


class DownloadError(DataError):
    """A file could not be downloaded: the message names the URL and the last failure."""
