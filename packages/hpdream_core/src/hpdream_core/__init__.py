"""hpdream_core: the experiment schema, the category taxonomy and log I/O.

Depends on attrs and the standard library only.
"""

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
    "UNKNOWN",
    "Column",
    "Experiment",
    "HpdreamError",
    "LogFormatError",
    "SchemaError",
    "Status",
    "TaxonomyError",
]
