"""Parameter changes named in experiment descriptions ("matrix LR 0.04 to 0.045").

Repeats (the parameter rule) and micro-optimisation loops need, for each
experiment, the parameters it set and their old and new values. Two sources:

* ``hpdream_core.extract_params(description, *, hypothesis=None, ...)`` (the
  classifier's extraction, the default; through ``hpdream_core.ParamExtractor``,
  which reads descriptions that differ only in their numbers once), or any
  callable ``extract(description, hypothesis)`` passed as ``extract=``:
  applied once per distinct (description, hypothesis);
* or, with ``extract="text"``, a small text-only extractor written here, run as
  vectorised polars string expressions (no Python per row).
  :func:`text_param_changes` is the same rules in plain Python (used by tests
  as the reference).

The text rules, on the lower-cased description: ``NAME from A to B``,
``NAME A -> B`` (also ``→``, ``=>``, ``to``), ``NAME=B`` / ``NAME: B``, and
``NAME to B``. NAME is up to three words (``matrix lr`` -> ``matrix_lr``);
leading verbs and function words (``increase``, ``try``, ``the``, ...) are
cut off, and a match whose name is only such words is dropped. Values are
numbers with optional ``_`` separators, exponent, ``**power`` and a
``k``/``m``/``%`` suffix (``524K`` = 524000, ``5%`` = 0.05).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, NamedTuple

import polars as pl

import hpdream_core
from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._schema import SCHEMA, TRAJECTORY
from hpdream_analysis._trajectory import experiment_rows
from hpdream_core import ParamChange

#: ``extract(description, hypothesis) -> iterable of objects with .name, .old, .new``
Extractor = Callable[[str, str | None], Iterable[Any]]

_STOP: Final = [
    "a",
    "an",
    "the",
    "to",
    "from",
    "and",
    "or",
    "with",
    "by",
    "of",
    "at",
    "in",
    "on",
    "for",
    "as",
    "is",
    "was",
    "increase",
    "increased",
    "increasing",
    "decrease",
    "decreased",
    "decreasing",
    "reduce",
    "reduced",
    "reducing",
    "raise",
    "raised",
    "lower",
    "lowered",
    "set",
    "setting",
    "change",
    "changed",
    "changing",
    "try",
    "tried",
    "trying",
    "use",
    "used",
    "bump",
    "bumped",
    "halve",
    "halved",
    "double",
    "doubled",
    "tune",
    "tuned",
    "adjust",
    "adjusted",
    "revert",
    "reverted",
    "back",
    "add",
    "added",
    "remove",
    "removed",
    "keep",
    "kept",
    "more",
    "less",
    "higher",
    "smaller",
    "larger",
    "bigger",
    "new",
    "old",
    "only",
    "also",
    "then",
    "same",
    "retry",
    "rerun",
    "again",
]

_WORD = r"[a-z_][a-z0-9_]*"
_WORDS = rf"(?:{_WORD}\s+){{0,2}}{_WORD}"
_NUM = r"[-+]?(?:\d[\d_]*(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?(?:\*\*\d+)?[km%]?"
_ARROW = r"(?:\s*(?:-+>|→|=>|⇒)\s*|\s+to\s+)"
_SEP = r"(?:\s*[:=]\s*|\s+)"

#: One alternative per rule, tried in this order at each position.
PATTERN: Final = (
    rf"\b(?P<n1>{_WORDS})\s+from\s+(?P<o1>{_NUM}){_ARROW}(?P<v1>{_NUM})"
    rf"|\b(?P<n2>{_WORDS}){_SEP}(?P<o2>{_NUM}){_ARROW}(?P<v2>{_NUM})"
    rf"|\b(?P<n3>{_WORD})\s*[:=]\s*(?P<v3>{_NUM})"
    rf"|\b(?P<n4>{_WORDS})\s+to\s+(?P<v4>{_NUM})"
)
_STOP_PREFIX: Final = rf"^(?:.*\s)?(?:{'|'.join(_STOP)})(?:\s+|$)"
_MANTISSA: Final = r"^([-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?)"
_WHOLE_NUMBER: Final = r"^[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?(?:\*\*\d+)?[km%]?$"
_POWER: Final = r"\*\*(\d+)"
_RULE_GROUPS: Final = (
    ("n1", "o1", "v1"),
    ("n2", "o2", "v2"),
    ("n3", None, "v3"),
    ("n4", None, "v4"),
)

_pattern = re.compile(PATTERN)
_stop_prefix = re.compile(_STOP_PREFIX)


def parse_number(text: str | float | int | None) -> float | None:
    """A parameter value as a float: ``1e-3``, ``524_288``, ``2**19``, ``262K``, ``5%``; else None.

    The whole text must be the number: ``"0.5x"`` or ``"SSSL"`` are not numbers.
    """
    if text is None:
        return None
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        value = float(text)
        return value if math.isfinite(value) else None
    s = str(text).strip().lower().replace("_", "")
    mantissa = re.match(_MANTISSA, s)
    if mantissa is None or re.match(_WHOLE_NUMBER, s) is None:
        return None
    value = float(mantissa.group(1))
    power = re.search(_POWER, s)
    if power is not None:
        try:
            value = value ** float(power.group(1))
        except OverflowError:
            return None
    if s.endswith("k"):
        value *= 1e3
    elif s.endswith("m"):
        value *= 1e6
    elif s.endswith("%"):
        value /= 100
    return value if math.isfinite(value) else None


def clean_name(words: str) -> str | None:
    """``"try matrix  lr"`` -> ``"matrix_lr"``: cut leading stop words; None if nothing is left."""
    rest = _stop_prefix.sub("", " ".join(words.split()))
    return "_".join(rest.split()) or None


def text_param_changes(description: str) -> tuple[ParamChange, ...]:
    """The parameter changes the text rules find in ``description``, in order (plain Python)."""
    found: list[ParamChange] = []
    for match in _pattern.finditer(description.lower()):
        groups = match.groupdict()
        for name_group, old_group, new_group in _RULE_GROUPS:
            if groups[name_group] is None:
                continue
            name = clean_name(groups[name_group])
            if name is not None:
                old = parse_number(groups[old_group]) if old_group else None
                found.append(ParamChange(name=name, old=old, new=parse_number(groups[new_group])))
            break
    return tuple(found)


# --- vectorised: the same rules as polars expressions ------------------------------


def _number_expr(text: pl.Expr) -> pl.Expr:
    s = text.str.strip_chars().str.replace_all("_", "", literal=True)
    mantissa = s.str.extract(_MANTISSA, 1).cast(pl.Float64, strict=False)
    power = s.str.extract(_POWER, 1).cast(pl.Float64, strict=False)
    value = pl.when(power.is_not_null()).then(mantissa.pow(power)).otherwise(mantissa)
    scale = (
        pl.when(s.str.ends_with("k"))
        .then(1e3)
        .when(s.str.ends_with("m"))
        .then(1e6)
        .when(s.str.ends_with("%"))
        .then(0.01)
        .otherwise(1.0)
    )
    scaled = value * scale
    whole = s.str.contains(_WHOLE_NUMBER)
    return pl.when(whole & scaled.is_finite()).then(scaled).otherwise(None)


def _name_expr(words: pl.Expr) -> pl.Expr:
    collapsed = words.str.replace_all(r"\s+", " ").str.strip_chars()
    rest = collapsed.str.replace(_STOP_PREFIX, "").str.strip_chars()
    joined = rest.str.replace_all(" ", "_", literal=True)
    return pl.when(joined.str.len_chars() > 0).then(joined).otherwise(None)


#: Columns of the per-text change tables.
CHANGES_SCHEMA: Final = pl.Schema(
    {
        "_text": pl.Int64(),
        "_change": pl.Int64(),
        "parameter": pl.String(),
        "old": pl.Float64(),
        "new": pl.Float64(),
        "new_text": pl.String(),
    }
)


def text_changes(texts: pl.DataFrame) -> pl.DataFrame:
    """The text rules over ``texts`` (columns ``_text``, an integer id, and ``description``).

    One row per change: ``_text``, ``_change`` (0-based order within the
    text), ``parameter``, ``old``, ``new`` and ``new_text`` (the value as written).
    """
    groups = (
        pl.col("_match")
        .str.extract_groups(PATTERN)
        .struct.field(*[g for names in _RULE_GROUPS for g in names if g])
    )
    name = pl.coalesce(pl.col("n1"), pl.col("n2"), pl.col("n3"), pl.col("n4"))
    old = pl.coalesce(pl.col("o1"), pl.col("o2"))
    new = pl.coalesce(pl.col("v1"), pl.col("v2"), pl.col("v3"), pl.col("v4"))
    return (
        texts.lazy()
        .select(
            pl.col("_text").cast(pl.Int64),
            pl.col("description").str.to_lowercase().str.extract_all(PATTERN).alias("_match"),
        )
        .explode("_match")
        .filter(pl.col("_match").is_not_null())
        .with_columns(groups)
        .select(
            "_text",
            _name_expr(name).alias("parameter"),
            _number_expr(old).alias("old"),
            _number_expr(new).alias("new"),
            new.str.strip_chars().alias("new_text"),
        )
        .filter(pl.col("parameter").is_not_null())
        .with_columns(_change=pl.int_range(pl.len(), dtype=pl.Int64).over("_text"))
        .select(CHANGES_SCHEMA.names())
        .collect()
    )


def callable_changes(texts: pl.DataFrame, extract: Extractor) -> pl.DataFrame:
    """Like :func:`text_changes`, calling ``extract(description, hypothesis)`` once per text.

    ``texts`` has ``_text``, ``description`` and, optionally, ``hypothesis``.
    """
    out: dict[str, list[Any]] = {k: [] for k in CHANGES_SCHEMA}
    ids = texts.get_column("_text").to_list()
    descriptions = texts.get_column("description").to_list()
    if "hypothesis" in texts.columns:
        hypotheses = texts.get_column("hypothesis").to_list()
    else:
        hypotheses = [None] * len(ids)
    for text_id, description, hypothesis in zip(ids, descriptions, hypotheses, strict=True):
        k = 0
        for change in extract(description or "", hypothesis):
            name = str(change.name)
            if not name:
                continue
            out["_text"].append(text_id)
            out["_change"].append(k)
            out["parameter"].append(name)
            out["old"].append(parse_number(change.old))
            out["new"].append(parse_number(change.new))
            out["new_text"].append(None if change.new is None else str(change.new))
            k += 1
    return pl.DataFrame(out, schema=CHANGES_SCHEMA)


def default_extractor() -> Extractor:
    """Core's extraction as an :data:`Extractor`: a fresh ``hpdream_core.ParamExtractor``.

    It gives what ``hpdream_core.extract_params`` gives, reading descriptions
    that differ only in their numbers once.
    """
    return hpdream_core.ParamExtractor()


ExtractArg = Extractor | Literal["text"] | None


def resolve_extractor(extract: ExtractArg) -> Extractor | None:
    """The callable to use, or None for the vectorised text rules."""
    if extract == "text":
        return None
    if extract is None:
        return default_extractor()
    if isinstance(extract, str) or not callable(extract):
        raise StatisticsError(f"extract must be 'text', None or a callable, got {extract!r}")
    return extract


class Texts(NamedTuple):
    """Experiment rows with the distinct texts they hold, and each text's parameter changes.

    ``rows``: :func:`experiment_rows` with a ``_text`` id; ``texts``: ``_text``,
    ``description`` (and ``hypothesis`` when the extractor reads it);
    ``changes``: per ``_text``, as :data:`CHANGES_SCHEMA`. Work that depends
    only on the text is done once per distinct text.
    """

    rows: pl.DataFrame
    texts: pl.DataFrame
    changes: pl.DataFrame


def index_texts(rows: pl.DataFrame, extract: ExtractArg, *, with_changes: bool = True) -> Texts:
    """Give each distinct text of ``rows`` an id and extract its parameter changes once."""
    chosen = resolve_extractor(extract)
    text_columns = ["description"]
    if chosen is not None and "hypothesis" in rows.columns:
        text_columns.append("hypothesis")
    texts = (
        rows.lazy()
        .select(text_columns)
        .unique()
        .with_row_index("_text")
        .with_columns(pl.col("_text").cast(pl.Int64))
        .collect()
    )
    indexed = rows.join(texts, on=text_columns, how="left", nulls_equal=True)
    if not with_changes:
        changes = pl.DataFrame(schema=CHANGES_SCHEMA)
    elif chosen is None:
        changes = text_changes(texts)
    else:
        changes = callable_changes(texts, chosen)
    return Texts(indexed, texts, changes)


#: Columns of :func:`param_changes`.
PARAM_CHANGES_SCHEMA: Final = pl.Schema(
    {
        **{k: SCHEMA[k] for k in TRAJECTORY},
        "index": pl.Int64(),
        "position": pl.Int64(),
        "parameter": pl.String(),
        "old": pl.Float64(),
        "new": pl.Float64(),
        "new_text": pl.String(),
        "old_inferred": pl.Boolean(),
        "delta": pl.Float64(),
    }
)


def changes_with_delta(texts: Texts) -> pl.DataFrame:
    """Every row's parameter changes, missing old values inferred, with the relative step."""
    previous = pl.col("new").shift(1).over("_tid", "parameter")
    return (
        texts.rows.lazy()
        .select(*TRAJECTORY, "index", "position", "_row", "_tid", "_text")
        .join(texts.changes.lazy(), on="_text", how="inner")
        .sort("_row", "_change")  # the rows' order: trajectory, then index
        .with_columns(
            old_inferred=pl.col("old").is_null() & previous.is_not_null(),
            old=pl.coalesce(pl.col("old"), previous),
        )
        .with_columns(
            delta=pl.when(pl.col("old") != 0)
            .then((pl.col("new") - pl.col("old")).abs() / pl.col("old").abs())
            .otherwise(None)
        )
        .select(PARAM_CHANGES_SCHEMA.names())
        .collect()
    )


def param_changes(frame: pl.LazyFrame, *, extract: ExtractArg = None) -> pl.LazyFrame:
    """Every parameter change of every experiment after the baseline.

    One row per (experiment, change): study, agent, run, index, ``position``,
    ``parameter``, ``old``, ``new`` (floats; null when not a number),
    ``new_text`` (the new value as written), ``old_inferred`` and ``delta`` =
    |new - old| / |old| (null when old is 0 or unknown). A change that states no
    old value takes the value the same parameter was last set to earlier in the
    trajectory (``old_inferred`` true).

    ``extract`` picks the source: None for ``hpdream_core.extract_params``
    (through ``ParamExtractor``), ``"text"`` for the text rules of this
    module, or a callable ``extract(description, hypothesis)`` returning objects
    with ``name``, ``old`` and ``new``. Computed in one batch when collected.
    """
    resolve_extractor(extract)
    rows = experiment_rows(frame, "param_changes")

    def compute(df: pl.DataFrame) -> pl.DataFrame:
        return changes_with_delta(index_texts(df, extract))

    return rows.map_batches(compute, schema=PARAM_CHANGES_SCHEMA)
