"""Helpers for the study and built-in agent tests: a small train.py, fake trainers, study files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from hpdream_runner.agents import read_constants
from hpdream_runner.study import (
    AgentConfig,
    KeepRule,
    StudyConfig,
    SyntheticResult,
    SyntheticTrainer,
    TrainingConfig,
    TrainPyGuard,
)

#: A train.py with the constants the built-in agents search (the synthetic trainer reads them).
MINI_TRAIN_PY = textwrap.dedent(
    '''\
    """A stand-in train.py: only its constants matter to the fake trainers."""

    DEPTH = 2  # number of blocks
    ASPECT_RATIO = 64
    TOTAL_BATCH_SIZE = 2**12  # tokens per step
    MATRIX_LR = 0.04  # Muon
    EMBEDDING_LR = 0.6
    UNEMBEDDING_LR = 0.004
    WEIGHT_DECAY = 0.2
    ADAM_BETAS = (0.8, 0.95)
    WARMDOWN_RATIO = 0.5

    print("training would start here")
    '''
)


def no_guard(_context: Any) -> TrainPyGuard:
    """A guard that checks nothing (MINI_TRAIN_PY does not use the real harness)."""
    return TrainPyGuard(None)


@attrs.define
class FakeTrainer:
    """Computes val_bpb like the synthetic trainer; fails on demand.

    ``failures`` maps a marker text to an error: a train.py containing the
    marker "fails" with that error (like run_training reports exceptions,
    NaNs, OOMs and time-outs). ``calls`` records each train.py trained.
    """

    baseline: str
    failures: Mapping[str, str] = attrs.field(factory=dict)
    calls: list[str] = attrs.field(factory=list)
    on_call: Callable[[int], None] | None = None

    def __call__(self, train_py: Path, *, out_dir: Path, **kwargs: Any) -> SyntheticResult:
        source = Path(train_py).read_text(encoding="utf-8")
        self.calls.append(source)
        if self.on_call is not None:
            self.on_call(len(self.calls))
        for marker, error in self.failures.items():
            if marker in source:
                out = Path(out_dir) / "output.log"
                out.write_text(f"step 1\n{error}\n", encoding="utf-8")
                return SyntheticResult(
                    ok=False,
                    val_bpb=None,
                    training_seconds=None,
                    total_seconds=0.1,
                    peak_vram_mb=None,
                    num_params_m=None,
                    num_steps=None,
                    error=error,
                    summary={"ok": False, "error": error},
                    output_path=out,
                    summary_path=None,
                )
        return SyntheticTrainer(self.baseline)(train_py, out_dir=out_dir, **kwargs)


def constants_of(source: str) -> dict[str, Any]:
    return dict(read_constants(source))


def make_config(
    tmp_path: Path,
    agents: list[AgentConfig],
    *,
    name: str = "test-study",
    experiments: int | None = 5,
    train_py: str = MINI_TRAIN_PY,
    keep: KeepRule | None = None,
    seed: int = 0,
) -> StudyConfig:
    """A StudyConfig writing to tmp_path/out with MINI_TRAIN_PY as its baseline."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "baseline_train.py"
    path.write_text(train_py, encoding="utf-8")
    fixed = [attrs.evolve(a, experiments=a.experiments or experiments) for a in agents]
    return StudyConfig(
        name=name,
        output=tmp_path / "out",
        agents=tuple(fixed),
        training=TrainingConfig(train_py=path, trainer="synthetic"),
        keep=keep or KeepRule(),
        seed=seed,
        base_dir=tmp_path,
    )


def write_study_toml(tmp_path: Path, body: str, *, train_py: str | None = None) -> Path:
    """A study file in tmp_path (with train.py beside it when given)."""
    if train_py is not None:
        (tmp_path / "train.py").write_text(train_py, encoding="utf-8")
    path = tmp_path / "study.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path
