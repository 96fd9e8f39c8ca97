"""The fixed training harness that ``train.py`` calls (agents never edit this file).

``train.py`` uses it in four places::

    from hpdream_runner.training import harness

    run = harness.start(globals())      # overrides, device, seeds, data
    loader = run.train_loader(DEVICE_BATCH_SIZE)
    while run.training():               # False once the budget is spent
        ...                             # forward, backward, optimiser step
        run.step_done(loss)             # times the step; NaN / explosion ends the run
    run.finish(model)                   # evaluation, summary printed and written

The harness owns what makes experiments comparable: the budget clock (see
``_clock``), the data (training order, the fixed validation tokens), the
evaluation (``_evaluate``) and the summary. It refuses to be used out of
order, and a failure it detects (NaN loss, exploding loss, misuse) is raised
as :class:`TrainingFailure` and reported in the summary with its kind.

``start`` reads the run spec named by the ``HPDREAM_RUN_SPEC`` environment
variable, which ``hpdream-run train`` / ``run_training`` set up.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import math
import os
import platform
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Final, TypeVar

import torch

from hpdream_core import HpdreamError
from hpdream_runner.training._clock import BudgetClock, ClockError
from hpdream_runner.training._constants import apply_overrides, plain_constants
from hpdream_runner.training._device import (
    DeviceSetup,
    peak_memory_mb,
    peak_rss_mb,
    setup_device,
    synchronize,
)
from hpdream_runner.training._evaluate import EvaluationError, causal_leak, evaluate_bpb
from hpdream_runner.training._spec import (
    FORMAT_VERSION,
    SPEC_ENV,
    RunSpec,
    format_summary,
    write_json,
)

__all__ = ["Run", "TrainingFailure", "start"]

T = TypeVar("T")

#: Largest logit change tolerated by the causality check (float32; bfloat16 gets the larger one).
CAUSAL_TOLERANCE: Final = {torch.float32: 1e-3, torch.bfloat16: 5e-2, torch.float16: 5e-2}

#: Work allowed between the last training step and ``finish`` (seconds + fraction of budget).
POST_TRAINING_ALLOWANCE: Final = (5.0, 0.05)

#: Loss history kept in the summary: one point per progress line, at most this many.
HISTORY_LIMIT: Final = 400


class TrainingFailure(HpdreamError):
    """A run that cannot produce a valid result; ``kind`` is one of timeout, nan, oom, exception."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


_current: Run | None = None


def current() -> Run | None:
    """The run started in this process, if any."""
    return _current


def start(namespace: MutableMapping[str, Any]) -> Run:
    """Start the run: apply overrides to ``namespace`` (train.py's ``globals()``), set up the rest.

    Prints the resolved constants, the device and its precision, the data.
    """
    global _current
    if _current is not None:
        raise TrainingFailure("exception", "harness.start() was called twice")
    path = os.environ.get(SPEC_ENV)
    if not path:
        raise HpdreamError(
            f"train.py runs inside the hpdream harness: use `hpdream-run train train.py` "
            f"(or set {SPEC_ENV} to a run_spec.json)"
        )
    spec = RunSpec.load(path)
    _current = Run(spec, namespace)
    return _current


class Run:
    """One training run inside the harness (made by :func:`start`)."""

    def __init__(self, spec: RunSpec, namespace: MutableMapping[str, Any]) -> None:
        self._spec = spec
        self._preset = spec.preset
        self._started = time.perf_counter()
        self._started_wall = time.time()
        self._failure: TrainingFailure | None = None
        self._finished = False
        self._overrides = apply_overrides(namespace, spec.overrides)
        self._constants = plain_constants(namespace)

        self._setup: DeviceSetup = setup_device(spec.device)
        device = self._setup.device
        torch.manual_seed(self._preset.seed)
        if device.type == "cuda":
            torch.cuda.manual_seed(self._preset.seed)
            torch.cuda.reset_peak_memory_stats(device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.set_float32_matmul_precision("high")

        from hpdream_runner.data import PackedLoader, open_prepared

        self._PackedLoader = PackedLoader
        self._data = open_prepared(Path(spec.data_root))
        self._token_bytes = torch.as_tensor(self._data.token_bytes(), dtype=torch.int64).to(device)

        self._clock = BudgetClock(
            self._preset.budget_s, self._preset.uncounted_steps, sync=lambda: synchronize(device)
        )
        self._tokens_seen = 0
        self._tokens_at_count_start: int | None = None
        self._tokens_at_last_end = 0
        self._loss_first: float | None = None
        self._loss_smooth = 0.0
        self._loss_ema_steps = 0
        self._history: list[tuple[int, float]] = []
        self._last_log = -math.inf
        self._eval: dict[str, Any] = {}
        self._print_header()

    # -- what train.py reads ----------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device to train on."""
        return self._setup.device

    @property
    def fast_dtype(self) -> torch.dtype:
        """bfloat16 on CUDA (autocast, embeddings), float32 on MPS and CPU."""
        return self._setup.fast_dtype

    @property
    def seq_len(self) -> int:
        """Context length of training and evaluation, fixed by the preset."""
        return self._preset.seq_len

    @property
    def vocab_size(self) -> int:
        """Number of token ids (the tokenizer's vocabulary, special tokens included)."""
        return int(self._data.vocab_size)

    @property
    def bos_id(self) -> int:
        """Id of the token that starts every document."""
        return int(self._data.bos_id)

    @property
    def budget_s(self) -> float:
        """The training budget in seconds."""
        return self._preset.budget_s

    @property
    def progress(self) -> float:
        """Fraction of the budget used so far, 0 to 1 (0 during the uncounted warm-up)."""
        return self._clock.progress

    @property
    def step(self) -> int:
        """Number of steps done so far (the index of the next step)."""
        return self._clock.steps_done

    @property
    def constants(self) -> dict[str, Any]:
        """train.py's constants as the run started (after overrides)."""
        return dict(self._constants)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Mixed precision for forward passes: bfloat16 autocast on CUDA, nothing elsewhere."""
        if self.fast_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.fast_dtype)

    def compile(self, obj: T, **options: Any) -> T:
        """``torch.compile(obj)`` where compiling pays (CUDA); ``obj`` unchanged elsewhere."""
        if not self._setup.compile:
            return obj
        options.setdefault("dynamic", False)
        compiled: T = torch.compile(obj, **options)  # type: ignore[call-overload]
        return compiled

    def train_loader(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless (inputs, targets) batches of shape (batch_size, seq_len) on the device."""
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise TrainingFailure(
                "exception", f"train_loader: batch size must be a positive int, got {batch_size!r}"
            )
        loader = self._PackedLoader(
            self._data,
            "train",
            batch_size,
            self.seq_len,
            device=self.device,
            seed=self._preset.seed,
        )
        return self._counting(iter(loader))

    def _counting(
        self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in batches:
            self._tokens_seen += int(x.numel())
            yield x, y

    # -- the training loop ---------------------------------------------------------------------

    def training(self) -> bool:
        """Begin the next step, or return False once the budget is spent."""
        self._raise_if_failed()
        if self._finished:
            raise self._fail("exception", "run.training() was called after run.finish()")
        try:
            more = self._clock.begin()
        except ClockError as exc:
            raise self._fail("exception", str(exc)) from None
        if more and self._tokens_at_count_start is None and self._clock.count_start is not None:
            self._tokens_at_count_start = self._tokens_seen
        return more

    def step_done(self, loss: torch.Tensor | float) -> None:
        """End the step begun by ``training()``; ``loss`` is its training loss (a scalar)."""
        self._raise_if_failed()
        try:
            value = float(loss)  # waits for the device
        except (TypeError, ValueError, RuntimeError) as exc:
            raise self._fail(
                "exception", f"run.step_done(loss) needs a scalar loss: {exc}"
            ) from None
        try:
            dt = self._clock.end()
        except ClockError as exc:
            raise self._fail("exception", str(exc)) from None
        step = self._clock.steps_done - 1
        self._tokens_at_last_end = self._tokens_seen
        if not math.isfinite(value):
            raise self._fail("nan", f"training loss is {value} at step {step}")
        if value > self._preset.max_loss:
            raise self._fail(
                "nan",
                f"training loss {value:.4g} exceeds {self._preset.max_loss:g} at step {step} (exploding)",
            )
        if self._loss_first is None:
            self._loss_first = value
        beta = 0.9
        self._loss_smooth = beta * self._loss_smooth + (1 - beta) * value
        self._loss_ema_steps += 1
        if step == self._preset.uncounted_steps - 1:
            print(
                f"warm-up: {self._clock.steps_done} uncounted steps took {self._clock.warmup_seconds:.1f} s",
                flush=True,
            )
        if self._spec.manage_gc:
            if step == 0:  # the collector's pauses cost ~0.5 s; the steady state makes no cycles
                gc.collect()
                gc.freeze()
                gc.disable()
            elif (step + 1) % 5000 == 0:
                gc.collect()
        now = time.perf_counter()
        if now - self._last_log >= self._preset.log_every_s or step == 0:
            self._last_log = now
            self._log_progress(step, dt)

    @property
    def smoothed_loss(self) -> float | None:
        """Exponential moving average of the training loss (debiased)."""
        if self._loss_ema_steps == 0:
            return None
        return self._loss_smooth / (1 - 0.9**self._loss_ema_steps)

    def _log_progress(self, step: int, dt: float) -> None:
        loss = self.smoothed_loss
        assert loss is not None
        if len(self._history) < HISTORY_LIMIT:
            self._history.append((step, round(loss, 6)))
        tok_s = self._tokens_per_second()
        rate = f"{tok_s:,.0f} tok/s" if tok_s else "warm-up"
        print(
            f"step {step:05d} ({100 * self.progress:5.1f}%) | loss {loss:.6f} | dt {dt * 1000:.0f} ms "
            f"| {rate} | remaining {self._clock.remaining_seconds:.0f} s",
            flush=True,
        )

    def _tokens_per_second(self) -> float | None:
        seconds = self._clock.training_seconds
        if self._tokens_at_count_start is None or seconds <= 0:
            return None
        return (self._tokens_at_last_end - self._tokens_at_count_start) / seconds

    # -- the end ---------------------------------------------------------------------------------

    def finish(self, model: torch.nn.Module, *, flops_per_token: float | None = None) -> float:
        """Evaluate ``model`` on the validation tokens, print and write the summary; returns val_bpb."""
        self._raise_if_failed()
        if self._finished:
            raise self._fail("exception", "run.finish() was called twice")
        if self._clock.in_step:
            raise self._fail(
                "exception", "run.finish() was called inside a step (before step_done)"
            )
        if self._clock.steps_done == 0:
            raise self._fail(
                "exception",
                "train.py did not train: no step went through run.training() / run.step_done()",
            )
        assert self._clock.last_end is not None
        post = time.perf_counter() - self._clock.last_end
        allowance = POST_TRAINING_ALLOWANCE[0] + POST_TRAINING_ALLOWANCE[1] * self.budget_s
        if post > allowance:
            raise self._fail(
                "exception",
                f"{post:.1f} s of work between the last training step and run.finish() "
                f"(at most {allowance:.1f} s): training must happen inside the budget loop",
            )
        self._finished = True
        module = getattr(model, "_orig_mod", model)  # evaluate eagerly: no second compilation
        if not isinstance(module, torch.nn.Module):
            raise self._fail(
                "exception",
                f"run.finish(model) needs a torch.nn.Module, got {type(model).__name__}",
            )
        module.zero_grad(set_to_none=True)
        module.eval()
        t0 = time.perf_counter()
        try:
            self._eval = self._evaluate(module)
        except EvaluationError as exc:
            self._finished = False
            raise self._fail("exception", str(exc)) from None
        self._eval["eval_seconds"] = time.perf_counter() - t0
        bpb = self._eval["val_bpb"]
        if not math.isfinite(bpb):
            self._finished = False
            raise self._fail("nan", f"val_bpb is {bpb}")
        summary = self.summary(model=module, flops_per_token=flops_per_token)
        print(format_summary(summary), flush=True)
        self._write(summary)
        return float(bpb)

    def _evaluate(self, module: torch.nn.Module) -> dict[str, Any]:
        p = self._preset
        val_tokens = len(self._data.tokens("val"))
        rows = max(1, min(p.eval_batch_size, val_tokens // self.seq_len))
        per_batch = rows * self.seq_len
        batches = max(1, min(p.eval_tokens, val_tokens) // per_batch)
        loader = iter(
            self._PackedLoader(self._data, "val", rows, self.seq_len, device=self.device, seed=0)
        )
        first = next(loader)
        leak = causal_leak(module, first[0][:2], self.vocab_size, autocast=self.autocast)
        tolerance = CAUSAL_TOLERANCE.get(self.fast_dtype, 5e-2)
        if leak > tolerance:
            raise EvaluationError(
                f"the model is not causal: changing inputs at positions >= T/2 changed the logits "
                f"before T/2 by up to {leak:.3g} (tolerance {tolerance:g}); a model may only read "
                "earlier positions"
            )

        def limited() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            yield first
            for _ in range(batches - 1):
                yield next(loader)

        result = evaluate_bpb(module, limited(), self._token_bytes, autocast=self.autocast)
        if result.tokens < p.eval_tokens:
            print(
                f"note: the validation split holds {val_tokens:,} tokens; evaluated {result.tokens:,} "
                f"of the preset's {p.eval_tokens:,}",
                flush=True,
            )
        return {
            "val_bpb": result.bpb,
            "eval_tokens": result.tokens,
            "eval_bytes": result.bytes,
            "eval_nats": result.nats,
            "causal_check_max_diff": leak,
        }

    # -- summary -----------------------------------------------------------------------------

    def summary(
        self,
        *,
        model: torch.nn.Module | None = None,
        flops_per_token: float | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Everything known about the run, as plain data (written as summary.json)."""
        clock, p, setup = self._clock, self._preset, self._setup
        now_wall = time.time()
        training = clock.training_seconds
        tok_s = self._tokens_per_second()
        num_params = sum(x.numel() for x in model.parameters()) if model is not None else None
        if flops_per_token is None and model is not None:
            embedding = sum(
                m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)
            )
            flops_per_token = 6.0 * (sum(x.numel() for x in model.parameters()) - embedding)
        mfu = None
        if tok_s and flops_per_token and setup.peak_flops:
            mfu = 100.0 * flops_per_token * tok_s / setup.peak_flops
        startup = None if clock.first_begin is None else clock.first_begin - self._started
        launch_lag = self._started_wall - self._spec.launched_at
        depth = self._constants.get("DEPTH")
        return {
            "format_version": FORMAT_VERSION,
            "ok": error is None and self._finished,
            "error": error,
            "val_bpb": self._eval.get("val_bpb"),
            "training_seconds": training,
            "total_seconds": now_wall - self._spec.launched_at,
            "peak_vram_mb": peak_memory_mb(self.device),
            "mfu_percent": mfu,
            "total_tokens_M": self._tokens_at_last_end / 1e6,
            "num_steps": clock.steps_done,
            "num_params_M": None if num_params is None else num_params / 1e6,
            "depth": depth if isinstance(depth, int) else None,
            "num_params": num_params,
            "counted_steps": clock.counted_steps,
            "uncounted_steps": p.uncounted_steps,
            "tokens_per_second": tok_s,
            "flops_per_token": flops_per_token,
            "startup_seconds": None if startup is None else startup + launch_lag,
            "warmup_seconds": clock.warmup_seconds,
            "eval_seconds": self._eval.get("eval_seconds"),
            "eval_tokens": self._eval.get("eval_tokens"),
            "eval_bytes": self._eval.get("eval_bytes"),
            "causal_check_max_diff": self._eval.get("causal_check_max_diff"),
            "first_train_loss": self._loss_first,
            "final_train_loss": self.smoothed_loss,
            "loss_history": [list(point) for point in self._history],
            "peak_rss_mb": peak_rss_mb(),
            "device": str(self.device),
            "device_name": setup.name,
            "dtype": str(setup.fast_dtype).removeprefix("torch."),
            "compile": setup.compile,
            "peak_flops": setup.peak_flops,
            "preset": p.name,
            "budget_s": p.budget_s,
            "grace_s": p.grace_s,
            "seq_len": p.seq_len,
            "vocab_size": self.vocab_size,
            "dataset": self._spec.dataset,
            "train_py": self._spec.train_py,
            "overrides": dict(self._spec.overrides),
            "constants": self._constants,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "started_at": _iso(self._spec.launched_at),
            "finished_at": _iso(now_wall),
        }

    def _write(self, summary: dict[str, Any]) -> None:
        write_json(Path(self._spec.summary_path), summary)

    def write_failure(self, error: str) -> dict[str, Any]:
        """Write the summary of a failed run (used by the subprocess entry point)."""
        self._finished = False
        summary = self.summary(error=error)
        self._write(summary)
        return summary

    # -- failures --------------------------------------------------------------------------------

    @property
    def failure(self) -> TrainingFailure | None:
        """The failure the harness detected, if any (it stays, even if train.py catches it)."""
        return self._failure

    @property
    def finished(self) -> bool:
        return self._finished

    def _fail(self, kind: str, message: str) -> TrainingFailure:
        if self._failure is None:
            self._failure = TrainingFailure(kind, message)
        return self._failure

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _print_header(self) -> None:
        p = self._preset
        print(
            f"hpdream harness: preset {p.name}, budget {p.budget_s:g} s "
            f"(first {p.uncounted_steps} steps uncounted), grace {p.grace_s:g} s",
            flush=True,
        )
        print(self._setup.describe(), flush=True)
        print(
            f"data: {self._spec.dataset} at {self._spec.data_root}, vocab {self.vocab_size}, "
            f"sequence {self.seq_len}, evaluation on {p.eval_tokens:,} validation tokens",
            flush=True,
        )
        if self._overrides:
            print(
                "overrides: " + ", ".join(f"{k}={v!r}" for k, v in self._overrides.items()),
                flush=True,
            )
        print(
            "constants: " + ", ".join(f"{k}={v!r}" for k, v in self._constants.items()), flush=True
        )


def _iso(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.UTC).isoformat(timespec="seconds")
