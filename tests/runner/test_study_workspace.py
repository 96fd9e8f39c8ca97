"""Workspaces (git repositories per run), diffs, protocol text, and the progress display."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import Experiment
from hpdream_runner.study import (
    LineProgress,
    LiveProgress,
    RunView,
    Workspace,
    WorkspaceError,
    diff_sources,
    make_progress,
    render_program,
)
from tests.runner.study_helpers import MINI_TRAIN_PY


def _ws(tmp_path: Path) -> Workspace:
    return Workspace.create(
        tmp_path / "ws",
        train_py=MINI_TRAIN_PY,
        files={"program.md": "# protocol\n", "run_experiment": "#!/bin/sh\n"},
    )


def test_create_commit_reset(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    root = ws.head()
    assert ws.read_train_py() == MINI_TRAIN_PY and ws.is_clean()
    assert (ws.path / "run_experiment").stat().st_mode & 0o111
    ws.write_train_py(MINI_TRAIN_PY + "# change\n")
    (ws.path / "program.md").write_text("tampered\n")
    (ws.path / "notes.txt").write_text("the agent's own notes\n")
    c1 = ws.commit_experiment(1, "a change\nwith a second line", "why")
    assert ws.experiment_commit(1) == c1 and ws.show(c1).endswith("# change\n")
    assert ws.show(c1, "program.md") == "# protocol\n"  # only train.py is committed
    message = ws.git("log", "-1", "--format=%B", c1)
    assert message.startswith("experiment 1: a change\n") and "Hypothesis: why" in message
    c2 = ws.commit_experiment(2, "no change")  # an unchanged train.py still gets its commit
    assert c2 != c1 and ws.experiment_commit(2) == c2
    ws.reset(root)
    assert ws.read_train_py() == MINI_TRAIN_PY
    assert (ws.path / "program.md").read_text() == "# protocol\n"  # tracked harness files restored
    assert (ws.path / "notes.txt").exists()  # untracked files are the agent's
    assert ws.has_commit(c1)  # reachable through its ref after the reset
    ws.git("gc", "-q", "--prune=now")
    assert ws.has_commit(c1) and ws.has_commit(c2)


def test_hooks_planted_by_an_agent_do_not_run(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    marker = tmp_path / "hook-ran"
    hook = ws.git_dir / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    ws.git("config", "core.hooksPath", str(hook.parent))  # the agent even points git at them
    ws.write_train_py(MINI_TRAIN_PY + "# x\n")
    ws.commit_experiment(1, "x")
    assert not marker.exists()


def test_stale_lock_is_cleared_by_reset(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    (ws.git_dir / "index.lock").write_text("")
    ws.write_train_py("broken")
    ws.reset(ws.head())
    assert ws.read_train_py() == MINI_TRAIN_PY and not (ws.git_dir / "index.lock").exists()


def test_a_half_made_workspace_is_made_again(tmp_path: Path) -> None:
    (tmp_path / "ws" / ".git").mkdir(parents=True)
    (tmp_path / "ws" / "junk").write_text("x")
    ws = _ws(tmp_path)
    assert ws.is_clean() and not (ws.path / "junk").exists()
    with pytest.raises(WorkspaceError, match="already a workspace"):
        _ws(tmp_path)


def test_missing_train_py_is_a_clear_error(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    ws.train_py.unlink()
    with pytest.raises(WorkspaceError, match=r"train\.py is missing"):
        ws.read_train_py()
    with pytest.raises(WorkspaceError, match="missing or not a regular file"):
        ws.commit_experiment(1, "gone")


def test_missing_git_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="install git"):
        Workspace.create(tmp_path / "ws", train_py="x", files={}, git="no-such-git-binary")


_LINES = st.lists(st.sampled_from(["a = 1", "b = 2", "c = 3", "# note", ""]), max_size=12)


@given(_LINES, _LINES)
def test_diff_counts_match_the_lines(old: list[str], new: list[str]) -> None:
    a, b = "\n".join(old) + "\n", "\n".join(new) + "\n"
    d = diff_sources(a, b)
    assert (d.added == 0 and d.removed == 0) == (a == b)
    assert d.added - d.removed == len(b.splitlines()) - len(a.splitlines())
    assert d.added <= len(b.splitlines()) and d.removed <= len(a.splitlines())
    if a != b:
        assert d.text.startswith("--- a/train.py\n+++ b/train.py\n")


def test_protocol_text() -> None:
    text = render_program(
        study="s",
        label="claude",
        run=2,
        budget_s=300,
        grace_s=180,
        device="cuda",
        run_command="./run_experiment",
        min_improvement="0",
        experiments=163,
        hours=None,
    )
    assert "Study `s`, agent `claude`, run 2." in text
    assert "5 minutes of wall-clock" in text and "8 minutes" in text
    assert "at most **163 experiments**" in text
    for must in (
        "What you may change",
        "Simplicity",
        "Do not stop",
        "./run_experiment --log",
        "reset",
        "keep",
        "crash",
        "train.py",
    ):
        assert must in text
    assert "$" not in text  # every placeholder was filled


def _row(status: str, val: float | None, index: int = 1) -> Experiment:
    return Experiment.from_values(
        {
            "study": "s",
            "agent": "a",
            "run": 0,
            "index": index,
            "status": status,
            "val_bpb": val,
            "description": "d",
            "error": None if val else "oom: out of memory",
        }
    )


def test_line_progress() -> None:
    out = io.StringIO()
    now = [100.0]
    p = LineProgress(out, clock=lambda: now[0])
    view = RunView("rand", 0, 10, started=40.0)
    p.study_started("s", "/out", [view])
    p.run_started(view)
    p.experiment_started(view, 1, "MATRIX_LR 0.04 -> 0.05\nsecond line")
    view.done, view.best = 2, 1.5
    p.experiment_done(view, _row("keep", 1.5))
    p.experiment_done(view, _row("crash", None))
    view.state, view.reason = "finished", "experiments: 10 of 10 done"
    p.run_finished(view)
    lines = out.getvalue().splitlines()
    assert lines[0] == "study s: 1 run(s), output in /out"
    assert lines[2] == "[rand run 0] experiment 1: MATRIX_LR 0.04 -> 0.05"
    assert lines[3] == "[rand run 0] 2/10 keep    1.500000  best 1.500000  1:00"
    assert "crash   oom: out of memory" in lines[4]
    assert lines[5].startswith("[rand run 0] finished: experiments: 10 of 10 done")
    assert "\x1b" not in out.getvalue()


def test_live_progress_redraws_in_place() -> None:
    out = io.StringIO()
    p = LiveProgress(out, clock=lambda: 65.0, tick=False)
    views = [RunView("rand", 0, 5, started=0.0), RunView("tpe", 0, 5)]
    p.study_started("s", "/out", views)
    first = out.getvalue()
    assert first.count("\n") == 3 and "rand run 0" in first and "tpe run 0" in first
    views[0].done, views[0].best, views[0].last_status = 3, 1.234567, "discard"
    p.experiment_done(views[0], _row("discard", 1.3))
    second = out.getvalue()[len(first) :]
    assert second.startswith("\x1b[3F")  # back to the top of the table
    assert "3/5" in second and "1.234567" in second and "discard" in second and "1:05" in second
    p.close()


def test_make_progress_picks_by_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(make_progress(io.StringIO()), LineProgress)
    live = make_progress(Tty())
    assert isinstance(live, LiveProgress)
    live.close()
