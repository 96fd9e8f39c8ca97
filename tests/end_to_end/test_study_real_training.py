"""A study that really trains (``run_training``, ``smoke`` preset, a few seconds each, CPU).

One replay run: the baseline, a train.py that raises, then one whose loss
becomes NaN. Each failure is a ``crash`` row with the harness's reason, the
workspace is reset after it, and the study goes on to the next experiment.
(A train.py that overruns the time-out costs the whole budget plus grace, so
it is left to the fake trainer in tests/runner/test_study_orchestrator.py and
to run_training's own tests; the harness reports all three the same way.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpdream_core import read_log
from hpdream_runner.agents import set_constants
from hpdream_runner.study import AgentConfig, Layout, Study, StudyConfig, TrainingConfig, Workspace
from hpdream_runner.training import baseline_train_py


def _variants(base: str) -> list[tuple[str, str]]:
    step = "run.step_done(loss.detach())"
    first_import = "\nimport "
    assert step in base and first_import in base
    return [
        # fails at once, before torch is even imported
        (
            base.replace(
                first_import, '\nraise RuntimeError("boom from train.py")' + first_import, 1
            ),
            "raise",
        ),
        (
            set_constants(
                base.replace(step, 'run.step_done(loss.detach() * float("nan"))'),
                {"WARMDOWN_RATIO": 0.3},
            ),
            "WARMDOWN_RATIO 0.5 -> 0.3, and a NaN in the loss",
        ),
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_training_crashes_are_rows_and_the_study_goes_on(tmp_path: Path) -> None:
    base = baseline_train_py("smoke")
    baseline = tmp_path / "train.py"
    baseline.write_text(base, encoding="utf-8")
    files = []
    descriptions = []
    for i, (text, description) in enumerate(_variants(base)):
        f = tmp_path / f"v{i}.py"
        f.write_text(text, encoding="utf-8")
        files.append(str(f))
        descriptions.append(description)
    config = StudyConfig(
        name="real",
        output=tmp_path / "out",
        agents=(
            AgentConfig(
                "replay",
                "replay",
                options={"files": files, "descriptions": descriptions},
                experiments=3,
            ),
        ),
        training=TrainingConfig(preset="smoke", device="cpu", train_py=baseline, budget_s=2.0),
        base_dir=tmp_path,
    )
    Study(config, handle_signals=False).run()
    rows = list(read_log(Layout(config.output).log_path, strict=True).experiments)
    assert [r.description for r in rows] == ["baseline", *descriptions]
    assert [r.status for r in rows] == ["keep", "crash", "crash"], [
        (r.status, r.error) for r in rows
    ]
    raised, nan = rows[1:]
    assert (
        raised.error
        and raised.error.startswith("exception")
        and "boom from train.py" in raised.error
    )
    assert nan.error and nan.error.startswith("nan")
    assert raised.val_bpb is None and nan.val_bpb is None
    base_row = rows[0]
    assert (
        base_row.val_bpb
        and base_row.training_seconds
        and base_row.num_params_m
        and base_row.total_seconds
    )
    assert base_row.category == "baseline"
    ws = Workspace(Layout(config.output).workspace("replay", 0))
    best = [r for r in rows if r.status == "keep"][-1]
    assert ws.is_clean() and ws.head() == best.commit
    out = Layout(config.output).experiment_dir("replay", 0, 1) / "output.log"
    assert "boom from train.py" in out.read_text()
