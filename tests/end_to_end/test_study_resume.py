"""A study killed with SIGKILL at random moments, and restarted, ends with exactly the rows it should have.

The study runs in a subprocess (``python -m hpdream_runner study run``) with the
synthetic trainer sleeping a little per experiment, so that kills land in every
phase: agent proposal, git commit, training, classification, the row write,
the reset. The reference is the same study run once without interruption.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpdream_core import Experiment, read_log
from hpdream_runner.study import Layout, Workspace

STUDY = textwrap.dedent(
    """\
    name = "kill-test"
    output = "{output}"
    experiments = 6
    seed = 5

    [training]
    trainer = "synthetic"
    budget_s = 0.08                 # the synthetic trainer "trains" this long

    [[agents]]
    adapter = "coordinate-search"
    label = "coord"
    options = {{ params = ["MATRIX_LR", "WARMDOWN_RATIO", "EMBEDDING_LR"] }}

    [[agents]]
    adapter = "random-search"
    options = {{ params = ["MATRIX_LR", "UNEMBEDDING_LR"], changes = 1 }}
    """
)

STABLE = (
    "agent",
    "run",
    "index",
    "status",
    "val_bpb",
    "category",
    "subcategory",
    "description",
    "hypothesis",
    "diff_added",
    "diff_removed",
    "error",
)


def _stable(rows: tuple[Experiment, ...]) -> list[tuple[object, ...]]:
    return [tuple(getattr(r, c) for c in STABLE) for r in rows]


def _start(study: Path) -> subprocess.Popen[bytes]:
    errors = study.with_suffix(".stderr")
    with errors.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "hpdream_runner", "study", "run", str(study), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def _finish(proc: subprocess.Popen[bytes], study: Path) -> None:
    proc.wait(timeout=120)
    assert proc.returncode == 0, study.with_suffix(".stderr").read_text()


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(output=tmp_path / name), encoding="utf-8")
    return path


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    reference = _write(tmp_path, "reference")
    _finish(_start(reference), reference)
    expected = _stable(
        read_log(tmp_path / "reference" / "experiments.csv", strict=True).experiments
    )
    assert len(expected) == 12

    study = _write(tmp_path, "killed")
    log = tmp_path / "killed" / "experiments.csv"
    rng = random.Random(20260)
    kills = 0
    for _ in range(40):
        proc = _start(study)
        time.sleep(rng.uniform(0.1, 0.7))
        if proc.poll() is not None:
            _finish(proc, study)
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        if log.exists():
            got = _stable(read_log(log).experiments)
            assert (
                got == expected[: len(got)]
            )  # every prefix is right: nothing lost, nothing doubled
    else:
        _finish(_start(study), study)
    assert kills >= 3

    final = read_log(log, strict=True)
    assert _stable(final.experiments) == expected
    layout = Layout(tmp_path / "killed")
    for label in ("coord", "random-search"):
        ws = Workspace(layout.workspace(label, 0))
        assert ws.is_clean()
        rows = [e for e in final.experiments if e.agent == label]
        best = [e for e in rows if e.status == "keep"][-1]
        assert ws.head() == best.commit
        folders = sorted(p.name for p in layout.experiments_dir(label, 0).iterdir())
        assert folders == [f"{i:04d}" for i in range(len(rows))]
        for e in rows:
            assert (layout.experiment_dir(label, 0, e.index) / "experiment.json").is_file()
    assert not list((tmp_path / "killed").rglob("*.tmp"))
