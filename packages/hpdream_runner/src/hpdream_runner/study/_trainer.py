"""Trainers: what turns a train.py into a val_bpb, injectable into the orchestrator.

A trainer is any callable with the signature of
``hpdream_runner.training.run_training``::

    trainer(train_py: Path, *, out_dir: Path, preset, dataset, data_dir, vocab_size,
            budget_s, device, overrides, grace_s) -> result

whose result has the attributes of ``TrainResult`` (``ok``, ``val_bpb``,
``training_seconds``, ``total_seconds``, ``peak_vram_mb``, ``num_params_m``,
``num_steps``, ``error``, ``summary``, ``output_path``, ``summary_path``) and
which reports ordinary failures (exceptions, OOM, NaN, time-outs) in the
result rather than raising.

:class:`SyntheticTrainer` does not train: it computes val_bpb from the
constants of train.py on a fixed, smooth landscape (with divergence and
out-of-memory regions that crash, as real runs do). It lets the whole
pipeline — workspaces, agents, the log, resume, the report — run in well
under a second per experiment, for tests, demos and for measuring the
harness's own overhead. Rows it produces are labelled as such in each run's
metadata (``trainer = "synthetic"``); they are not results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import attrs

from hpdream_runner.agents._space import SpaceError, read_constants
from hpdream_runner.training._runner import TrainResult


class TrainOutcome(Protocol):
    """What the orchestrator reads from a trainer's result."""

    ok: bool
    val_bpb: float | None
    training_seconds: float | None
    total_seconds: float | None
    peak_vram_mb: float | None
    num_params_m: float | None
    num_steps: int | None
    error: str | None
    summary: dict[str, Any]
    output_path: Path | None
    summary_path: Path | None


Trainer = Callable[..., TrainOutcome]


def real_trainer() -> Trainer:
    """``hpdream_runner.training.run_training`` (imported on first use: it brings torch in its child)."""
    from hpdream_runner.training import run_training

    return cast(Trainer, run_training)


#: The synthetic trainer returns the real trainer's record (importing it loads no torch).
SyntheticResult = TrainResult


#: Where the synthetic landscape has its optimum, per constant, relative to the baseline value
#: (a factor for log-scaled constants) or absolute (for ratios); and how much a miss costs.
_LOG_OPTIMA: Mapping[str, tuple[float, float]] = {
    "MATRIX_LR": (1.6, 0.030),
    "EMBEDDING_LR": (0.7, 0.012),
    "UNEMBEDDING_LR": (2.0, 0.015),
    "SCALAR_LR": (1.0, 0.006),
    "TOTAL_BATCH_SIZE": (0.5, 0.020),
    "ASPECT_RATIO": (1.0, 0.020),
}
_LINEAR_OPTIMA: Mapping[str, tuple[float, float]] = {
    "WEIGHT_DECAY": (0.1, 0.20),
    "WARMUP_RATIO": (0.05, 0.30),
    "WARMDOWN_RATIO": (0.6, 0.15),
    "FINAL_LR_FRAC": (0.05, 0.20),
    "ADAM_BETAS[0]": (0.85, 0.50),
    "ADAM_BETAS[1]": (0.97, 0.80),
    "MUON_MOMENTUM": (0.95, 0.60),
}


@attrs.frozen
class SyntheticTrainer:
    """A trainer that computes val_bpb from train.py's constants (see the module docstring).

    ``baseline``: the baseline train.py, whose constants anchor the landscape.
    The landscape: ``floor`` plus, per known constant, a quadratic penalty of
    its distance to the optimum (in log space for learning rates and sizes),
    plus a small deterministic noise of the whole file (so that two different
    files never tie exactly). Crashes: a learning rate above 12 times its
    baseline diverges (NaN); a model wider or deeper than 4 times the
    baseline's runs out of memory; a train.py that does not parse fails.
    ``seconds``: simulated training time; ``None`` uses the call's
    ``budget_s`` (the study's ``training.budget_s``), or 0 when absent.
    """

    baseline: str
    floor: float = 1.50
    noise: float = 0.002
    seconds: float | None = None
    sleep: Callable[[float], None] = time.sleep

    def val_bpb(self, source: str) -> tuple[float | None, str | None]:
        """(val_bpb, None) or (None, error) for a train.py source."""
        try:
            base = read_constants(self.baseline)
            now = read_constants(source)
            compile(source, "train.py", "exec")
        except (SpaceError, SyntaxError, ValueError) as exc:
            return None, f"SyntaxError: {exc}"
        for name, value in now.items():
            b = base.get(name)
            if name.endswith("_LR") and b and value > 12 * b:
                return None, f"NaN loss at step 7 ({name} = {value} diverged)"
            if (
                name.endswith(("_LR", "_BATCH_SIZE", "DEPTH", "ASPECT_RATIO", "HEAD_DIM"))
                and value <= 0
            ):
                return None, f"ValueError: {name} must be positive, got {value}"
        width = now.get("DEPTH", 1) * now.get("ASPECT_RATIO", 1)
        base_width = base.get("DEPTH", 1) * base.get("ASPECT_RATIO", 1)
        if width > 4 * base_width or now.get("DEPTH", 1) > 4 * base.get("DEPTH", 1):
            return None, "OutOfMemoryError: CUDA out of memory (synthetic)"
        loss = self.floor
        for name, (factor, weight) in _LOG_OPTIMA.items():
            if name in now and name in base and now[name] > 0 and base[name] > 0:
                loss += weight * math.log2(now[name] / (base[name] * factor)) ** 2
        for name, (optimum, weight) in _LINEAR_OPTIMA.items():
            if name in now:
                loss += weight * (now[name] - optimum) ** 2
        if "DEPTH" in now and "DEPTH" in base:
            loss += 0.01 * (now["DEPTH"] - base["DEPTH"] - 1) ** 2
        digest = hashlib.sha256(source.encode("utf-8")).digest()
        loss += self.noise * (int.from_bytes(digest[:4], "big") / 2**32 - 0.5)
        return round(loss, 6), None

    def __call__(
        self, train_py: Path, *, out_dir: Path, budget_s: float | None = None, **_: Any
    ) -> SyntheticResult:
        started = time.monotonic()
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        source = Path(train_py).read_text(encoding="utf-8")
        seconds = self.seconds if self.seconds is not None else (budget_s or 0.0)
        if seconds > 0:
            self.sleep(seconds)
        val, error = self.val_bpb(source)
        constants: dict[str, float] = {}
        with contextlib.suppress(SpaceError):
            constants = read_constants(source)
        depth = constants.get("DEPTH", 1)
        params = 12 * depth * (depth * constants.get("ASPECT_RATIO", 64)) ** 2 / 1e6
        output = out_dir / "output.log"
        lines = ["synthetic trainer: val_bpb computed from train.py's constants, nothing trained"]
        lines.append(f"val_bpb: {val:.6f}" if val is not None else f"error: {error}")
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")
        total = time.monotonic() - started
        summary = {
            "trainer": "synthetic",
            "ok": error is None,
            "val_bpb": val,
            "error": error,
            "training_seconds": seconds,
            "total_seconds": total,
        }
        summary_path = out_dir / "summary.json"
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return SyntheticResult(
            ok=error is None,
            val_bpb=val,
            training_seconds=seconds if error is None else None,
            total_seconds=total,
            peak_vram_mb=None if error else round(params * 40, 1),
            num_params_m=round(params, 3),
            num_steps=None if error else max(1, int(seconds * 10)),
            error=error,
            summary=summary,
            output_path=output,
            summary_path=summary_path,
        )
