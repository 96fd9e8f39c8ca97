"""The public API of hpdream_runner.study and hpdream_runner.agents: sorted __all__, nothing missing."""

from __future__ import annotations

import types

import pytest

import hpdream_runner.agents as agents
import hpdream_runner.study as study


@pytest.mark.parametrize("module", [study, agents])
def test_all_is_sorted_and_complete(module: types.ModuleType) -> None:
    names = list(module.__all__)

    def isort_style(
        name: str,
    ) -> tuple[int, str]:  # constants, classes, then functions (ruff RUF022)
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style), "keep __all__ sorted"
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), name
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    }
    assert public <= set(names), f"public but not in __all__: {sorted(public - set(names))}"


def test_study_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, hpdream_runner.study, hpdream_runner.agents; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
