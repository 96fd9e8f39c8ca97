"""Declared options of the external agents: one table drives validation and ``hpdream-run agents``.

Each adapter lists its options as :class:`Option` values (name, type,
default, help). A study file's table for the agent is checked against that
list: an unknown option or a value of the wrong type is an error naming the
agent, the option and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from hpdream_core import HpdreamError

OptionType = Literal["str", "int", "float", "bool", "list", "table", "object"]


class AgentConfigError(HpdreamError, ValueError):
    """An external agent is configured wrongly (unknown option, bad value, missing key)."""


@attrs.frozen
class Option:
    """One option of an adapter."""

    name: str
    type: OptionType
    default: Any
    help: str
    #: allowed values, when the option is a choice
    choices: tuple[str, ...] = ()
    #: numbers must be >= this
    minimum: float | None = None

    def describe_default(self) -> str:
        if self.default is None:
            return "-"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, tuple | list):
            return ", ".join(map(str, self.default)) or "(none)"
        if isinstance(self.default, Mapping):
            return ", ".join(f"{k}={v}" for k, v in self.default.items()) or "(none)"
        return str(self.default)


def _check(agent: str, opt: Option, value: Any) -> Any:
    where = f"agent {agent!r}, option {opt.name!r}"
    if value is None:
        return None
    t = opt.type
    if t == "str":
        if not isinstance(value, str):
            raise AgentConfigError(f"{where}: expected a string, got {value!r}")
        if opt.choices and value not in opt.choices:
            raise AgentConfigError(f"{where}: {value!r} is not one of {list(opt.choices)}")
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise AgentConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if t in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AgentConfigError(f"{where}: expected a number, got {value!r}")
        if t == "int" and not isinstance(value, int):
            if not float(value).is_integer():
                raise AgentConfigError(f"{where}: expected a whole number, got {value!r}")
            value = int(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise AgentConfigError(f"{where}: expected a finite number, got {value!r}")
        if opt.minimum is not None and value < opt.minimum:
            raise AgentConfigError(f"{where}: must be >= {opt.minimum:g}, got {value!r}")
        return float(value) if t == "float" else value
    if t == "list":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise AgentConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if t == "table":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
        ):
            raise AgentConfigError(f"{where}: expected a table of strings, got {value!r}")
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    if t == "object":
        if not isinstance(value, Mapping):
            raise AgentConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    raise AgentConfigError(f"{where}: unknown option type {t!r}")  # a bug in an adapter's table


def parse_options(
    agent: str, options: Iterable[Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """``given`` checked against ``options``, with defaults filled in."""
    table = {o.name: o for o in options}
    unknown = sorted(set(given) - set(table))
    if unknown:
        raise AgentConfigError(
            f"agent {agent!r}: unknown options {unknown} (known: {sorted(table)})"
        )
    out: dict[str, Any] = {}
    for name, opt in table.items():
        value = given.get(name, opt.default)
        out[name] = _check(agent, opt, value) if name in given else opt.default
    return out
