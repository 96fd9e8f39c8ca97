"""Metadata written beside the results: versions, hardware, and the protocol text.

Run metadata (``run.json``) is rewritten atomically after every experiment,
so that it always says how far the run got.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import string
import subprocess
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

from hpdream_core import HpdreamError

#: Version of ``run.json`` and ``experiment.json``.
META_FORMAT_VERSION: Final = 1

_PACKAGES = (
    "hpdream-core",
    "hpdream-analysis",
    "hpdream-runner",
    "torch",
    "numpy",
    "optuna",
    "polars",
)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (a temporary file, then rename), so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)


def versions() -> dict[str, str | None]:
    """Python, the hpdream packages, the main libraries, and git."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    git = shutil.which("git")
    if git:
        try:
            text = subprocess.run(
                [git, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            out["git"] = text.strip().removeprefix("git version ")
        except (OSError, subprocess.TimeoutExpired):
            out["git"] = None
    return out


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs as nvidia-smi lists them (no torch import in the harness process)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        proc = subprocess.run(
            [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in proc.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "memory": parts[1], "driver": parts[2]})
    return gpus


def hardware() -> dict[str, Any]:
    """The machine: OS, CPU, memory, GPUs."""
    memory = _memory_bytes()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "memory_gb": None if memory is None else round(memory / 2**30, 1),
        "gpus": _gpus(),
        "hostname": platform.node(),
        "python_executable": sys.executable,
    }


def preset_info(name: str) -> dict[str, Any] | None:
    """The preset's settings, when the training package knows it (None otherwise)."""
    try:
        from hpdream_runner.training import get_preset
    except ImportError:
        return None
    try:
        preset = get_preset(name)
    except HpdreamError:  # an unknown preset is reported by the trainer, per experiment
        return None
    to_dict = getattr(preset, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else None


def program_template() -> string.Template:
    text = (
        resources.files("hpdream_runner.study").joinpath("program.md").read_text(encoding="utf-8")
    )
    return string.Template(text)


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.3g} hours"
    if value >= 120:
        return f"{value / 60:.3g} minutes"
    return f"{value:.3g} seconds"


def render_program(
    *,
    study: str,
    label: str,
    run: int,
    budget_s: float | None,
    grace_s: float | None,
    device: str | None,
    run_command: str,
    min_improvement: str,
    experiments: int | None,
    hours: float | None,
) -> str:
    """The protocol (``program.md``) of one workspace."""
    limits = []
    if experiments is not None:
        limits.append(
            f"- at most **{experiments} experiments** in this run (the baseline included);"
        )
    if hours is not None:
        limits.append(f"- at most **{_seconds(hours * 3600)}** of wall-clock time for the run;")
    limits.append("- whichever comes first ends the run: `run_experiment` then says so.")
    budget = _seconds(budget_s) if budget_s else "the preset's budget"
    timeout = (
        _seconds(budget_s + grace_s)
        if budget_s and grace_s is not None
        else "the harness's time-out"
    )
    cycle = _seconds(budget_s * 1.3 + 20) if budget_s else "a few minutes"
    return program_template().substitute(
        study=study,
        label=label,
        run=run,
        budget=budget,
        timeout=timeout,
        device=device or "the best device this machine has",
        run_command=run_command,
        eps=min_improvement,
        cycle=cycle,
        limits="\n".join(limits),
    )
