"""The public API of hpdream_runner.training: exports, and imports that stay light."""

from __future__ import annotations

import subprocess
import sys

import hpdream_runner.training as training
from hpdream_runner.training import harness


def isort_style(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions (ruff's RUF022 order)."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    assert training.__all__ == sorted(training.__all__, key=isort_style)
    public = {name for name in vars(training) if not name.startswith("_")} - {"harness"}
    public -= {name for name, value in vars(training).items() if type(value).__name__ == "module"}
    assert set(training.__all__) == public
    assert harness.__all__ == sorted(harness.__all__, key=isort_style)
    assert all(hasattr(harness, name) for name in harness.__all__)


def test_importing_the_api_does_not_import_torch() -> None:
    # the CLI and the study orchestrator import it in processes that never train
    code = "import sys, hpdream_runner.training; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
