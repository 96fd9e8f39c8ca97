"""``hpdream-run study run / check / status`` and ``hpdream-run quickstart``, with the synthetic trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpdream_core import read_log
from hpdream_runner.cli import main
from hpdream_runner.commands.quickstart import find_quickstart
from hpdream_runner.training import baseline_train_py
from tests.runner.study_helpers import write_study_toml

STUDY = """\
name = "cli-demo"
output = "out"
experiments = 4
[training]
trainer = "synthetic"
train_py = "train.py"
[[agents]]
adapter = "coordinate-search"
label = "coord"
options = {{ params = ["MATRIX_LR", "WARMDOWN_RATIO"] }}
[[agents]]
adapter = "random-search"
options = {{ params = ["MATRIX_LR"], changes = {changes} }}
"""


@pytest.fixture
def study_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # output = "out" is relative to the working directory
    return write_study_toml(
        tmp_path, STUDY.format(changes=1), train_py=baseline_train_py("cpu-tiny")
    )


def test_run_status_and_resume(study_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "status", str(study_file)]) == 2
    assert "is not a study's output folder" in capsys.readouterr().err
    assert main(["study", "run", str(study_file)]) == 0
    out = capsys.readouterr().out
    assert (
        "[coord run 0] experiment 1: MATRIX_LR 0.04 -> 0.08" in out
    )  # plain lines: not a terminal
    assert "coord run 0" in out and "finished: experiments: 4 of 4 done" in out
    log = study_file.parent / "out" / "experiments.csv"
    assert f"experiments CSV: {log.resolve()}" in out
    rows = read_log(log, strict=True).experiments
    assert len(rows) == 8 and {r.agent for r in rows} == {"coord", "random-search"}

    assert main(["study", "status", str(study_file)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["run", "experiments", "best"]
    assert any(line.startswith("coord run 0") and " 4 " in line for line in table)

    assert main(["study", "status", str(study_file.parent / "out"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["label"], d["experiments"], d["state"]) for d in data] == [
        ("coord", 4, "finished"),
        ("random-search", 4, "finished"),
    ]

    # raising the limit resumes the same runs
    study_file.write_text(study_file.read_text().replace("experiments = 4", "experiments = 6"))
    assert main(["study", "run", str(study_file), "--quiet"]) == 0
    assert len(read_log(log).experiments) == 12
    assert "[coord run 0]" not in capsys.readouterr().out


def test_check(study_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "check", str(study_file)]) == 0
    captured = capsys.readouterr()
    resolved = json.loads(captured.out)
    assert resolved["name"] == "cli-demo" and resolved["training"]["trainer"] == "synthetic"
    assert "valid; 2 agent(s), 2 run(s)" in captured.err
    assert not (study_file.parent / "out").exists()  # checking runs nothing


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("experiments = 4", "experiments = 0"), "experiments: must be >= 1"),
        (
            lambda t: t.replace('adapter = "coordinate-search"', 'adapter = "nope"'),
            "unknown agent adapter 'nope'",
        ),
        (
            lambda t: t.replace("changes = 1", 'changes = "x"'),
            "agents[1].options: agent 'random-search', option 'changes'",
        ),
    ],
)
def test_bad_study_files_exit_2_with_the_reason(
    study_file: Path, capsys: pytest.CaptureFixture[str], edit, message: str
) -> None:  # type: ignore[no-untyped-def]
    study_file.write_text(edit(study_file.read_text()))
    for action in ("run", "check"):
        assert main(["study", action, str(study_file)]) == 2
        err = capsys.readouterr().err
        assert message in err, err
    assert not (study_file.parent / "out" / "experiments.csv").exists()


def test_quickstart_with_a_small_study(
    study_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_file.write_text(study_file.read_text().replace("experiments = 4", "experiments = 2"))
    assert main(["quickstart", "--study", str(study_file), "--plain"]) == 0
    out = capsys.readouterr().out
    assert "experiments CSV:" in out
    report = study_file.parent / "out" / "report" / "report.html"
    assert f"report: {report.resolve()}" in out
    assert report.is_file() and (study_file.parent / "out" / "report" / "FINDINGS.md").is_file()


def test_find_quickstart(tmp_path: Path, repo_dir: Path) -> None:
    assert find_quickstart(cwd=repo_dir) == repo_dir / "examples" / "quickstart.toml"
    # from elsewhere, the source checkout's copy is found
    assert (
        find_quickstart(cwd=tmp_path).resolve()
        == (repo_dir / "examples" / "quickstart.toml").resolve()
    )
    assert find_quickstart(tmp_path / "mine.toml") == tmp_path / "mine.toml"
