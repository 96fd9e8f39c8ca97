"""Load experiment logs into one polars LazyFrame with the canonical schema.

Inputs: canonical experiments CSVs (written by hpdream), autoresearch
``results.tsv`` logs and their variants (through core's importer), parquet
files, or folders holding any of them (searched recursively).

A canonical CSV is read by polars (fast path) and checked against core's
column definitions with vectorised expressions. Anything the fast path does
not accept exactly (another spelling of a boolean, a cut last row, a bad
value) goes through core's reader instead, which reads what is valid and
reports every other line with file, line, column and reason.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import polars as pl

from hpdream_analysis._exceptions import AnalysisError, LoadWarning
from hpdream_analysis._schema import SCHEMA, TRAJECTORY, conform
from hpdream_core import (
    COLUMNS,
    FORMAT_VERSION,
    STATUSES,
    UNKNOWN,
    Experiment,
    Labeler,
    LineReport,
    LogFormatError,
    find_logs,
    import_autoresearch,
    is_canonical_log,
    read_log,
)

PathLike = str | os.PathLike[str]
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Non-nullable columns a canonical file may leave out, and their defaults.
_DEFAULTS: dict[str, Any] = {"category": UNKNOWN, "multi": False, "format_version": FORMAT_VERSION}


@attrs.frozen
class LoadResult:
    """What :func:`load_with_reports` read: the experiments and the lines it could not read."""

    frame: pl.LazyFrame
    reports: tuple[LineReport, ...]
    files: tuple[str, ...]


def _unclassified(description: str, hypothesis: str | None) -> tuple[str, str | None, bool]:
    return UNKNOWN, None, False


def _expand(paths: Iterable[PathLike]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            logs = find_logs([p])
            parquet = [
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in PARQUET_SUFFIXES
            ]
            found = sorted({*logs, *parquet})
            if not found:
                raise LogFormatError(str(p), None, "no experiment logs in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise LogFormatError(str(p), None, "no such file or folder")
    return files


def _frame_of(experiments: Sequence[Experiment]) -> pl.DataFrame:
    """Core experiments as a DataFrame: canonical columns, then extra columns as text."""
    values = [e.to_values() for e in experiments]
    frame = (
        pl.DataFrame(values, schema=SCHEMA, orient="row") if values else pl.DataFrame(schema=SCHEMA)
    )
    extra_names: dict[str, None] = {}
    for e in experiments:
        extra_names.update(dict.fromkeys(k for k, _ in e.extras))
    if extra_names:
        extras = [dict(e.extras) for e in experiments]
        frame = frame.with_columns(
            pl.Series(name, [x.get(name) for x in extras], dtype=pl.String) for name in extra_names
        )
    return frame


def _cell(name: str, type_: str, nullable: bool) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, cell that failed to convert) for one text column of the fast path."""
    raw = pl.col(name)
    text = raw.str.strip_chars()
    if type_ == "str":
        value = raw if nullable else raw.fill_null("")
        return value, pl.lit(False)
    if type_ == "int":
        value = text.cast(pl.Int64, strict=False)
    elif type_ == "float":
        number = text.cast(pl.Float64, strict=False)
        value = pl.when(number.is_finite()).then(number).otherwise(None)
    elif type_ == "bool":
        value = pl.when(text == "true").then(True).when(text == "false").then(False).otherwise(None)
    else:
        value = text.str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
    failed = raw.is_not_null() & value.is_null()
    return value.alias(name), failed


def _fast_canonical(path: Path) -> pl.DataFrame | None:
    """The canonical CSV read by polars, or None when it needs core's reader to say why."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) != b"\n":
            return None  # the last row is cut: core reports it
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=True)
    except (pl.exceptions.PolarsError, UnicodeDecodeError, OSError):
        return None
    header = raw.columns
    if len(set(header)) != len(header) or any(h != h.strip() for h in header):
        return None
    exprs, failures = [], []
    for c in COLUMNS:
        if c.name not in header:
            if c.nullable:
                exprs.append(pl.lit(None, dtype=SCHEMA[c.name]).alias(c.name))
                continue
            if c.name not in _DEFAULTS:
                return None  # a required column is missing: core says which
            exprs.append(pl.lit(_DEFAULTS[c.name], dtype=SCHEMA[c.name]).alias(c.name))
            continue
        value, failed = _cell(c.name, c.type, c.nullable)
        exprs.append(value)
        failures.append(failed)
    extras = [pl.col(h) for h in header if h not in SCHEMA]
    typed = raw.select(*exprs, *extras, pl.any_horizontal(*failures, False).alias("_failed"))
    checks = [pl.col("_failed")]
    for c in COLUMNS:
        col = pl.col(c.name)
        if not c.nullable:
            checks.append(col.is_null())
        if c.minimum is not None:
            bad = col <= c.minimum if c.exclusive_minimum else col < c.minimum
            checks.append(bad.fill_null(False))
    checks += [
        ~pl.col("status").is_in(list(STATUSES)),
        (pl.col("status") == "crash") & pl.col("val_bpb").is_not_null(),
        pl.col("study") == "",
        pl.col("agent") == "",
        pl.col("category").str.strip_chars() == "",
    ]
    if typed.select(pl.any_horizontal(*checks).any()).item():
        return None
    return typed.drop("_failed")


def _read_canonical(path: Path, strict: bool) -> tuple[pl.DataFrame, tuple[LineReport, ...]]:
    fast = _fast_canonical(path)
    if fast is not None:
        return fast, ()
    log = read_log(path, strict=strict)
    return _frame_of(log.experiments), log.reports


def _with_keys(
    frame: pl.LazyFrame, path: Path, study: str | None, agent: str | None
) -> pl.LazyFrame:
    """Fill study, agent and run from the file (folder name, file stem, 0) where the data lack them."""
    schema = frame.collect_schema()
    defaults = {"study": study or path.resolve().parent.name, "agent": agent or path.stem, "run": 0}
    fills = []
    for key in TRAJECTORY:
        given = {"study": study, "agent": agent}.get(key)
        if given is not None:
            fills.append(pl.lit(given, dtype=SCHEMA[key]).alias(key))
        elif key not in schema:
            fills.append(pl.lit(defaults[key], dtype=SCHEMA[key]).alias(key))
    return frame.with_columns(fills) if fills else frame


def load_with_reports(
    *paths: PathLike,
    study: str | None = None,
    agent: str | None = None,
    labeler: Labeler | None = None,
    classify: bool = True,
    strict: bool = False,
) -> LoadResult:
    """Read logs like :func:`load` and also return every line that did not become a row.

    ``study`` and ``agent`` replace the files' values. For autoresearch logs
    they default to the folder name and the file name; with ``agent`` given
    and several autoresearch files, the files become runs 0, 1, ... of that
    agent. Imported autoresearch rows are classified by core's importer
    (its classifier with the default taxonomy), or by
    ``labeler`` (a :data:`hpdream_core.Labeler`); ``classify=False`` leaves them
    ``unknown``. Canonical logs keep their categories. ``strict=True`` raises
    :class:`hpdream_core.LogFormatError` at the first line that cannot be
    read instead of reporting it.

    Canonical CSV and autoresearch files are read now; parquet files are
    scanned lazily (only their key columns are read now, to check that no
    experiment occurs twice).
    """
    if not paths:
        raise AnalysisError("load: give at least one file or folder")
    files = _expand(paths)
    if labeler is None and not classify:
        labeler = _unclassified
    frames: list[pl.LazyFrame] = []
    reports: list[LineReport] = []
    eager: list[tuple[str, pl.DataFrame]] = []
    imported = 0
    autoresearch_files = [
        f for f in files if f.suffix.lower() not in PARQUET_SUFFIXES and not is_canonical_log(f)
    ]
    for path in files:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            scanned = conform(_with_keys(pl.scan_parquet(path), path, study, agent))
            keys = scanned.select(*TRAJECTORY, "index").collect()
            eager.append((str(path), keys))
            frames.append(scanned)
            continue
        if is_canonical_log(path):
            data, found = _read_canonical(path, strict)
        else:
            run = imported if agent is not None and len(autoresearch_files) > 1 else 0
            result = import_autoresearch(
                path, study=study, agent=agent, run=run, strict=strict, labeler=labeler
            )
            imported += 1
            data, found = _frame_of(result.experiments), result.reported
        reports.extend(found)
        data = _with_keys(data.lazy(), path, study, agent).collect()
        eager.append((str(path), data))
        frames.append(conform(data.lazy()))
    _check_unique(eager)
    frame = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    return LoadResult(conform(frame), tuple(reports), tuple(str(f) for f in files))


def _check_unique(eager: list[tuple[str, pl.DataFrame]]) -> None:
    keys = [*TRAJECTORY, "index"]
    if not eager:
        return
    stacked = pl.concat(
        [df.select(keys).with_columns(_file=pl.lit(name)) for name, df in eager],
        how="vertical_relaxed",
    )
    duplicated = stacked.filter(pl.struct(keys).is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        clash = duplicated.filter(*[pl.col(k) == first[k] for k in keys])
        where = sorted(set(clash.get_column("_file").to_list()))
        raise AnalysisError(
            f"experiment study={first['study']!r} agent={first['agent']!r} run={first['run']} "
            f"index={first['index']} occurs more than once (in {', '.join(where)}); give the "
            "files different agents or runs"
        )


def load(
    *paths: PathLike,
    study: str | None = None,
    agent: str | None = None,
    labeler: Labeler | None = None,
    classify: bool = True,
    strict: bool = False,
) -> pl.LazyFrame:
    """The experiments of one or many logs as a LazyFrame with the canonical schema.

    ``paths`` are canonical experiments CSVs, autoresearch ``results.tsv``
    logs (and variants), parquet files, or folders searched for them. Columns
    follow :data:`hpdream_analysis.SCHEMA` (core's columns), then any extra
    columns as text. Autoresearch rows are classified (see
    :func:`load_with_reports`). Lines that cannot be read are skipped with a
    :class:`LoadWarning` per file (see :func:`load_with_reports` for the list),
    or raise :class:`hpdream_core.LogFormatError` with ``strict=True``.
    """
    result = load_with_reports(
        *paths, study=study, agent=agent, labeler=labeler, classify=classify, strict=strict
    )
    by_file: dict[str, list[LineReport]] = {}
    for r in result.reports:
        by_file.setdefault(r.path, []).append(r)
    for path, found in by_file.items():
        warnings.warn(
            LoadWarning(
                f"{path}: {len(found)} line(s) not read, first {found[0]}; "
                "load_with_reports() lists them all"
            ),
            stacklevel=2,
        )
    return result.frame
