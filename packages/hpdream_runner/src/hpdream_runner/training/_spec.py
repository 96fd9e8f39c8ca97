"""What the parent tells the training subprocess (``run_spec.json``), and the summary format.

Both are plain JSON with a format version. The spec is written next to the
results, so every result sits beside the resolved configuration that made it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.training._presets import Preset

#: Version of run_spec.json and summary.json.
FORMAT_VERSION: Final = 1

#: Environment variable holding the path of the run spec, read by ``harness.start``.
SPEC_ENV: Final = "HPDREAM_RUN_SPEC"

#: The failure kinds, the prefix of ``TrainResult.error``.
FAILURE_KINDS: Final = ("timeout", "nan", "oom", "exception")

#: The lines of the printed summary, in autoresearch's order: (label, summary key, format).
SUMMARY_LINES: Final = (
    ("val_bpb", "val_bpb", "{:.6f}"),
    ("training_seconds", "training_seconds", "{:.1f}"),
    ("total_seconds", "total_seconds", "{:.1f}"),
    ("peak_vram_mb", "peak_vram_mb", "{:.1f}"),
    ("mfu_percent", "mfu_percent", "{:.2f}"),
    ("total_tokens_M", "total_tokens_M", "{:.1f}"),
    ("num_steps", "num_steps", "{}"),
    ("num_params_M", "num_params_M", "{:.1f}"),
    ("depth", "depth", "{}"),
)


class SpecError(HpdreamError):
    """run_spec.json is missing or unreadable."""


@attrs.frozen
class RunSpec:
    """Everything the training subprocess needs to know, resolved by the parent."""

    train_py: str
    preset: Preset
    overrides: Mapping[str, str]
    dataset: str
    data_dir: str | None
    data_root: str
    vocab_size: int
    device: str | None
    out_dir: str
    summary_path: str
    launched_at: float  # time.time() when the parent started the subprocess
    manage_gc: bool = True  # freeze and disable the garbage collector after the first step

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=False)
        data["preset"] = self.preset.to_dict()
        data["overrides"] = dict(self.overrides)
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        fields = {k: v for k, v in data.items() if k != "format_version"}
        preset = dict(fields.pop("preset"))
        preset["constants"] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in preset["constants"].items()
        }
        return cls(preset=Preset(**preset), **fields)

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunSpec:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot read the run spec {path}: {exc}") from exc
        if data.get("format_version") != FORMAT_VERSION:
            raise SpecError(
                f"{path}: run spec format {data.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        try:
            return cls.from_dict(data)
        except (TypeError, KeyError, ValueError, HpdreamError) as exc:
            raise SpecError(f"{path}: malformed run spec: {exc}") from exc


def failure_summary(
    spec: RunSpec, error: str, *, num_steps: int | None, with_grace: bool = False
) -> dict[str, Any]:
    """The summary of a run that ended without the harness writing one: why, and what ran."""
    p = spec.preset
    summary: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "ok": False,
        "error": error,
        "val_bpb": None,
        "training_seconds": None,
        "num_steps": num_steps,
        "preset": p.name,
        "budget_s": p.budget_s,
    }
    if with_grace:
        summary["grace_s"] = p.grace_s
    summary.update(dataset=spec.dataset, train_py=spec.train_py, overrides=dict(spec.overrides))
    return summary


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_finite(data), f, indent=2, allow_nan=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(value: Any) -> Any:
    """Non-finite floats become None, so the file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary block autoresearch prints (``---`` then ``key: value`` lines)."""
    lines = ["---"]
    for label, key, fmt in SUMMARY_LINES:
        value = summary.get(key)
        if value is None:
            value = 0.0 if fmt != "{}" else 0
        lines.append(f"{label + ':':<18}{fmt.format(value)}")
    return "\n".join(lines)
