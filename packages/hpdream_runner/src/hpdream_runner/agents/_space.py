"""The hyperparameter constants of ``train.py``: read them, bound them, rewrite them.

The built-in search agents work on the module-level constants of the real
``train.py`` (``MATRIX_LR = 0.04``, ``TOTAL_BATCH_SIZE = 2**19``,
``ADAM_BETAS = (0.8, 0.95)``...). They are read with :mod:`ast` (numbers, and
arithmetic of numbers such as ``2**19``; tuple elements are addressed as
``ADAM_BETAS[1]``) and edited by rewriting the value of the assignment line,
so comments and everything else in the file stay as they were.

The search space follows the file: :func:`default_space` bounds each known
constant relative to its value in the given source (learning rates a factor
of 4 either way on a log scale, batch sizes by powers of two, ratios on
their natural range); study files can restrict it to some constants and
override any bound.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.training._constants import top_level_assignments

Scale = Literal["linear", "log", "pow2"]
Kind = Literal["int", "float"]
Number = int | float

_NAME = re.compile(r"^([A-Z][A-Z0-9_]*)(?:\[(\d+)\])?$")


class SpaceError(HpdreamError, ValueError):
    """A search space does not fit the ``train.py`` it is meant for."""


# --- reading constants ---------------------------------------------------------------

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


def _number(node: ast.expr) -> Number | None:
    """The value of a numeric constant expression (``0.04``, ``2**19``, ``-3``, ``64*8``), else None."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        assert isinstance(value, int | float)
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            return None
        try:
            value = _BINOPS[type(node.op)](left, right)
        except (ArithmeticError, ValueError):
            return None
        return value if isinstance(value, int | float) else None
    return None


@attrs.frozen
class _Site:
    """Where a constant's value sits in the source."""

    name: str
    value: Number
    node: ast.expr  # the value expression (a tuple element for NAME[i])
    pow2: bool  # written as 2**k


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise SpaceError(f"train.py does not parse (line {exc.lineno}): {exc.msg}") from None


def _sites(source: str) -> dict[str, _Site]:
    sites: dict[str, _Site] = {}
    for _, name, value in top_level_assignments(_parse(source)):
        if not _NAME.match(name):
            continue
        if isinstance(value, ast.Tuple):
            for i, elt in enumerate(value.elts):
                number = _number(elt)
                if number is not None:
                    sites[f"{name}[{i}]"] = _Site(f"{name}[{i}]", number, elt, _is_pow2(elt))
            continue
        number = _number(value)
        if number is not None:
            sites[name] = _Site(name, number, value, _is_pow2(value))
    return sites


def _is_pow2(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Pow)
        and isinstance(node.left, ast.Constant)
        and node.left.value == 2
    )


def read_constants(source: str) -> dict[str, Number]:
    """The module-level numeric constants of ``source`` (upper-case names; tuple elements as ``NAME[i]``).

    Raises :class:`SpaceError` when the source does not parse.
    """
    return {name: site.value for name, site in _sites(source).items()}


def format_number(value: Number) -> str:
    """A number as a person writes it in a log line and in the source (``0.04``, ``3e-05``, ``512``)."""
    if isinstance(value, bool):
        raise TypeError("not a number")
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0.0"
    text = repr(float(value))
    if "e" in text or "." in text:
        return text
    return text + ".0"


def _literal(value: Number, pow2: bool) -> str:
    if pow2 and isinstance(value, int) and value > 0 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    return format_number(value)


def set_constants(source: str, values: Mapping[str, Number]) -> str:
    """``source`` with the given constants rewritten in place (the rest of each line kept).

    Raises :class:`SpaceError` for a name the source does not assign.
    """
    sites = _sites(source)
    missing = [n for n in values if n not in sites]
    if missing:
        raise SpaceError(f"train.py has no constant {', '.join(missing)}")
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def pos(lineno: int, col: int) -> int:
        # ast columns are UTF-8 byte offsets
        line = lines[lineno - 1]
        return offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    edits: list[tuple[int, int, str]] = []
    for name, value in values.items():
        site = sites[name]
        node = site.node
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = pos(node.lineno, node.col_offset)
        end = pos(node.end_lineno, node.end_col_offset)
        edits.append((start, end, _literal(value, site.pow2)))
    out = source
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    return out


# --- the search space --------------------------------------------------------------


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _check_param(inst: Param, _attr: attrs.Attribute[Any], _value: Any) -> None:
    if not inst.low < inst.high:
        raise SpaceError(f"{inst.name}: low {inst.low} must be below high {inst.high}")
    if inst.scale in ("log", "pow2") and inst.low <= 0:
        raise SpaceError(f"{inst.name}: a {inst.scale} scale needs low > 0 (got {inst.low})")
    if inst.scale == "pow2" and inst.kind != "int":
        raise SpaceError(f"{inst.name}: a pow2 scale is for whole numbers")


@attrs.frozen
class Param:
    """One searchable constant: its bounds (inclusive) and how it is scaled.

    ``pow2``: powers of two between the bounds. ``digits``: significant digits
    proposed float values are rounded to.
    """

    name: str
    kind: Kind = attrs.field(validator=attrs.validators.in_(("int", "float")))
    low: float
    high: float = attrs.field(validator=_check_param)
    scale: Scale = attrs.field(
        default="linear", validator=attrs.validators.in_(("linear", "log", "pow2"))
    )
    digits: int = 3

    def contains(self, value: Number) -> bool:
        if not self.low <= value <= self.high:
            return False
        if self.kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            return False
        return not (self.scale == "pow2" and not _is_power_of_two(int(value)))

    def snap(self, value: float) -> Number:
        """``value`` made a valid value of this constant (rounded, clipped to the bounds)."""
        if self.scale == "pow2":
            exps = self.exponents()
            k = min(max(round(math.log2(max(value, 1e-300))), exps[0]), exps[-1])
            return int(2**k)
        if self.kind == "int":
            return int(min(max(round(value), math.ceil(self.low)), math.floor(self.high)))
        return float(min(max(round_sig(value, self.digits), self.low), self.high))

    def exponents(self) -> tuple[int, int]:
        lo = math.ceil(math.log2(self.low) - 1e-9)
        hi = math.floor(math.log2(self.high) + 1e-9)
        if lo > hi:
            raise SpaceError(f"{self.name}: no power of two between {self.low} and {self.high}")
        return lo, hi

    def describe(self) -> str:
        return f"{self.name} in [{format_number(self.low)}, {format_number(self.high)}] ({self.kind}, {self.scale})"


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


#: Constants searched when a study names none (those that are hyperparameters, optimiser
#: and schedule settings; model size and batch constants are searched only when named).
DEFAULT_PARAMS: tuple[str, ...] = (
    "MATRIX_LR",
    "EMBEDDING_LR",
    "UNEMBEDDING_LR",
    "SCALAR_LR",
    "WEIGHT_DECAY",
    "ADAM_BETAS[0]",
    "ADAM_BETAS[1]",
    "MUON_MOMENTUM",
    "WARMUP_RATIO",
    "WARMDOWN_RATIO",
    "FINAL_LR_FRAC",
)


def _rule(name: str, value: Number) -> Param | None:
    """The default bounds of a known constant with baseline ``value``; None for an unknown one."""
    v = value
    if name.endswith("_LR") and v > 0:
        return Param(name, "float", round_sig(v / 4), round_sig(v * 4), "log")
    if name == "WEIGHT_DECAY":
        return Param(name, "float", 0.0, max(round_sig(2 * v), 0.1), "linear")
    if name == "WARMUP_RATIO":
        return Param(name, "float", 0.0, 0.3, "linear")
    if name in ("WARMDOWN_RATIO", "COOLDOWN_RATIO"):
        return Param(name, "float", 0.0, 0.9, "linear")
    if name == "FINAL_LR_FRAC":
        return Param(name, "float", 0.0, 0.3, "linear")
    if name == "MUON_MOMENTUM":
        return Param(name, "float", 0.8, 0.99, "linear")
    if name == "ADAM_BETAS[0]":
        return Param(name, "float", 0.6, 0.95, "linear")
    if name == "ADAM_BETAS[1]":
        return Param(name, "float", 0.85, 0.999, "linear")
    if isinstance(v, int) and v > 0:
        if name == "DEPTH":
            return Param(name, "int", max(1, v // 2), max(2 * v, v + 1), "linear")
        if name in ("ASPECT_RATIO", "HEAD_DIM") and _is_power_of_two(v):
            return Param(name, "int", max(1, v // 4), v * 2, "pow2")
        if name == "TOTAL_BATCH_SIZE" and _is_power_of_two(v):
            return Param(name, "int", max(1, v // 4), v * 2, "pow2")
        if name == "DEVICE_BATCH_SIZE" and _is_power_of_two(v):
            return Param(name, "int", max(1, v // 4), v, "pow2")
    return None


def default_param(name: str, value: Number) -> Param | None:
    """The default bounds of constant ``name`` whose value in the baseline is ``value``."""
    return _rule(name, value)


@attrs.frozen
class SearchSpace:
    """The constants a search agent may change, in a fixed order."""

    params: tuple[Param, ...]

    def __attrs_post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise SpaceError("a constant appears twice in the search space")
        if not names:
            raise SpaceError("the search space is empty")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def values(self, source: str) -> dict[str, Number]:
        """The current value of each searched constant in ``source``."""
        constants = read_constants(source)
        missing = [n for n in self.names if n not in constants]
        if missing:
            raise SpaceError(f"train.py no longer defines {', '.join(missing)}")
        return {n: constants[n] for n in self.names}

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.params)


def build_space(
    source: str,
    params: Iterable[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> SearchSpace:
    """The search space for ``source`` (the baseline ``train.py``).

    ``params``: the constants to search (default: those of
    :data:`DEFAULT_PARAMS` the source defines). ``overrides``: per constant, any
    of ``low``, ``high``, ``scale``, ``kind``, ``digits`` (a constant with no
    default rule needs at least ``low`` and ``high``).
    """
    constants = read_constants(source)
    overrides = dict(overrides or {})
    names = list(params) or [n for n in DEFAULT_PARAMS if n in constants]
    names += [n for n in overrides if n not in names]
    out: list[Param] = []
    for name in names:
        if not _NAME.match(name):
            raise SpaceError(
                f"{name!r} is not a constant name (UPPER_CASE, or NAME[i] for a tuple element)"
            )
        if name not in constants:
            raise SpaceError(f"train.py has no numeric constant {name}")
        value = constants[name]
        base = _rule(name, value)
        given = dict(overrides.get(name, {}))
        unknown = set(given) - {"low", "high", "scale", "kind", "digits"}
        if unknown:
            raise SpaceError(
                f"{name}: unknown space keys {sorted(unknown)} (low, high, scale, kind, digits)"
            )
        if base is None and not {"low", "high"} <= set(given):
            raise SpaceError(f"{name} has no default bounds: give low and high for it")
        kind = given.get(
            "kind", base.kind if base else ("int" if isinstance(value, int) else "float")
        )
        fields: dict[str, Any] = {
            "low": base.low if base else None,
            "high": base.high if base else None,
            "scale": base.scale if base else "linear",
            "digits": base.digits if base else 3,
        }
        fields.update({k: v for k, v in given.items() if k != "kind"})
        try:
            param = Param(
                name,
                kind,
                float(fields["low"]),
                float(fields["high"]),
                fields["scale"],
                int(fields["digits"]),
            )
        except (TypeError, ValueError) as exc:
            raise SpaceError(f"{name}: {exc}") from None
        out.append(param)
    if not out:
        raise SpaceError(
            "no constant to search: train.py defines none of "
            + ", ".join(DEFAULT_PARAMS)
            + " (name them with the agent's params option)"
        )
    return SearchSpace(tuple(out))


def describe_change(old: Mapping[str, Number], new: Mapping[str, Number]) -> str:
    """``"MATRIX_LR 0.04 -> 0.05, DEPTH 4 -> 6"``: the constants that differ, in ``new``'s order."""
    parts = [
        f"{name} {format_number(old[name])} -> {format_number(value)}"
        for name, value in new.items()
        if old.get(name) != value
    ]
    return ", ".join(parts)
