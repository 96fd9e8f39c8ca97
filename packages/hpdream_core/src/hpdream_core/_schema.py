"""The experiment schema: the columns of the log, defined once, as data.

Every reader, writer and validator in hpdream (and the polars loader of
``hpdream_analysis``) takes its column names, types and nullability from
:data:`COLUMNS`. Text conversion (one CSV cell <-> one Python value) lives
here too, so that the CSV layer and the importer agree on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

import attrs

from hpdream_core._exceptions import SchemaError

#: Version of the on-disk log format. Written into every log hpdream creates
#: (the ``format_version`` column of the canonical CSV).
FORMAT_VERSION: Final = 1

ColumnType = Literal["str", "int", "float", "bool", "datetime"]

#: The outcomes the protocol records.
STATUSES: Final = ("keep", "discard", "crash")
Status = Literal["keep", "discard", "crash"]

#: Category of the first, unchanged run of a log.
BASELINE: Final = "baseline"
#: Category written before (or without) classification.
UNKNOWN: Final = "unknown"


@attrs.frozen
class Column:
    """One column of the experiment log."""

    name: str
    type: ColumnType
    nullable: bool
    meaning: str
    #: lower bound for numbers, and whether it is exclusive (``val_bpb > 0``)
    minimum: float | None = None
    exclusive_minimum: bool = False


def _c(
    name: str,
    type_: ColumnType,
    nullable: bool,
    meaning: str,
    minimum: float | None = None,
    exclusive_minimum: bool = False,
) -> Column:
    return Column(name, type_, nullable, meaning, minimum, exclusive_minimum)


#: The canonical columns, in the order the CSV writes them.
COLUMNS: Final[tuple[Column, ...]] = (
    _c("study", "str", False, "study name"),
    _c("agent", "str", False, "agent label, e.g. claude-opus-4.6-1m, random-search"),
    _c("run", "int", False, "replicate number (0 when a study has one)", 0),
    _c("index", "int", False, "position in the agent's sequence; 0 is the baseline", 0),
    _c("started_at", "datetime", True, "when training started (ISO 8601, UTC)"),
    _c("status", "str", False, "keep / discard / crash: the outcome recorded by the protocol"),
    _c("val_bpb", "float", True, "validation bits per byte; null for a crash", 0, True),
    _c("memory_gb", "float", True, "peak accelerator memory, GB", 0),
    _c("training_seconds", "float", True, "training time counted against the budget", 0),
    _c("total_seconds", "float", True, "wall time of the whole experiment", 0),
    _c("num_params_m", "float", True, "model parameters, millions", 0),
    _c("category", "str", False, "a key of the taxonomy; baseline for index 0"),
    _c("subcategory", "str", True, "finer label, e.g. learning_rate"),
    _c("multi", "bool", False, "the change touched several categories"),
    _c("description", "str", False, "what the experiment tried (free text)"),
    _c("hypothesis", "str", True, "why the agent expected it to help"),
    _c("commit", "str", True, "workspace commit of the experiment"),
    _c("diff_added", "int", True, "lines added in train.py", 0),
    _c("diff_removed", "int", True, "lines removed in train.py", 0),
    _c("agent_seconds", "float", True, "time the agent spent before the run", 0),
    _c("input_tokens", "int", True, "model input tokens the agent used for this experiment", 0),
    _c("output_tokens", "int", True, "model output tokens the agent used for this experiment", 0),
    _c("cost_usd", "float", True, "cost of those tokens, where known", 0),
    _c("error", "str", True, "crash reason (OOM, NaN, timeout, exception text)"),
    _c("source", "str", True, "for imported rows: the file the row came from"),
    _c(
        "source_line",
        "int",
        True,
        "for imported rows: its physical line number there (header = 1)",
        1,
    ),
    _c("format_version", "int", False, "version of the log format that wrote the row", 1),
)

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in COLUMNS)
COLUMNS_BY_NAME: Final[Mapping[str, Column]] = {c.name: c for c in COLUMNS}


# --- one value <-> one cell -------------------------------------------------


def format_value(column: Column, value: Any) -> str:
    """The CSV text of ``value`` in ``column``; null is the empty cell."""
    if value is None:
        return ""
    if column.type == "bool":
        return "true" if value else "false"
    if column.type == "float":
        return repr(float(value))
    if column.type == "datetime":
        text = value.astimezone(UTC).isoformat()
        return text.removesuffix("+00:00") + "Z"
    return str(value)


_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


def parse_value(column: Column, text: str) -> Any:
    """Parse one CSV cell of ``column``; raises :class:`SchemaError` with the reason.

    The empty cell is null for a nullable column, and the empty string for a
    non-nullable text column (an empty description is allowed).
    """
    if text == "":
        if column.nullable:
            return None
        if column.type == "str":
            return ""
        raise SchemaError(column.name, text, "empty, but the column is not nullable")
    try:
        if column.type == "str":
            return text
        if column.type == "int":
            return int(text.strip())
        if column.type == "float":
            return float(text.strip())
        if column.type == "bool":
            word = text.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ValueError("not a boolean (true/false)")
        return parse_datetime(text)
    except ValueError as exc:
        raise SchemaError(column.name, text, f"not a valid {column.type}: {exc}") from None


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 time with a zone ('Z' or an offset), as an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError("no time zone (write Z or an offset such as +00:00)")
    return value.astimezone(UTC)


# --- validation ---------------------------------------------------------------


def check_value(column: Column, value: Any) -> None:
    """Raise :class:`SchemaError` unless ``value`` fits ``column``."""
    if value is None:
        if not column.nullable:
            raise SchemaError(column.name, value, "must not be null")
        return
    t = column.type
    if t == "str":
        ok = isinstance(value, str)
    elif t == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif t == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, datetime)
    if not ok:
        raise SchemaError(column.name, value, f"expected {t}, got {type(value).__name__}")
    if t == "float" and not math.isfinite(value):
        raise SchemaError(column.name, value, "must be finite")
    if t == "datetime" and value.tzinfo is None:
        raise SchemaError(column.name, value, "datetime needs a time zone")
    if column.minimum is not None and t in ("int", "float"):
        if column.exclusive_minimum and not value > column.minimum:
            raise SchemaError(column.name, value, f"must be > {column.minimum:g}")
        if not column.exclusive_minimum and value < column.minimum:
            raise SchemaError(column.name, value, f"must be >= {column.minimum:g}")


def _validate(column_name: str) -> Any:
    column = COLUMNS_BY_NAME[column_name]

    def validator(_inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
        check_value(column, value)

    return validator


def _to_float(value: Any) -> Any:
    # ints are valid floats; store them as float so equality and output agree
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _status(value: Any) -> Any:
    if value not in STATUSES:
        raise SchemaError("status", value, f"must be one of {', '.join(STATUSES)}")
    return value


def _category(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise SchemaError("category", value, "must be a non-empty taxonomy key")
    return value


def _non_empty(name: str) -> Any:
    def validator(_inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or value == "":
            raise SchemaError(name, value, "must be a non-empty string")

    return validator


def _extras(value: Any) -> Any:
    items = dict(value)
    for key, text in items.items():
        if key in COLUMNS_BY_NAME:
            raise SchemaError(key, text, "a canonical column cannot be an extra column")
        if not isinstance(key, str) or not isinstance(text, str):
            raise SchemaError(str(key), text, "extra columns hold text")
    return tuple(items.items())


def _float_field(name: str) -> Any:
    return attrs.field(default=None, converter=_to_float, validator=_validate(name))


def _field(name: str) -> Any:
    return attrs.field(default=None, validator=_validate(name))


@attrs.frozen(kw_only=True)
class Experiment:
    """One experiment: one row of the log.

    Build it with :meth:`from_row` (a CSV row of text), :meth:`from_values`
    (typed values) or :meth:`baseline`; never from ``Experiment(**row)`` of a
    file. ``extras`` holds unknown columns of a file, kept for round trips.
    """

    study: str = attrs.field(validator=_non_empty("study"))
    agent: str = attrs.field(validator=_non_empty("agent"))
    run: int = attrs.field(validator=_validate("run"))
    index: int = attrs.field(validator=_validate("index"))
    status: Status = attrs.field(converter=_status)
    description: str = attrs.field(validator=_validate("description"))
    category: str = attrs.field(default=UNKNOWN, converter=_category)
    subcategory: str | None = _field("subcategory")
    multi: bool = attrs.field(default=False, validator=_validate("multi"))
    started_at: datetime | None = _field("started_at")
    val_bpb: float | None = _float_field("val_bpb")
    memory_gb: float | None = _float_field("memory_gb")
    training_seconds: float | None = _float_field("training_seconds")
    total_seconds: float | None = _float_field("total_seconds")
    num_params_m: float | None = _float_field("num_params_m")
    hypothesis: str | None = _field("hypothesis")
    commit: str | None = _field("commit")
    diff_added: int | None = _field("diff_added")
    diff_removed: int | None = _field("diff_removed")
    agent_seconds: float | None = _float_field("agent_seconds")
    input_tokens: int | None = _field("input_tokens")
    output_tokens: int | None = _field("output_tokens")
    cost_usd: float | None = _float_field("cost_usd")
    error: str | None = _field("error")
    source: str | None = _field("source")
    source_line: int | None = _field("source_line")
    format_version: int = attrs.field(default=FORMAT_VERSION, validator=_validate("format_version"))
    extras: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_extras)

    def __attrs_post_init__(self) -> None:
        if self.status == "crash" and self.val_bpb is not None:
            raise SchemaError("val_bpb", self.val_bpb, "a crash has no val_bpb (null, never 0)")

    # --- named constructors --------------------------------------------------

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Experiment:
        """Build from typed values keyed by column name (unknown keys go to extras)."""
        known = {k: v for k, v in values.items() if k in COLUMNS_BY_NAME}
        extras = {k: v for k, v in values.items() if k not in COLUMNS_BY_NAME and k != "extras"}
        extras.update(dict(values.get("extras", ())))
        return cls(**known, extras=extras)

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> Experiment:
        """Build from one CSV row of text (column name -> cell).

        Missing nullable columns are null; missing required columns and bad
        cells raise :class:`SchemaError` naming the column.
        """
        values: dict[str, Any] = {}
        extras: dict[str, str] = {}
        for name, text in row.items():
            column = COLUMNS_BY_NAME.get(name)
            if column is None:
                extras[name] = text
            else:
                values[name] = parse_value(column, text)
        for column in COLUMNS:
            if column.name not in values and not column.nullable:
                if column.name in ("category", "multi", "format_version"):
                    continue  # defaults: unknown, False, the current version
                raise SchemaError(column.name, None, "required column is missing")
        values["extras"] = extras
        return cls.from_values(values)

    @classmethod
    def baseline(
        cls, *, study: str, agent: str, run: int = 0, val_bpb: float | None, **values: Any
    ) -> Experiment:
        """The first, unchanged run of a trajectory (index 0, category baseline)."""
        status = values.pop("status", "keep" if val_bpb is not None else "crash")
        description = values.pop("description", "baseline")
        return cls.from_values(
            {
                "study": study,
                "agent": agent,
                "run": run,
                "index": 0,
                "status": status,
                "val_bpb": val_bpb,
                "description": description,
                "category": BASELINE,
                **values,
            }
        )

    # --- views ---------------------------------------------------------------

    def to_values(self) -> dict[str, Any]:
        """Typed values of the canonical columns, by name (extras not included)."""
        return {c.name: getattr(self, c.name) for c in COLUMNS}

    def to_row(self) -> dict[str, str]:
        """The CSV row of text: canonical columns then extras."""
        row = {c.name: format_value(c, getattr(self, c.name)) for c in COLUMNS}
        row.update(self.extras)
        return row

    def evolve(self, **changes: Any) -> Experiment:
        """A copy with some fields changed (validated again)."""
        return attrs.evolve(self, **changes)
