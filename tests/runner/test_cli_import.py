"""``hpdream-run import``: the canonical CSV, the per-file summary, strict mode, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpdream_core import read_log
from hpdream_runner.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "results.tsv"


def test_import_example_writes_canonical_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.csv"
    assert main(["import", str(EXAMPLE), "-o", str(out), "--study", "demo"]) == 0
    log = read_log(out, strict=True)
    assert len(log.experiments) == 7
    assert {e.study for e in log.experiments} == {"demo"}
    assert {e.agent for e in log.experiments} == {"results"}
    assert [e.source_line for e in log.experiments] == list(range(2, 9))
    assert log.experiments[3].status == "crash" and log.experiments[3].val_bpb is None
    text = capsys.readouterr().out
    assert "7 rows, 0 lines reported" in text


def test_import_corpus_json_summary(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "all.csv"
    assert main(["import", str(corpus_dir), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["files"]) == 12
    total = sum(f["rows"] for f in summary["files"])
    assert total == len(read_log(out, strict=True).experiments)
    for f in summary["files"]:
        lines = Path(f["path"]).read_text().splitlines()
        blank = sum(1 for line in lines if not line.strip())
        assert f["rows"] + len(f["reported"]) + blank + 1 == len(lines)
    windows = next(f for f in summary["files"] if "09_" in f["path"])
    assert [r["line"] for r in windows["reported"]] == [8, 13, 19]


def test_strict_mode_fails_with_file_and_line(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus_dir / "09_blueberry-llm__autoresearch-windows.tsv"
    assert main(["import", str(path), "-o", str(tmp_path / "x.csv"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "09_blueberry-llm__autoresearch-windows.tsv, line 8: divider line" in err
    assert not (tmp_path / "x.csv").exists()


def test_agent_with_several_files_numbers_runs(tmp_path: Path) -> None:
    second = tmp_path / "second.tsv"
    second.write_text(EXAMPLE.read_text())
    out = tmp_path / "e.csv"
    assert main(["import", str(EXAMPLE), str(second), "-o", str(out), "--agent", "me"]) == 0
    runs = {(e.agent, e.run) for e in read_log(out).experiments}
    assert runs == {("me", 0), ("me", 1)}


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(tmp_path / "nope.tsv"), "-o", str(tmp_path / "x.csv")]) == 2
    assert "nope.tsv: no such file or folder" in capsys.readouterr().err


def test_cli_import_does_not_load_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from hpdream_runner.cli import main; "
        f"rc = main(['import', {str(EXAMPLE)!r}, '-o', {str(tmp_path / 'e.csv')!r}]); "
        "sys.exit(10 if 'torch' in sys.modules else rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_fills_categories_with_the_classifier(tmp_path: Path) -> None:
    out = tmp_path / "e.csv"
    assert main(["import", str(EXAMPLE), "-o", str(out)]) == 0
    cats = [e.category for e in read_log(out).experiments]
    assert cats == [
        "baseline",
        "hyperparameters",
        "schedule",
        "architecture",
        "architecture",
        "optimizer",
        "hyperparameters",
    ]


def test_import_with_a_custom_taxonomy(tmp_path: Path) -> None:
    from hpdream_core import load_taxonomy

    custom = EXAMPLE.parent / "taxonomy-custom.toml"
    out = tmp_path / "e.csv"
    assert main(["import", str(EXAMPLE), "-o", str(out), "--taxonomy", str(custom)]) == 0
    keys = set(load_taxonomy(custom).keys())
    assert {e.category for e in read_log(out).experiments} <= keys | {"baseline"}
