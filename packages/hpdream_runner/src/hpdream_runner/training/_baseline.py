"""The baseline ``train.py`` (package data) and its definitions without running it."""

from __future__ import annotations

import ast
import itertools
import sys
import types
from importlib import resources
from typing import Any

from hpdream_runner.training._constants import render_constants
from hpdream_runner.training._presets import Preset, get_preset

_counter = itertools.count()


def baseline_train_py(preset: str | Preset | None = None) -> str:
    """The baseline train.py source: the seed study's constants, or those of ``preset``."""
    source = (resources.files("hpdream_runner") / "templates" / "train.py").read_text(
        encoding="utf-8"
    )
    if preset is None:
        return source
    return render_constants(source, get_preset(preset).constants)


def load_definitions(source: str, *, filename: str = "train.py") -> dict[str, Any]:
    """Execute only the imports, definitions and constants of a train.py source.

    Everything from the first statement that is none of these (the call to
    ``harness.start``) on is left out, so nothing trains. Tests use this to
    build the model and optimiser in-process; tools use it to count parameters.
    """
    tree = ast.parse(source, filename=filename)
    kept: list[ast.stmt] = []
    definitions = (
        ast.Import,
        ast.ImportFrom,
        ast.FunctionDef,
        ast.ClassDef,
        ast.Assign,
        ast.AnnAssign,
    )
    for stmt in tree.body:
        is_docstring = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        if not (is_docstring or isinstance(stmt, definitions)):
            break
        if _calls_harness(stmt):
            break
        kept.append(stmt)
    code = compile(ast.Module(body=kept, type_ignores=[]), filename, "exec")
    # A registered module, so that dataclasses can resolve the module's annotations.
    name = f"_hpdream_train_py_{next(_counter)}"
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)  # the caller's own train.py source, definitions only
    finally:
        del sys.modules[name]
    return module.__dict__


def _calls_harness(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
        return False
    return any(isinstance(node, ast.Call) for node in ast.walk(stmt))
