"""Presets: the model size and the harness settings of a training run, by name.

A preset has two halves. The harness half (budget, grace, sequence length,
vocabulary, evaluation tokens, uncounted warm-up steps) is fixed by the
harness for every run and cannot be changed from ``train.py``. The model half
(``constants``) lists the ``train.py`` constants the preset sets; they are
written into the baseline ``train.py`` for that preset
(:func:`baseline_train_py`), every other constant keeps the seed study's
value. Command-line overrides (``--set DEPTH=6``) change constants of the
``train.py`` that is run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.training._constants import ConstantValue


class PresetError(HpdreamError):
    """An unknown preset name, or a preset setting out of range."""


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise PresetError(f"preset {attribute.name} must be a positive number, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise PresetError(f"preset {attribute.name} must be >= 0, got {value!r}")


def _frozen_mapping(value: Mapping[str, ConstantValue]) -> dict[str, ConstantValue]:
    return dict(value)


@attrs.frozen
class Preset:
    """Model size and harness settings of a training run (see the module docstring)."""

    name: str
    description: str
    #: Wall-clock seconds of training (steps after the uncounted warm-up).
    budget_s: float = attrs.field(validator=_positive)
    #: Extra seconds for start-up, compilation and evaluation; the run is killed at budget + grace.
    grace_s: float = attrs.field(validator=_positive)
    #: Context length of training and evaluation (fixed so val_bpb stays comparable).
    seq_len: int = attrs.field(validator=_positive)
    #: Tokenizer vocabulary size the data is prepared with.
    vocab_size: int = attrs.field(validator=_positive)
    #: Validation tokens scored by the evaluation (fewer if the validation split is smaller).
    eval_tokens: int = attrs.field(validator=_positive)
    #: Rows per evaluation forward pass.
    eval_batch_size: int = attrs.field(validator=_positive)
    #: First steps not counted in the budget (compilation, allocator warm-up).
    uncounted_steps: int = attrs.field(validator=_non_negative)
    #: train.py constants this preset sets (the rest keep the seed study's values).
    constants: Mapping[str, ConstantValue] = attrs.field(factory=dict, converter=_frozen_mapping)
    #: A training loss above this ends the run as exploding (autoresearch used 100).
    max_loss: float = attrs.field(default=100.0, validator=_positive)
    #: Seconds between progress lines.
    log_every_s: float = attrs.field(default=5.0, validator=_positive)
    #: Seed of torch's random generators and of the training data order.
    seed: int = 42

    def with_settings(
        self, *, budget_s: float | None = None, grace_s: float | None = None
    ) -> Preset:
        """A copy with another budget and/or grace."""
        return attrs.evolve(
            self,
            budget_s=self.budget_s if budget_s is None else budget_s,
            grace_s=self.grace_s if grace_s is None else grace_s,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the run's JSON files."""
        data = attrs.asdict(self)
        data["constants"] = dict(self.constants)
        return data


PRESETS: Final[Mapping[str, Preset]] = {
    p.name: p
    for p in (
        Preset(
            name="seed",
            description=(
                "the seed study's settings: depth 4, width 256, vocab 8192, sequence 2048, "
                "65,536 tokens per step, 11.5M parameters, 300 s"
            ),
            budget_s=300.0,
            grace_s=180.0,
            seq_len=2048,
            vocab_size=8192,
            eval_tokens=2**23,
            eval_batch_size=16,
            uncounted_steps=10,
            constants={},
        ),
        Preset(
            name="depth8",
            description=(
                "autoresearch's upstream size: depth 8, width 512, 50.3M parameters, "
                "64 x 2048 per device step, 524,288 tokens per step, 300 s"
            ),
            budget_s=300.0,
            grace_s=180.0,
            seq_len=2048,
            vocab_size=8192,
            eval_tokens=2**23,
            eval_batch_size=16,
            uncounted_steps=10,
            constants={"DEPTH": 8, "DEVICE_BATCH_SIZE": 64, "TOTAL_BATCH_SIZE": 2**19},
        ),
        Preset(
            name="cpu-tiny",
            description=(
                "a tiny model for 2 CPU cores: depth 2, width 128, vocab 512, sequence 256, "
                "4,096 tokens per step, 30 s; val_bpb falls clearly within the budget"
            ),
            budget_s=30.0,
            grace_s=60.0,
            seq_len=256,
            vocab_size=512,
            eval_tokens=2**16,
            eval_batch_size=32,
            uncounted_steps=2,
            log_every_s=2.0,
            constants={
                "DEPTH": 2,
                "ASPECT_RATIO": 64,
                "HEAD_DIM": 64,
                "DEVICE_BATCH_SIZE": 16,
                "TOTAL_BATCH_SIZE": 2**12,
            },
        ),
        Preset(
            name="smoke",
            description=(
                "the smallest working run, for tests and pipeline checks: depth 1, width 64, "
                "vocab 512, sequence 64, 3 s"
            ),
            budget_s=3.0,
            grace_s=60.0,
            seq_len=64,
            vocab_size=512,
            eval_tokens=2**12,
            eval_batch_size=16,
            uncounted_steps=1,
            log_every_s=1.0,
            constants={
                "DEPTH": 1,
                "ASPECT_RATIO": 64,
                "HEAD_DIM": 32,
                "DEVICE_BATCH_SIZE": 8,
                "TOTAL_BATCH_SIZE": 2**9,
            },
        ),
    )
}


def get_preset(name: str | Preset) -> Preset:
    """The preset of this name (a :class:`Preset` is returned as it is)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise PresetError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
