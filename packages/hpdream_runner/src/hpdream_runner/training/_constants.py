"""The hyperparameters of a ``train.py``: its top-level UPPER_CASE constants.

``train.py`` keeps its hyperparameters as module-level constants
(``DEPTH = 4``, ``ADAM_BETAS = (0.8, 0.95)``). This module reads them from the
source without running it, writes new values into the source (how a preset's
values become a workspace's ``train.py``), and parses ``KEY=VALUE`` overrides
from the command line, checking each against the constant it replaces.

It needs only the standard library, so the parent process (and the CLI) can
validate overrides before starting a subprocess.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Final

from hpdream_core import HpdreamError

#: What a constant's name looks like: upper case, digits and underscores.
CONSTANT_NAME: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")

#: Values a constant may hold (after evaluation).
ConstantValue = bool | int | float | str | tuple[Any, ...] | None

_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


class OverrideError(HpdreamError):
    """An override names no constant of train.py, or its value does not fit the constant."""


class _NotLiteral(Exception):
    """The expression is not made of literals (so it is not a plain constant)."""


def _literal(node: ast.expr) -> ConstantValue:
    """Evaluate literals and arithmetic on them (``2**16``, ``-1e-3``, ``(0.8, 0.95)``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, bool | int | float | str | None):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand = _literal(node.operand)
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise _NotLiteral
        result: ConstantValue = _UNARY[type(node.op)](operand)
        return result
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _literal(node.left), _literal(node.right)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if not numbers:
            raise _NotLiteral
        if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > 256:
            raise _NotLiteral  # refuse to compute giant powers from untrusted text
        try:
            result = _BINARY[type(node.op)](left, right)
        except (ArithmeticError, ValueError) as exc:
            raise _NotLiteral from exc
        return result
    raise _NotLiteral


def top_level_assignments(
    tree: ast.Module,
) -> Iterator[tuple[ast.Assign | ast.AnnAssign, str, ast.expr]]:
    """``NAME = value`` and ``NAME: T = value`` statements at module level, in order:
    (statement, name, value expression)."""
    for stmt in tree.body:
        target: ast.expr
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        if isinstance(target, ast.Name):
            yield stmt, target.id, value


def constant_assignments(source: str) -> dict[str, tuple[ast.Assign | ast.AnnAssign, Any]]:
    """Top-level ``NAME = <literal>`` statements: name -> (statement, value).

    A name assigned more than once keeps its last literal assignment. Raises
    ``SyntaxError`` when the source does not parse.
    """
    found: dict[str, tuple[ast.Assign | ast.AnnAssign, Any]] = {}
    for stmt, name, value in top_level_assignments(ast.parse(source)):
        if not CONSTANT_NAME.match(name):
            continue
        try:
            found[name] = (stmt, _literal(value))
        except _NotLiteral:
            continue
    return found


def read_constants(source: str) -> dict[str, ConstantValue]:
    """The hyperparameters of a train.py source, by name, in file order."""
    return {name: value for name, (_, value) in constant_assignments(source).items()}


def render_constants(source: str, values: Mapping[str, ConstantValue]) -> str:
    """``source`` with the given constants' values written in place of the old ones.

    Only the value expression changes; the name, any annotation and the
    comment after it stay. Every name must be a constant of ``source``.
    """
    if not values:
        return source
    assignments = constant_assignments(source)
    missing = sorted(set(values) - set(assignments))
    if missing:
        raise OverrideError(
            f"train.py has no constant {', '.join(missing)} "
            f"(its constants: {', '.join(assignments) or 'none'})"
        )
    lines = source.splitlines(keepends=True)
    # Replace from the bottom up so earlier positions stay valid.
    edits = sorted(
        ((assignments[name][0], value) for name, value in values.items()),
        key=lambda edit: (edit[0].lineno, edit[0].col_offset),
        reverse=True,
    )
    for stmt, value in edits:
        node = stmt.value
        assert node is not None and node.end_lineno is not None and node.end_col_offset is not None
        start, end = node.lineno - 1, node.end_lineno - 1
        # ast columns count UTF-8 bytes; slice the encoded lines.
        head = lines[start].encode()[: node.col_offset].decode()
        tail = lines[end].encode()[node.end_col_offset :].decode()
        lines[start : end + 1] = [head + format_value(value) + tail]
    return "".join(lines)


def format_value(value: ConstantValue) -> str:
    """Python source for a constant's value (powers of two of 2**10 and more stay readable)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int) and value >= 1024 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    if isinstance(value, tuple):
        inner = ", ".join(format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def parse_override(item: str) -> tuple[str, str]:
    """``"DEPTH=6"`` -> ``("DEPTH", "6")``, with a clear error for anything else."""
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or not CONSTANT_NAME.match(name):
        raise OverrideError(
            f"override {item!r} is not KEY=VALUE with an UPPER_CASE constant name (e.g. DEPTH=6)"
        )
    return name, value.strip()


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Several ``KEY=VALUE`` items; a later item for the same key wins."""
    return dict(parse_override(item) for item in items)


def coerce_override(name: str, text: str, current: object) -> ConstantValue:
    """The value ``text`` stands for, checked against the constant's ``current`` value.

    ``text`` is a Python literal (``6``, ``2**17``, ``0.9,0.95`` or
    ``(0.9, 0.95)``, ``True``, ``'SSSL'``); for a string constant an unquoted
    word is taken as the string (``WINDOW_PATTERN=SSSL``). Integers are accepted
    for float constants; otherwise the type must match.
    """
    try:
        value: ConstantValue = _literal(ast.parse(text, mode="eval").body)
    except (SyntaxError, _NotLiteral):
        if isinstance(current, str):
            return text
        raise OverrideError(f"{name}={text}: {text!r} is not a Python literal") from None
    return _fit(name, text, value, current)


def _fit(name: str, text: str, value: ConstantValue, current: object) -> ConstantValue:
    def number(v: object) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if current is None or value is None:
        return value
    if isinstance(current, str):
        return value if isinstance(value, str) else text
    if isinstance(current, tuple) and isinstance(value, tuple):
        if len(value) != len(current):
            raise OverrideError(
                f"{name}={text}: needs {len(current)} values like {current!r}, got {len(value)}"
            )
        return tuple(
            _fit(f"{name}[{i}]", repr(v), v, c)
            for i, (v, c) in enumerate(zip(value, current, strict=True))
        )
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float) and number(value):
        assert isinstance(value, int | float)
        return float(value)
    raise OverrideError(
        f"{name}={text}: {name} is a {type(current).__name__} ({current!r}), "
        f"got {type(value).__name__}"
    )


def apply_overrides(
    namespace: MutableMapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, ConstantValue]:
    """Set each overridden constant in ``namespace`` (a train.py's globals); return the new values."""
    applied: dict[str, ConstantValue] = {}
    for name, text in overrides.items():
        if name not in namespace or not CONSTANT_NAME.match(name):
            known = ", ".join(
                k for k in namespace if CONSTANT_NAME.match(k) and _is_plain(namespace[k])
            )
            raise OverrideError(
                f"train.py has no constant {name} (its constants: {known or 'none'})"
            )
        value = coerce_override(name, text, namespace[name])
        namespace[name] = value
        applied[name] = value
    return applied


def check_overrides(source: str, overrides: Mapping[str, str]) -> dict[str, ConstantValue]:
    """Validate overrides against a train.py source without running it; return the new values."""
    namespace: dict[str, Any] = dict(read_constants(source))
    return apply_overrides(namespace, overrides)


def _is_plain(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def plain_constants(namespace: Mapping[str, Any]) -> dict[str, ConstantValue]:
    """The constants of a live namespace whose values are plain data (for the summary)."""
    return {k: v for k, v in namespace.items() if CONSTANT_NAME.match(k) and _is_plain(v)}
