"""``hpdream-run classify``: the label and its evidence, JSON, stdin, diffs, custom taxonomies."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpdream_runner.cli import build_parser, main
from hpdream_runner.commands import classify as command

REPO = Path(__file__).resolve().parents[2]


def test_classify_prints_label_params_and_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "exp12: MATRIX_LR 0.04->0.06 (worse)", "revert depth change"]) == 0
    out = capsys.readouterr().out
    first, second = out.split("\n\n")
    assert "category:     hyperparameters" in first
    assert "subcategory:  learning_rate" in first
    assert "params:       matrix_lr 0.04 -> 0.06" in first
    assert 'text: "MATRIX_LR" (change) -> hyperparameters/learning_rate' in first
    assert "category:     other" in second and "subcategory:  revert" in second


def test_classify_json_and_stdin() -> None:
    args = build_parser().parse_args(["classify", "-", "--json"])
    out = io.StringIO()
    assert command.run(args, stdin=io.StringIO("depth 4→6\n\nadd 5% warmup\n"), stdout=out) == 0
    got = json.loads(out.getvalue())
    assert [(g["category"], g["subcategory"]) for g in got] == [
        ("architecture", "depth"),
        ("schedule", "warmup"),
    ]
    assert got[0]["params"] == [{"name": "depth", "old": 4, "new": 6}]
    assert got[1]["params"] == [{"name": "warmup", "old": None, "new": 0.05}]
    assert got[0]["evidence"] and got[0]["disagreement"] is None


def test_classify_with_a_diff_reports_disagreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.py", tmp_path / "new.py"
    old.write_text("DEPTH = 4\nWARMDOWN_RATIO = 0.5\n")
    new.write_text("DEPTH = 4\nWARMDOWN_RATIO = 0.7\n")
    assert main(["classify", "increase the LR", "--old", str(old), "--new", str(new)]) == 0
    out = capsys.readouterr().out
    assert "category:     schedule" in out
    assert "params:       warmdown_ratio 0.5 -> 0.7" in out
    assert "disagreement: the text points to hyperparameters" in out


def test_classify_with_a_custom_taxonomy(capsys: pytest.CaptureFixture[str]) -> None:
    taxonomy = REPO / "examples" / "taxonomy-custom.toml"
    assert main(["classify", "MATRIX_LR 0.04 -> 0.06", "--taxonomy", str(taxonomy)]) == 0
    out = capsys.readouterr().out
    assert "category:     optimisation" in out
    assert "(capacity-optimisation-data taxonomy)" in out


def test_classify_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[[categories]]\nkey = 'Bad Key'\n")
    assert main(["classify", "x", "--taxonomy", str(bad)]) == 2
    assert "categories[0].key" in capsys.readouterr().err
    assert main(["classify", "x", "--old", str(tmp_path / "old.py")]) == 2
    assert "--old and --new go together" in capsys.readouterr().err
    assert (
        main(["classify", "x", "--old", str(tmp_path / "a.py"), "--new", str(tmp_path / "b.py")])
        == 2
    )
    assert "cannot read" in capsys.readouterr().err


def test_classify_runs_as_a_program_without_torch() -> None:
    code = (
        "import sys\n"
        "from hpdream_runner.cli import main\n"
        "rc = main(['classify', '-'])\n"
        "assert 'torch' not in sys.modules and 'polars' not in sys.modules\n"
        "raise SystemExit(rc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input="gpu0: Adam beta2 0.95 -> 0.99\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "category:     optimizer" in done.stdout
