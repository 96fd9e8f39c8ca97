"""Studies: study files, workspaces, the experiment loop, progress and resume.

Run a study from Python::

    from hpdream_runner.study import Study, load_study
    result = Study(load_study("examples/quickstart.toml")).run()

or from the shell: ``hpdream-run study run examples/quickstart.toml``.
"""

from hpdream_runner.study._config import (
    CONFIG_FORMAT_VERSION,
    AgentConfig,
    KeepRule,
    StudyConfig,
    StudyConfigError,
    TrainingConfig,
    load_study,
    parse_study,
)
from hpdream_runner.study._layout import Layout
from hpdream_runner.study._meta import render_program
from hpdream_runner.study._orchestrator import (
    Classifier,
    ExperimentRecord,
    GuardContext,
    GuardFactory,
    Interrupted,
    RunGuard,
    RunSummary,
    Study,
    StudyError,
    StudyResult,
    TrainPyGuard,
    baseline_source,
    default_guard,
    recreate_agent,
    study_status,
)
from hpdream_runner.study._progress import (
    LineProgress,
    LiveProgress,
    NullProgress,
    Progress,
    RunView,
    make_progress,
)
from hpdream_runner.study._resume import ResumeError, RunState, log_table, result_message
from hpdream_runner.study._server import ExperimentServer, socket_path_for
from hpdream_runner.study._trainer import (
    SyntheticResult,
    SyntheticTrainer,
    Trainer,
    TrainOutcome,
    real_trainer,
)
from hpdream_runner.study._workspace import Diff, Workspace, WorkspaceError, diff_sources

__all__ = [
    "CONFIG_FORMAT_VERSION",
    "AgentConfig",
    "Classifier",
    "Diff",
    "ExperimentRecord",
    "ExperimentServer",
    "GuardContext",
    "GuardFactory",
    "Interrupted",
    "KeepRule",
    "Layout",
    "LineProgress",
    "LiveProgress",
    "NullProgress",
    "Progress",
    "ResumeError",
    "RunGuard",
    "RunState",
    "RunSummary",
    "RunView",
    "Study",
    "StudyConfig",
    "StudyConfigError",
    "StudyError",
    "StudyResult",
    "SyntheticResult",
    "SyntheticTrainer",
    "TrainOutcome",
    "TrainPyGuard",
    "Trainer",
    "TrainingConfig",
    "Workspace",
    "WorkspaceError",
    "baseline_source",
    "default_guard",
    "diff_sources",
    "load_study",
    "log_table",
    "make_progress",
    "parse_study",
    "real_trainer",
    "recreate_agent",
    "render_program",
    "result_message",
    "socket_path_for",
    "study_status",
]
