"""Resuming: rebuild each run's state from the log, and put its workspace back in order.

The experiments CSV is the record of what happened: a row is appended (and
flushed) after the experiment's files and commit exist and before the
workspace is reset, so whatever moment a study is killed at,

- an experiment with a row is complete: its workspace may still need the
  reset that the kill prevented, which :func:`open_run` does (reset to the
  best commit, which the rows name);
- an experiment without a row never happened: its commit is left behind
  (unreachable), its folder of files is removed, the workspace is reset to
  the best commit, and the experiment runs again;
- a row cut in the middle by the kill is moved aside by the log writer
  (to ``experiments.csv.cut``) and is, likewise, run again.

So a resumed study ends with exactly the rows of an uninterrupted one (with
deterministic agents, the very same rows), none lost or duplicated, and no
workspace is left half-edited.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from hpdream_core import Experiment, HpdreamError
from hpdream_runner.agents._protocol import Attempt
from hpdream_runner.study._layout import Layout
from hpdream_runner.study._workspace import Workspace
from hpdream_runner.training._spec import read_json


class ResumeError(HpdreamError):
    """A study's files do not fit together (a gap in the log, a missing snapshot)."""


@attrs.define
class RunState:
    """Where one (agent, run) stands: its rows, the best so far, its workspace's best commit."""

    label: str
    run: int
    rows: list[Experiment]
    history: list[Attempt]
    best: Experiment | None
    best_commit: str
    best_source: str
    baseline_source: str
    elapsed_before: float = 0.0
    meta: dict[str, object] = attrs.field(factory=dict)

    @property
    def next_index(self) -> int:
        return len(self.rows)

    @property
    def crashes_in_a_row(self) -> int:
        n = 0
        for row in reversed(self.rows):
            if row.status != "crash":
                break
            n += 1
        return n


def group_rows(rows: Iterable[Experiment], study: str) -> dict[tuple[str, int], list[Experiment]]:
    """The rows of ``study`` per (agent, run), in index order."""
    out: dict[tuple[str, int], list[Experiment]] = {}
    for row in rows:
        if row.study == study:
            out.setdefault((row.agent, row.run), []).append(row)
    for key, items in out.items():
        items.sort(key=lambda e: e.index)
        for expected, row in enumerate(items):
            if row.index != expected:
                raise ResumeError(
                    f"the log has agent {key[0]!r}, run {key[1]}, experiment {row.index} "
                    f"where experiment {expected} should be (a gap or a duplicate)"
                )
    return out


def result_message(
    row: Experiment,
    best_before: Experiment | None,
    *,
    margin: float = 0.0,
    done: int | None = None,
    limit: int | None = None,
    tail: str | None = None,
) -> str:
    """What ``run_experiment`` prints for an experiment (also given to stepwise agents)."""
    head = f"experiment {row.index}: {row.status}"
    lines = [head]
    if row.status == "crash":
        lines.append(f"error: {row.error or 'unknown'}")
    else:
        lines.append(f"val_bpb: {row.val_bpb:.6f}")
    if best_before is not None and best_before.val_bpb is not None:
        lines.append(f"best before: {best_before.val_bpb:.6f} (experiment {best_before.index})")
        if row.status == "discard":
            need = best_before.val_bpb - margin
            lines.append(f"a keep needed val_bpb below {need:.6f}")
    facts = []
    if row.training_seconds is not None:
        facts.append(f"training_seconds: {row.training_seconds:.1f}")
    if row.total_seconds is not None:
        facts.append(f"total_seconds: {row.total_seconds:.1f}")
    if row.memory_gb is not None:
        facts.append(f"peak_memory_gb: {row.memory_gb:.2f}")
    if row.num_params_m is not None:
        facts.append(f"params_m: {row.num_params_m:.2f}")
    if facts:
        lines.append(", ".join(facts))
    short = (row.commit or "")[:10]
    if row.status == "keep":
        lines.append(f"kept: commit {short} is the new best")
    elif row.index > 0:
        lines.append(
            f"reset: train.py is back to the best version (your change stays in commit {short})"
        )
    if done is not None:
        lines.append(f"experiments done: {done}" + (f" of {limit}" if limit is not None else ""))
    if tail:
        lines.append("end of the training output:")
        lines.append(tail.rstrip())
    return "\n".join(lines)


def log_table(rows: Iterable[Experiment]) -> str:
    """The run's experiments as a small table (``run_experiment --log``)."""
    out = ["index\tstatus\tval_bpb\tdescription"]
    for row in rows:
        val = "-" if row.val_bpb is None else f"{row.val_bpb:.6f}"
        text = row.description.replace("\n", " ").replace("\t", " ")
        if row.status == "crash" and row.error:
            text += f"  [{row.error.splitlines()[0][:80]}]"
        out.append(f"{row.index}\t{row.status}\t{val}\t{text}")
    return "\n".join(out)


def _snapshot(layout: Layout, label: str, run: int, index: int) -> str | None:
    path = layout.experiment_dir(label, run, index) / "train.py"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def remove_unlogged(layout: Layout, label: str, run: int, logged: int) -> list[Path]:
    """Remove the files of experiments that have no row (killed before their row); the paths removed."""
    folder = layout.experiments_dir(label, run)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for child in sorted(folder.iterdir()):
        if child.name.isdigit() and int(child.name) >= logged:
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
            removed.append(child)
        elif child.name.endswith(".tmp"):
            child.unlink()
    return removed


def open_run(
    layout: Layout,
    label: str,
    run: int,
    rows: list[Experiment],
    *,
    baseline_source: str,
    harness_files: Mapping[str, str],
    margin: float = 0.0,
    git: str = "git",
) -> tuple[Workspace, RunState]:
    """The run's workspace, made or recovered, and its state rebuilt from ``rows``."""
    remove_unlogged(layout, label, run, len(rows))
    history: list[Attempt] = []
    best: Experiment | None = None
    for row in rows:
        source = _snapshot(layout, label, run, row.index)
        record = read_json(layout.experiment_dir(label, run, row.index) / "experiment.json") or {}
        message = record.get("message")
        if not isinstance(message, str):
            message = result_message(row, best, margin=margin)
        history.append(Attempt(row, source, message))
        if row.status == "keep":
            best = row
    ws = Workspace(layout.workspace(label, run), git=git)
    if not ws.exists() or not ws.git("rev-parse", "--verify", "-q", "HEAD", check=False).strip():
        ws = Workspace.create(ws.path, train_py=baseline_source, files=harness_files, git=git)
    ws.clear_stale_lock()
    root = ws.git("rev-list", "--max-parents=0", "HEAD").split()[-1]
    target = root
    if best is not None:
        if best.commit and ws.has_commit(best.commit):
            target = best.commit
        elif best.index > 0:
            # the workspace was lost and made again: restore the best train.py from its snapshot
            snapshot = history[best.index].train_py
            if snapshot is None:
                raise ResumeError(
                    f"cannot restore the workspace of {label!r}, run {run}: commit {best.commit} is gone "
                    f"and {layout.experiment_dir(label, run, best.index) / 'train.py'} is missing"
                )
            ws.reset(root)
            ws.write_train_py(snapshot)
            ws.git("add", "--", "train.py")
            ws.git(
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                f"restore the best train.py (experiment {best.index})",
            )
            target = ws.head()
    ws.reset(target)
    best_source = ws.read_train_py()
    meta = read_json(layout.run_meta(label, run)) or {}
    elapsed = meta.get("elapsed_s", 0.0)
    state = RunState(
        label=label,
        run=run,
        rows=list(rows),
        history=history,
        best=best,
        best_commit=target,
        best_source=best_source,
        baseline_source=ws.show(root),
        elapsed_before=float(elapsed) if isinstance(elapsed, int | float) else 0.0,
        meta=meta,
    )
    return ws, state
