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
from hpdream_core._classify import Classifier, Label, classify, extract_params
from hpdream_core._codediff import CodeDiff, ConstantChange, SymbolChange, diff_train_py
from hpdream_core._csvlog import LineReport, LogRead, LogWriter, parse_log, read_log, write_log
from hpdream_core._exceptions import (
    HpdreamError,
    LogFormatError,
    SchemaError,
    TableError,
    TaxonomyError,
)
from hpdream_core._extract import ParamExtractor
from hpdream_core._params import ParamChange
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
from hpdream_core._taxonomy import (
    Category,
    Subcategory,
    Taxonomy,
    default_taxonomy,
    load_taxonomy,
    parse_taxonomy,
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
    "Category",
    "Classifier",
    "CodeDiff",
    "Column",
    "ConstantChange",
    "Experiment",
    "HpdreamError",
    "ImportResult",
    "Label",
    "Labeler",
    "LineReport",
    "LogFormatError",
    "LogRead",
    "LogWriter",
    "ParamChange",
    "ParamExtractor",
    "SchemaError",
    "Status",
    "Subcategory",
    "SymbolChange",
    "TableError",
    "Taxonomy",
    "TaxonomyError",
    "classify",
    "default_taxonomy",
    "diff_train_py",
    "extract_params",
    "find_logs",
    "import_autoresearch",
    "is_autoresearch_log",
    "is_canonical_log",
    "load_taxonomy",
    "parse_autoresearch",
    "parse_log",
    "parse_taxonomy",
    "read_any",
    "read_log",
    "write_log",
]
