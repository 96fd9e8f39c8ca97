"""The canonical log columns as a polars schema, and small helpers shared by the metrics.

Column names and types come from :data:`hpdream_core.COLUMNS`; nothing here
retypes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import polars as pl

from hpdream_analysis._exceptions import ColumnError
from hpdream_core import COLUMNS, Column

#: The columns that identify one trajectory: one agent's run in one study.
TRAJECTORY: Final[tuple[str, str, str]] = ("study", "agent", "run")

_DTYPES: Final[Mapping[str, pl.DataType]] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "datetime": pl.Datetime("us", "UTC"),
}


def polars_dtype(column: Column) -> pl.DataType:
    """The polars dtype of one core column (str, int, float, bool, datetime)."""
    try:
        return _DTYPES[column.type]
    except KeyError:
        raise ColumnError("schema", [column.name], f"has unknown type {column.type!r}") from None


#: The canonical columns as a polars schema, in the order core writes them.
SCHEMA: Final[pl.Schema] = pl.Schema({c.name: polars_dtype(c) for c in COLUMNS})


def to_expr(column: str | pl.Expr) -> pl.Expr:
    """A column name as ``pl.col(name)``; an expression as it is."""
    return pl.col(column) if isinstance(column, str) else column


def require(frame: pl.LazyFrame, names: Iterable[str], what: str) -> pl.Schema:
    """The frame's schema; raises :class:`ColumnError` naming the columns it lacks."""
    schema = frame.collect_schema()
    missing = [n for n in names if n not in schema]
    if missing:
        raise ColumnError(what, missing)
    return schema


def conform(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Cast the canonical columns a frame has to their dtypes, add the missing ones as null.

    Canonical columns come first, in core's order; extra columns follow in
    their own order. A required column that is missing stays missing: the
    metrics that need it say so.
    """
    schema = frame.collect_schema()
    exprs: list[pl.Expr] = []
    for c in COLUMNS:
        dtype = SCHEMA[c.name]
        if c.name in schema:
            exprs.append(pl.col(c.name).cast(dtype))
        elif c.nullable:
            exprs.append(pl.lit(None, dtype=dtype).alias(c.name))
    extras = [pl.col(n) for n in schema.names() if n not in SCHEMA]
    return frame.select(*exprs, *extras)
