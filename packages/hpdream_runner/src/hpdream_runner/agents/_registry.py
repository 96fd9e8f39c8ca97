"""Agents registered by name, so that a study file (and a log) can name and re-create them.

An adapter is an :class:`AgentSpec`: its name, its mode, its declared
options and a factory ``factory(setup) -> agent``. The factory gets an
:class:`AgentSetup` (the label, the validated options, the limits table, the
seed, the run, the folders) and returns a
:class:`~hpdream_runner.agents.StepwiseAgent` or
:class:`~hpdream_runner.agents.AutonomousAgent`; one agent object serves one
run.

Where specs come from, in order: the provider modules of hpdream itself
(each exposes ``agent_specs() -> Iterable[AgentSpec]``: the built-in search
agents, the coding-agent CLIs, the HTTP-API agents), the ``hpdream.agents``
entry-point group of installed packages (each entry point loads to an
:class:`AgentSpec` or a callable returning specs), and
:func:`register_agent` calls.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.agents._protocol import MODES, Agent, Mode
from hpdream_runner.agents.options import Option, parse_options

#: Modules of hpdream that provide agents (a module not present is skipped).
PROVIDER_MODULES: tuple[str, ...] = (
    "hpdream_runner.agents._builtin",
    "hpdream_runner.agents.cli",
    "hpdream_runner.agents.http",
)
ENTRY_POINT_GROUP = "hpdream.agents"


class UnknownAgentError(HpdreamError, KeyError):
    """No agent adapter is registered under this name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown agent adapter {self.name!r} (known: {', '.join(self.known) or 'none'})"


@attrs.frozen
class AgentSetup:
    """What a factory gets to build an agent for one run.

    ``options``: the study file's options for the agent, checked against the
    spec's declared options, defaults filled in. ``limits``: the agent's
    ``limits`` table, unvalidated (adapters that have limits check it).
    ``seed``: the seed of this (study, label, run). ``base_dir``: the folder
    that relative paths in options are resolved against (the study file's).
    ``study_dir``: the study's output folder.
    """

    label: str
    adapter: str
    options: Mapping[str, Any]
    limits: Mapping[str, Any] = attrs.field(factory=dict)
    seed: int = 0
    run: int = 0
    base_dir: Path = attrs.field(factory=Path.cwd)
    study_dir: Path | None = None
    study: str = ""

    def resolve(self, path: str | Path) -> Path:
        """``path`` relative to :attr:`base_dir` (absolute paths are kept)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


@attrs.frozen
class AgentSpec:
    """A registered agent adapter."""

    name: str
    mode: Mode = attrs.field(validator=attrs.validators.in_(MODES))
    factory: Callable[[AgentSetup], Agent]
    summary: str
    options: tuple[Option, ...] = ()
    #: whether the adapter needs the network (an API or a logged-in CLI)
    needs_network: bool = False
    #: ``() -> list of problems``: why it cannot run on this machine (empty: usable)
    check: Callable[[], list[str]] | None = None

    def parse_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` checked against the declared options, defaults filled in."""
        return parse_options(self.name, self.options, given)

    def problems(self) -> list[str]:
        return [] if self.check is None else list(self.check())

    def create(self, setup: AgentSetup) -> Agent:
        agent = self.factory(setup)
        mode = getattr(agent, "mode", None)
        if mode != self.mode:
            raise HpdreamError(
                f"agent adapter {self.name!r} made an agent of mode {mode!r}, "
                f"but is registered as {self.mode!r}"
            )
        return agent


_lock = threading.Lock()
_registered: dict[str, AgentSpec] = {}
_loaded = False


def _load_providers() -> dict[str, AgentSpec]:
    found: dict[str, AgentSpec] = {}
    for module_name in PROVIDER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        provide = getattr(module, "agent_specs", None)
        if provide is None:
            continue
        for spec in provide():
            found[spec.name] = spec
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        specs = [loaded] if isinstance(loaded, AgentSpec) else list(loaded())
        for spec in specs:
            found[spec.name] = spec
    return found


def _ensure_loaded() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        provided = _load_providers()
        for name, spec in provided.items():
            _registered.setdefault(name, spec)
        _loaded = True


def register_agent(spec: AgentSpec, *, replace: bool = False) -> AgentSpec:
    """Register ``spec`` under its name; a second spec of the same name needs ``replace=True``."""
    _ensure_loaded()
    with _lock:
        if spec.name in _registered and not replace and _registered[spec.name] is not spec:
            raise HpdreamError(f"an agent adapter named {spec.name!r} is already registered")
        _registered[spec.name] = spec
    return spec


def unregister_agent(name: str) -> None:
    """Remove a registration (for tests and plugins that replace an adapter)."""
    _ensure_loaded()
    with _lock:
        _registered.pop(name, None)


def get_agent(name: str) -> AgentSpec:
    """The spec registered as ``name``; :class:`UnknownAgentError` when there is none."""
    _ensure_loaded()
    with _lock:
        spec = _registered.get(name)
        if spec is None:
            raise UnknownAgentError(name, _registered)
        return spec


def agent_specs() -> tuple[AgentSpec, ...]:
    """Every registered adapter, sorted by name."""
    _ensure_loaded()
    with _lock:
        return tuple(sorted(_registered.values(), key=lambda s: s.name))


def create_agent(setup: AgentSetup) -> Agent:
    """The agent of ``setup.adapter`` for one run (``setup.options`` are validated first)."""
    spec = get_agent(setup.adapter)
    options = spec.parse_options(setup.options)
    return spec.create(attrs.evolve(setup, options=options))
