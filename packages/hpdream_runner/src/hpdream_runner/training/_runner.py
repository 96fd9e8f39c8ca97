"""Run one training: prepare the data, start ``train.py`` in a subprocess, enforce the time-out.

The parent never imports torch for a CPU run. It prepares the data first
(idempotent; not timed against the budget), writes ``run_spec.json``, starts
``python -m hpdream_runner.training._child`` in its own process group, copies
its output to ``output.log`` (and to ``echo``, if given), and kills the whole
group at budget + grace. Whatever happens, ``summary.json`` exists afterwards
and :class:`TrainResult` says whether the run produced a val_bpb, and if not,
why: ``"timeout: ..."``, ``"nan: ..."``, ``"oom: ..."`` or ``"exception: ..."``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.training._constants import check_overrides
from hpdream_runner.training._device import check_device_name, resolve_device
from hpdream_runner.training._presets import Preset, get_preset
from hpdream_runner.training._spec import (
    FORMAT_VERSION,
    SPEC_ENV,
    RunSpec,
    failure_summary,
    read_json,
    write_json,
)

#: Names of the files a run writes in its output folder.
OUTPUT_LOG: Final = "output.log"
SUMMARY_JSON: Final = "summary.json"
RUN_SPEC_JSON: Final = "run_spec.json"

#: Lines of output quoted in the error of a run that died without a summary.
_TAIL_LINES: Final = 5


@attrs.frozen
class TrainResult:
    """The outcome of :func:`run_training` (also in ``summary.json``)."""

    ok: bool
    val_bpb: float | None
    training_seconds: float | None
    total_seconds: float
    peak_vram_mb: float | None
    num_params_m: float | None
    num_steps: int | None
    error: str | None  # "timeout: ...", "nan: ...", "oom: ...", "exception: ..."
    summary: dict[str, Any]
    output_path: Path
    summary_path: Path

    @property
    def failure_kind(self) -> str | None:
        """``timeout``, ``nan``, ``oom`` or ``exception`` for a failed run, None for a good one."""
        return None if self.error is None else self.error.split(":", 1)[0]

    @classmethod
    def from_summary(
        cls, summary: dict[str, Any], *, output_path: Path, summary_path: Path
    ) -> TrainResult:
        def number(key: str) -> float | None:
            value = summary.get(key)
            return (
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None
            )

        steps = summary.get("num_steps")
        return cls(
            ok=bool(summary.get("ok")),
            val_bpb=number("val_bpb"),
            training_seconds=number("training_seconds"),
            total_seconds=float(summary.get("total_seconds") or 0.0),
            peak_vram_mb=number("peak_vram_mb"),
            num_params_m=number("num_params_M"),
            num_steps=steps if isinstance(steps, int) else None,
            error=summary.get("error"),
            summary=summary,
            output_path=output_path,
            summary_path=summary_path,
        )


def run_training(
    train_py: Path,
    *,
    preset: str | Preset = "cpu-tiny",
    dataset: str = "builtin",
    data_dir: Path | None = None,
    vocab_size: int | None = None,
    budget_s: float | None = None,
    device: str | None = None,
    overrides: Mapping[str, str] | None = None,
    out_dir: Path,
    grace_s: float | None = None,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    prepare_options: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``train_py`` once under the harness; see the module docstring.

    Raises :class:`~hpdream_core.HpdreamError` only for a bad request (unknown
    preset, missing file, an override that names no constant or does not fit
    it, a requested device this machine lacks, data that cannot be prepared);
    every failure of the training itself is a ``TrainResult`` with ``ok=False``.
    ``echo`` receives each output line as it comes; ``prepare_options`` go to
    the data preparation (e.g. the builtin data set's size).
    """
    started = time.perf_counter()
    p = get_preset(preset).with_settings(budget_s=budget_s, grace_s=grace_s)
    train_py = Path(train_py).resolve()
    try:
        source = train_py.read_text(encoding="utf-8")
    except OSError as exc:
        raise HpdreamError(f"cannot read {train_py}: {exc.strerror or exc}") from exc
    overrides = dict(overrides or {})
    # A train.py that does not parse fails in the subprocess, as an ordinary failure.
    with contextlib.suppress(SyntaxError):
        check_overrides(source, overrides)
    requested = check_device_name(device)
    if requested is not None and requested != "cpu":
        resolve_device(requested)  # a missing GPU is the caller's error, not a failed run
    vocab = p.vocab_size if vocab_size is None else int(vocab_size)
    if vocab_size is not None and vocab != p.vocab_size:
        p = attrs.evolve(p, vocab_size=vocab)

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    output_path, summary_path = out_dir / OUTPUT_LOG, out_dir / SUMMARY_JSON
    summary_path.unlink(missing_ok=True)

    from hpdream_runner.data import prepare

    t_prepare = time.perf_counter()
    data = prepare(
        dataset, data_dir=data_dir, vocab_size=vocab, progress=echo, **dict(prepare_options or {})
    )
    prepare_seconds = time.perf_counter() - t_prepare

    launched_at = time.time()
    spec = RunSpec(
        train_py=str(train_py),
        preset=p,
        overrides=overrides,
        dataset=dataset,
        data_dir=None if data_dir is None else str(data_dir),
        data_root=str(data.root),
        vocab_size=vocab,
        device=requested,
        out_dir=str(out_dir),
        summary_path=str(summary_path),
        launched_at=launched_at,
    )
    spec_path = out_dir / RUN_SPEC_JSON
    spec.save(spec_path)

    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env[SPEC_ENV] = str(spec_path)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env.setdefault("PYTORCH_ALLOC_CONF", "expandable_segments:True")
    deadline = p.budget_s + p.grace_s
    t_launch = time.perf_counter()
    outcome = _supervise(
        [sys.executable, "-m", "hpdream_runner.training._child", str(spec_path)],
        cwd=out_dir,
        env=child_env,
        output_path=output_path,
        timeout_s=deadline,
        echo=echo,
    )
    total = time.perf_counter() - t_launch

    summary = None if outcome.timed_out else read_json(summary_path)
    if summary is None or summary.get("format_version") != FORMAT_VERSION:
        summary = _failure_summary(spec, outcome, deadline)
    summary["total_seconds"] = total
    summary["prepare_seconds"] = prepare_seconds
    summary["harness_seconds"] = time.perf_counter() - started
    summary["exit_status"] = outcome.returncode
    summary["output_log"] = str(output_path)
    if summary.get("ok") and outcome.returncode != 0:
        summary["ok"] = False
        summary["error"] = (
            f"exception: the training process exited with status {outcome.returncode}"
        )
    write_json(summary_path, summary)
    return TrainResult.from_summary(summary, output_path=output_path, summary_path=summary_path)


@attrs.frozen
class _Outcome:
    returncode: int | None
    timed_out: bool
    tail: tuple[str, ...]


def _supervise(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output_path: Path,
    timeout_s: float,
    echo: Callable[[str], None] | None,
) -> _Outcome:
    """Run ``argv`` in its own process group, copy its output, kill the group at ``timeout_s``."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    with open(output_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        pump = threading.Thread(target=_pump, args=(proc.stdout, log, tail, echo), daemon=True)
        pump.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        except BaseException:
            _kill_group(proc)  # Ctrl-C or any error here: never leave the run behind
            raise
        finally:
            pump.join(timeout=10.0)
    return _Outcome(proc.returncode, timed_out, tuple(tail))


def _pump(
    stream: IO[bytes], log: IO[bytes], tail: deque[str], echo: Callable[[str], None] | None
) -> None:
    for raw in iter(stream.readline, b""):
        log.write(raw)
        log.flush()
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.strip():
            tail.append(line)
        if echo is not None:
            echo(line)
    stream.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the subprocess's process group (the subprocess and anything it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _failure_summary(spec: RunSpec, outcome: _Outcome, deadline: float) -> dict[str, Any]:
    p = spec.preset
    if outcome.timed_out:
        error = f"timeout: killed after {deadline:g} s (budget {p.budget_s:g} s + grace {p.grace_s:g} s)"
    else:
        code = outcome.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            how = f"was killed by {name}"
            if -code == signal.SIGKILL:
                how += " (the kernel's out-of-memory killer is the usual cause)"
        else:
            how = f"exited with status {code}"
        last = " | ".join(outcome.tail) or "no output"
        error = f"exception: the training process {how} without a summary; last output: {last}"
    return failure_summary(spec, error, num_steps=None, with_grace=True)
