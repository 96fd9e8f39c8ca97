"""Import autoresearch ``results.tsv`` logs and the variants public forks write.

The upstream protocol writes ``commit val_bpb memory_gb status description``
separated by tabs. Forks vary (see docs/schema.md, "Importing"): other column
sets and orders, comma-separated files, an experiment-number column, a
timestamp, ``N/A`` or ``0.000000`` metrics for crashes, divider lines, rows
separated by spaces, other status words. Every physical line of an input is
accounted for: it becomes an :class:`Experiment`, or a :class:`LineReport`
says why not. Blank lines are skipped silently.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from hpdream_core._csvlog import REQUIRED_COLUMNS, LineReport, decode, parse_log
from hpdream_core._exceptions import LogFormatError, SchemaError
from hpdream_core._schema import BASELINE, UNKNOWN, Experiment, parse_datetime

#: How status words of public logs map to the protocol's statuses.
STATUS_WORDS: dict[str, str] = {
    **dict.fromkeys(
        [
            "keep",
            "kept",
            "accept",
            "accepted",
            "improved",
            "improvement",
            "success",
            "best",
            "new_best",
            "new best",
            "pass",
            "ok",
            "baseline",
        ],
        "keep",
    ),
    **dict.fromkeys(
        [
            "discard",
            "discarded",
            "revert",
            "reverted",
            "reject",
            "rejected",
            "worse",
            "skip",
            "skipped",
            "no_improvement",
            "no improvement",
            "fail_quality",
            "size_violation",
            "violation",
            "invalid",
        ],
        "discard",
    ),
    **dict.fromkeys(
        [
            "crash",
            "crashed",
            "error",
            "failed",
            "fail",
            "failure",
            "oom",
            "timeout",
            "timed_out",
            "nan",
            "killed",
            "diverged",
        ],
        "crash",
    ),
}

#: Header names (lower case, separators folded to ``_``) and the canonical column they fill.
HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(["commit", "hash", "sha", "git_commit", "commit_hash"], "commit"),
    **dict.fromkeys(["val_bpb", "bpb", "val_bits_per_byte", "valbpb"], "val_bpb"),
    **dict.fromkeys(
        ["memory_gb", "mem_gb", "memory", "peak_memory_gb", "peak_vram_gb", "vram_gb"], "memory_gb"
    ),
    **dict.fromkeys(["status", "result", "outcome", "decision"], "status"),
    **dict.fromkeys(
        ["description", "desc", "change", "changes", "notes", "note", "experiment_description"],
        "description",
    ),
    **dict.fromkeys(["hypothesis", "reasoning", "rationale", "why"], "hypothesis"),
    **dict.fromkeys(["timestamp", "time", "date", "started_at", "datetime"], "started_at"),
    **dict.fromkeys(["training_seconds", "train_seconds", "train_time_s"], "training_seconds"),
    **dict.fromkeys(["total_seconds", "total_time_s"], "total_seconds"),
    **dict.fromkeys(["num_params_m", "params_m", "n_params_m"], "num_params_m"),
    **dict.fromkeys(["error", "crash_reason"], "error"),
}

_HASH = re.compile(r"[0-9a-fA-F]{6,40}")
_DIVIDER = re.compile(r"^\s*[-=*_~]{3,}")
_COMMENT = re.compile(r"^\s*(?:#|//)")
_NULL_WORDS = frozenset({"", "n/a", "na", "nan", "none", "null", "-", "--", "?"})

#: ``labeler(description, hypothesis) -> (category, subcategory, multi)``
Labeler = Callable[[str, str | None], tuple[str, str | None, bool]]


def unknown_labeler(description: str, hypothesis: str | None) -> tuple[str, str | None, bool]:
    """Label nothing: every row gets category ``unknown`` (no classifier)."""
    return UNKNOWN, None, False


def _default_labeler() -> Labeler:
    from hpdream_core._classify import _classifier

    return _classifier(None).label_row


@attrs.frozen
class ImportResult:
    """One imported file: its rows and the lines that did not become rows."""

    path: str
    experiments: tuple[Experiment, ...]
    reported: tuple[LineReport, ...]
    lines: int  # physical lines in the file (the header included)

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rows": len(self.experiments),
            "reported": [{"line": r.line, "reason": r.reason} for r in self.reported],
        }


def _fold(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower()).strip("_")


def _split_lines(text: str) -> list[str]:
    # physical lines: \n, \r\n and a lone \r end a line; nothing else does
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _number(text: str) -> float | None:
    t = text.strip()
    if t.lower() in _NULL_WORDS:
        return None
    value = float(t)
    if not math.isfinite(value):
        return None
    return value


class _Layout:
    """What the header says: the delimiter and which canonical column each field fills."""

    def __init__(self, header: str, path: str) -> None:
        if "\t" in header:
            self.delimiter: str | None = "\t"
            names = header.split("\t")
        elif "," in header:
            self.delimiter = ","
            names = next(csv.reader([header]))
        else:
            self.delimiter = None
            names = header.split()
        self.raw_names = [n.strip() for n in names]
        self.targets: list[str] = []
        seen: set[str] = set()
        for raw in self.raw_names:
            folded = _fold(raw)
            target = HEADER_ALIASES.get(folded, folded or "column")
            if target in seen or (target not in HEADER_ALIASES.values() and target in _RESERVED):
                target = f"{folded or 'column'}_{len(self.targets)}"
            seen.add(target)
            self.targets.append(target)
        missing = [c for c in ("val_bpb", "status") if c not in self.targets]
        if missing:
            raise LogFormatError(
                path, 1, f"not an autoresearch log: the header has no {' or '.join(missing)} column"
            )
        self.description_last = self.targets[-1] == "description" or (
            "description" in self.targets
            and all(
                t in _TRAILING_OK for t in self.targets[self.targets.index("description") + 1 :]
            )
        )

    def split(self, line: str) -> list[str]:
        if self.delimiter == ",":
            return next(csv.reader([line]))
        if self.delimiter == "\t":
            fields = line.split("\t")
            if len(fields) == 1 and len(self.targets) > 1:
                # a row written with spaces in a tab-separated file
                return self._split_spaces(line)
            return fields
        return self._split_spaces(line)

    def _split_spaces(self, line: str) -> list[str]:
        n = len(self.targets)
        if self.targets[-1] == "description":
            return line.split(None, n - 1)
        return line.split()

    def fit(self, fields: list[str]) -> list[str] | None:
        """Fields aligned to the header, or None when they cannot be."""
        n = len(self.targets)
        if len(fields) == n:
            return fields
        if len(fields) > n and "description" in self.targets:
            # tabs inside the description: join the surplus back into it
            d = self.targets.index("description")
            surplus = len(fields) - n
            sep = self.delimiter or " "
            joined = sep.join(fields[d : d + surplus + 1])
            return [*fields[:d], joined, *fields[d + surplus + 1 :]]
        if len(fields) < n:
            # missing trailing fields are empty, as long as status and val_bpb are there
            padded = fields + [""] * (n - len(fields))
            needed = max(self.targets.index("status"), self.targets.index("val_bpb"))
            if len(fields) > needed:
                return padded
        return None


_RESERVED = frozenset(
    {
        "study",
        "agent",
        "run",
        "index",
        "category",
        "subcategory",
        "multi",
        "source",
        "source_line",
        "format_version",
        "diff_added",
        "diff_removed",
        "agent_seconds",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
)
_TRAILING_OK = frozenset({"started_at", "hypothesis", "error"})


def import_autoresearch(
    path: str | os.PathLike[str],
    *,
    study: str | None = None,
    agent: str | None = None,
    run: int = 0,
    strict: bool = False,
    labeler: Labeler | None = None,
) -> ImportResult:
    """Import one autoresearch log as canonical experiments.

    ``study`` defaults to the name of the file's folder, ``agent`` to the file
    name without extension. Rows are indexed in file order from 0; the first
    row is the baseline. ``labeler`` fills category, subcategory and multi
    (default: the classifier with the default taxonomy; ``unknown_labeler``
    leaves every row ``unknown``). With ``strict=True`` the first line
    that cannot become a row raises :class:`LogFormatError`.
    """
    return _parse_file(
        _read_text(path), path, study=study, agent=agent, run=run, strict=strict, labeler=labeler
    )


def _read_text(path: str | os.PathLike[str]) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LogFormatError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    return decode(data, str(path))


def _parse_file(
    text: str,
    path: str | os.PathLike[str],
    *,
    study: str | None,
    agent: str | None,
    run: int,
    strict: bool,
    labeler: Labeler | None,
) -> ImportResult:
    p = Path(path)
    return parse_autoresearch(
        text,
        str(path),
        study=study or p.resolve().parent.name or "study",
        agent=agent or p.stem,
        run=run,
        strict=strict,
        labeler=labeler,
    )


def parse_autoresearch(
    text: str,
    path: str,
    *,
    study: str,
    agent: str,
    run: int = 0,
    strict: bool = False,
    labeler: Labeler | None = None,
) -> ImportResult:
    """Import the text of an autoresearch log (see :func:`import_autoresearch`)."""
    label = labeler or _default_labeler()
    lines = _split_lines(text)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise LogFormatError(path, 1, "empty file: no header row")
    if first != 0:
        raise LogFormatError(path, first + 1, "the header must be the first line")
    layout = _Layout(lines[0], path)
    extra_names = [t for t in layout.targets if t not in _CANONICAL_TARGETS]
    experiments: list[Experiment] = []
    reports: list[LineReport] = []

    def report(line_no: int, reason: str, column: str | None = None) -> None:
        r = LineReport(path, line_no, reason, column)
        if strict:
            raise r.to_error()
        reports.append(r)

    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if _DIVIDER.match(line):
            report(i, "divider line, not an experiment")
            continue
        if _COMMENT.match(line) and not layout.raw_names[0].startswith("#"):
            report(i, "comment line, not an experiment")
            continue
        fields = layout.fit(layout.split(line))
        if fields is None:
            report(i, f"cannot align the fields with the header ({len(layout.targets)} columns)")
            continue
        cells = {t: f.strip() for t, f in zip(layout.targets, fields, strict=True)}
        if [c.lower() for c in fields] == [n.lower() for n in layout.raw_names]:
            report(i, "repeated header line")
            continue
        try:
            experiments.append(
                _experiment(cells, extra_names, study, agent, run, len(experiments), path, i, label)
            )
        except SchemaError as exc:
            report(i, exc.reason, exc.column)
    return ImportResult(path, tuple(experiments), tuple(reports), len(lines))


_CANONICAL_TARGETS = frozenset(HEADER_ALIASES.values())


def _experiment(
    cells: dict[str, str],
    extra_names: Sequence[str],
    study: str,
    agent: str,
    run: int,
    index: int,
    path: str,
    line: int,
    label: Labeler,
) -> Experiment:
    raw_status = cells["status"]
    status = STATUS_WORDS.get(raw_status.lower().strip())
    if status is None:
        raise SchemaError("status", raw_status, "unknown status word (see docs/schema.md)")
    values: dict[str, Any] = {
        "study": study,
        "agent": agent,
        "run": run,
        "index": index,
        "status": status,
        "source": path,
        "source_line": line,
    }
    for name in ("val_bpb", "memory_gb", "training_seconds", "total_seconds", "num_params_m"):
        if name in cells:
            try:
                values[name] = _number(cells[name])
            except ValueError:
                raise SchemaError(name, cells[name], "not a number") from None
    if status == "crash":
        # a crash's metrics are not measurements: 0.000000 would become the running best
        for name in ("val_bpb", "memory_gb"):
            values[name] = None
    elif values.get("val_bpb") is None:
        raise SchemaError("val_bpb", cells["val_bpb"], f"missing on a {raw_status!r} row")
    elif values["val_bpb"] <= 0:
        raise SchemaError("val_bpb", cells["val_bpb"], f"must be > 0 on a {raw_status!r} row")
    description = cells.get("description", "")
    hypothesis = cells.get("hypothesis") or None
    values["description"] = description
    values["hypothesis"] = hypothesis
    commit = cells.get("commit", "")
    values["commit"] = commit if _HASH.fullmatch(commit) else None
    extras: dict[str, str] = {
        "raw_status": raw_status,
        "raw_commit": "" if values["commit"] else commit,
    }
    stamp = cells.get("started_at", "")
    if stamp:
        try:
            values["started_at"] = parse_datetime(stamp)
        except ValueError:
            extras["raw_started_at"] = stamp
    if cells.get("error"):
        values["error"] = cells["error"]
    for name in extra_names:
        extras[name] = cells[name]
    if index == 0 or raw_status.lower() == BASELINE:
        values.update(category=BASELINE, subcategory=None, multi=False)
    else:
        category, subcategory, multi = label(description, hypothesis)
        values.update(category=category, subcategory=subcategory, multi=multi)
    values["extras"] = extras
    return Experiment.from_values(values)


def _first_line(path: str | os.PathLike[str]) -> str | None:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return f.readline()
    except OSError:
        return None


def _is_autoresearch_header(header: str) -> bool:
    try:
        _Layout(header, "")
    except LogFormatError:
        return False
    return True


def _is_canonical_header(header: str) -> bool:
    names = {h.strip() for h in next(csv.reader(io.StringIO(header)), [])}
    return set(REQUIRED_COLUMNS) <= names


def is_autoresearch_log(path: str | os.PathLike[str]) -> bool:
    """Whether the file's first line is an autoresearch header (val_bpb and status columns)."""
    header = _first_line(path)
    return header is not None and _is_autoresearch_header(header)


def is_canonical_log(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with an hpdream experiments CSV header."""
    header = _first_line(path)
    return header is not None and _is_canonical_header(header)


LOG_SUFFIXES = (".tsv", ".csv", ".txt")


def find_logs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders into log files.

    A file named explicitly is taken as it is; a folder is searched recursively
    for ``.tsv``/``.csv``/``.txt`` files whose header looks like a log (an
    autoresearch header or an hpdream experiments CSV), in sorted order.
    """
    found: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not (f.is_file() and f.suffix.lower() in LOG_SUFFIXES):
                    continue
                header = _first_line(f)
                if header is not None and (
                    _is_autoresearch_header(header) or _is_canonical_header(header)
                ):
                    found.append(f)
        elif p.exists():
            found.append(p)
        else:
            raise LogFormatError(str(p), None, "no such file or folder")
    return found


def read_any(
    path: str | os.PathLike[str],
    *,
    study: str | None = None,
    agent: str | None = None,
    run: int = 0,
    strict: bool = False,
    labeler: Labeler | None = None,
) -> ImportResult:
    """Read a canonical experiments CSV or import an autoresearch log, whichever it is.

    For a canonical log, ``study``/``agent`` (when given) replace the file's values.
    """
    where = str(path)
    text = _read_text(path)
    if not _is_canonical_header(text.split("\n", 1)[0]):
        return _parse_file(
            text, path, study=study, agent=agent, run=run, strict=strict, labeler=labeler
        )
    log = parse_log(text, where, strict=strict)
    experiments = log.experiments
    changes = {k: v for k, v in (("study", study), ("agent", agent)) if v}
    if changes:
        experiments = tuple(e.evolve(**changes) for e in experiments)
    return ImportResult(log.path, experiments, log.reports, len(_split_lines(text)))
