"""hpdream_core: the experiment schema, the category taxonomy and log I/O.

Depends on attrs and the standard library only.
"""

from hpdream_core._autoresearch import (
    STATUS_WORDS,
    ImportResult,
    Labeler,
    find_logs,
    import_autoresearch,
    is_autoresearch_log,
    is_canonical_log,
    parse_autoresearch,
    read_any,
)
from hpdream_core._csvlog import LineReport, LogRead, LogWriter, parse_log, read_log, write_log
from hpdream_core._exceptions import HpdreamError, LogFormatError, SchemaError, TaxonomyError
from hpdream_core._schema import (
    BASELINE,
    COLUMN_NAMES,
    COLUMNS,
    COLUMNS_BY_NAME,
    FORMAT_VERSION,
    STATUSES,
    UNKNOWN,
    Column,
    Experiment,
    Status,
)

__all__ = [
    "BASELINE",
    "COLUMNS",
    "COLUMNS_BY_NAME",
    "COLUMN_NAMES",
    "FORMAT_VERSION",
    "STATUSES",
    "STATUS_WORDS",
    "UNKNOWN",
    "Column",
    "Experiment",
    "HpdreamError",
    "ImportResult",
    "Labeler",
    "LineReport",
    "LogFormatError",
    "LogRead",
    "LogWriter",
    "SchemaError",
    "Status",
    "TaxonomyError",
    "find_logs",
    "import_autoresearch",
    "is_autoresearch_log",
    "is_canonical_log",
    "parse_autoresearch",
    "parse_log",
    "read_any",
    "read_log",
    "write_log",
]
