"""``hpdream-run prepare``: what it prints, a second run, local files, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpdream_runner.cli import main
from hpdream_runner.data import open_prepared
from hpdream_runner.data._stories import stories

SMALL = ["--vocab-size", "300", "--num-train-docs", "300", "--num-val-docs", "40"]


def test_prepare_then_already_prepared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "--data-dir", str(tmp_path), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "training a BPE tokenizer of 300 ids" in out
    assert "prepared in" in out and "train: 300 documents" in out
    assert main(["prepare", "--data-dir", str(tmp_path), *SMALL]) == 0
    out = capsys.readouterr().out
    assert out.startswith("already prepared: builtin, vocabulary 300")
    assert "val: 40 documents" in out
    assert open_prepared("builtin", data_dir=tmp_path, vocab_size=300).vocab_size == 300


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "--data-dir", str(tmp_path), *SMALL, "--seed", "3", "--json"]) == 0
    captured = capsys.readouterr()
    meta = json.loads(captured.out)
    assert meta["root"] == str(tmp_path / "builtin" / "vocab300")
    assert meta["recipe"]["seed"] == 3 and meta["splits"]["val"]["docs"] == 40
    assert "prepared in" in captured.err


def test_local_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n<|endoftext|>\n".join(stories(1, 200)))
    (tmp_path / "val.txt").write_text("\n<|endoftext|>\n".join(stories(1, 20, "val")))
    args = ["prepare", "--dataset", "local", "--data-dir", str(tmp_path / "d")]
    args += ["--vocab-size", "300", "--path", str(corpus), "--val-path", str(tmp_path / "val.txt")]
    assert main(args) == 0
    assert "train: 200 documents" in capsys.readouterr().out


def test_errors_are_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "--data-dir", str(tmp_path), "--path", "x.txt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hpdream-run prepare: error: option paths does not apply to the builtin")
    assert main(["prepare", "--dataset", "local", "--data-dir", str(tmp_path)]) == 2
    assert "the local data set needs paths" in capsys.readouterr().err
    assert main(["prepare", "--data-dir", str(tmp_path), "--vocab-size", "100"]) == 2
    assert "vocab_size must be an integer from 257" in capsys.readouterr().err


def test_the_command_module_imports_no_heavy_packages() -> None:
    code = (
        "import sys, hpdream_runner.commands.prepare; "
        "heavy = {'torch', 'numpy', 'tiktoken', 'pyarrow', 'polars'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
