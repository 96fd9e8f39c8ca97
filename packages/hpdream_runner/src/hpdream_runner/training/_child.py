"""The training subprocess: ``python -m hpdream_runner.training._child RUN_SPEC.json``.

Runs ``train.py`` as ``__main__`` with the run spec in the environment (its
``harness.start`` reads it), and turns every way it can end into a summary:
``finish`` writes the successful one; here a failure (an exception, a NaN the
harness caught, a script that never called ``finish``) becomes a summary with
``ok: false`` and an error ``"<kind>: <message>"``, and exit status 1.

It does not import torch itself, so a ``train.py`` that never gets that far
fails fast.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from pathlib import Path

from hpdream_runner.training._spec import (
    SPEC_ENV,
    RunSpec,
    failure_summary,
    read_json,
    write_json,
)

_HARNESS = "hpdream_runner.training.harness"


def classify(exc: BaseException, train_py: str) -> str:
    """``"<kind>: <message>"`` for an exception that ended train.py."""
    kind_of = getattr(exc, "kind", None)
    if isinstance(kind_of, str) and type(exc).__name__ == "TrainingFailure":
        return str(exc)
    text = f"{type(exc).__name__}: {exc}".strip()
    oom = type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()
    if oom or isinstance(exc, MemoryError):
        return f"oom: {text}"
    return f"exception: {text}{_where(exc, train_py)}"


def _where(exc: BaseException, train_py: str) -> str:
    """`` (train.py line N)`` for the innermost frame of train.py in the traceback."""
    line = None
    target = os.path.realpath(train_py)
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            line = frame.lineno
    return f" ({Path(train_py).name} line {line})" if line is not None else ""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m hpdream_runner.training._child RUN_SPEC.json", file=sys.stderr)
        return 2
    spec_path = argv[0]
    spec = RunSpec.load(spec_path)
    os.environ[SPEC_ENV] = str(Path(spec_path).resolve())
    sys.argv = [spec.train_py]
    error: str | None = None
    try:
        runpy.run_path(spec.train_py, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code not in (None, 0):
            error = f"exception: train.py exited with status {code!r}"
    except BaseException as exc:  # everything train.py raises is a failed run, reported
        traceback.print_exc()
        error = classify(exc, spec.train_py)

    harness = sys.modules.get(_HARNESS)
    run = harness.current() if harness is not None else None  # type: ignore[attr-defined]
    if run is None:
        error = error or "exception: train.py never called harness.start(globals())"
    elif run.failure is not None:
        error = str(run.failure)  # the harness's own finding wins (train.py may have caught it)
    elif error is None and not run.finished:
        error = "exception: train.py ended without calling run.finish(model)"

    if error is None:
        summary = read_json(Path(spec.summary_path))
        if summary is not None and summary.get("ok"):
            return 0
        error = "exception: the run finished but its summary is missing"
    print(f"FAIL: {error}", flush=True)
    if run is not None:
        run.write_failure(error)
    else:
        # the run failed before the harness started
        write_json(Path(spec.summary_path), failure_summary(spec, error, num_steps=0))
    return 1


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown: the summary is written, and tearing down torch (and the
    # triton bindings it loads) takes time and prints leak warnings into the log.
    os._exit(status)
