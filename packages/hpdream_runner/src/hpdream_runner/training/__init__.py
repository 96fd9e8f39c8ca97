"""The fixed training harness, the baseline train.py, presets and ``run_training``.

``run_training`` runs one ``train.py`` under the harness in a subprocess and
returns a :class:`TrainResult`; ``baseline_train_py`` is the file agents
start from; ``check_train_py`` is the static containment check;
``harness`` is the module train.py itself imports. See docs/training.md.
"""

from hpdream_runner.training._baseline import baseline_train_py, load_definitions
from hpdream_runner.training._check import check_train_py
from hpdream_runner.training._clock import BudgetClock, ClockError
from hpdream_runner.training._constants import (
    OverrideError,
    parse_overrides,
    read_constants,
    render_constants,
)
from hpdream_runner.training._device import DeviceError, resolve_device
from hpdream_runner.training._presets import PRESETS, Preset, PresetError, get_preset
from hpdream_runner.training._runner import TrainResult, run_training
from hpdream_runner.training._spec import FAILURE_KINDS, format_summary

__all__ = [
    "FAILURE_KINDS",
    "PRESETS",
    "BudgetClock",
    "ClockError",
    "DeviceError",
    "OverrideError",
    "Preset",
    "PresetError",
    "TrainResult",
    "baseline_train_py",
    "check_train_py",
    "format_summary",
    "get_preset",
    "load_definitions",
    "parse_overrides",
    "read_constants",
    "render_constants",
    "resolve_device",
    "run_training",
]
