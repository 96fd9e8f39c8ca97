"""Agents: the interface the study harness drives, the registry, and the built-in agents.

See :mod:`hpdream_runner.agents._protocol` for the two modes (stepwise and
autonomous) and :mod:`hpdream_runner.agents._registry` for registration by
name. The coding-agent CLIs live in :mod:`hpdream_runner.agents.cli`, the
HTTP-API agents in :mod:`hpdream_runner.agents.http`.
"""

from hpdream_runner.agents._builtin import (
    CoordinateSearch,
    RandomSearch,
    Replay,
    ReplayStep,
    TpeSearch,
    replay_from_files,
    replay_from_study,
)
from hpdream_runner.agents._protocol import (
    MODES,
    Agent,
    AgentSession,
    Attempt,
    AutonomousAgent,
    ExperimentOutcome,
    Mode,
    Proposal,
    RunContext,
    RunEnd,
    StepContext,
    StepReport,
    StepwiseAgent,
    Stop,
)
from hpdream_runner.agents._registry import (
    AgentSetup,
    AgentSpec,
    UnknownAgentError,
    agent_specs,
    create_agent,
    get_agent,
    register_agent,
    unregister_agent,
)
from hpdream_runner.agents._space import (
    DEFAULT_PARAMS,
    Param,
    SearchSpace,
    SpaceError,
    build_space,
    describe_change,
    format_number,
    read_constants,
    set_constants,
)
from hpdream_runner.agents.transcript import Usage

__all__ = [
    "DEFAULT_PARAMS",
    "MODES",
    "Agent",
    "AgentSession",
    "AgentSetup",
    "AgentSpec",
    "Attempt",
    "AutonomousAgent",
    "CoordinateSearch",
    "ExperimentOutcome",
    "Mode",
    "Param",
    "Proposal",
    "RandomSearch",
    "Replay",
    "ReplayStep",
    "RunContext",
    "RunEnd",
    "SearchSpace",
    "SpaceError",
    "StepContext",
    "StepReport",
    "StepwiseAgent",
    "Stop",
    "TpeSearch",
    "UnknownAgentError",
    "Usage",
    "agent_specs",
    "build_space",
    "create_agent",
    "describe_change",
    "format_number",
    "get_agent",
    "read_constants",
    "register_agent",
    "replay_from_files",
    "replay_from_study",
    "set_constants",
    "unregister_agent",
]
