"""A study that really trains (``run_training``, ``smoke`` preset, a few seconds each, CPU).

One replay run: the baseline, a train.py that raises, one whose loss becomes
NaN, one that overruns the time-out, and a change that trains. Each failure
is a ``crash`` row with the harness's reason, the workspace is reset after
it, and the study goes on to the next experiment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpdream_core import read_log
from hpdream_runner.agents import set_constants
from hpdream_runner.study import AgentConfig, Layout, Study, StudyConfig, TrainingConfig, Workspace
from hpdream_runner.training import baseline_train_py


def _variants(base: str) -> list[tuple[str, str]]:
    anchor = "config = build_config(run.vocab_size, run.seq_len)"
    step = "run.step_done(loss.detach())"
    assert anchor in base and step in base
    return [
        (base.replace(anchor, 'raise RuntimeError("boom from train.py")\n' + anchor), "raise"),
        (base.replace(step, 'run.step_done(loss.detach() * float("nan"))'), "nan loss"),
        (base.replace(anchor, "while True:\n    pass\n" + anchor), "never ends"),
        (set_constants(base, {"WARMDOWN_RATIO": 0.3}), "WARMDOWN_RATIO 0.5 -> 0.3"),
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
        agents=(AgentConfig("replay", "replay", options={"files": files, "descriptions": descriptions}, experiments=5),),
        training=TrainingConfig(preset="smoke", device="cpu", train_py=baseline, budget_s=2.0, grace_s=25.0),
        base_dir=tmp_path,
    )
    Study(config, handle_signals=False).run()
    rows = list(read_log(Layout(config.output).log_path, strict=True).experiments)
    assert [r.description for r in rows] == ["baseline", *descriptions]
    statuses = [r.status for r in rows]
    assert statuses[:4] == ["keep", "crash", "crash", "crash"], [(r.status, r.error) for r in rows]
    assert statuses[4] in ("keep", "discard")
    raised, nan, overrun = rows[1:4]
    assert raised.error and raised.error.startswith("exception") and "boom from train.py" in raised.error
    assert nan.error and nan.error.startswith("nan")
    assert overrun.error and overrun.error.startswith("timeout")
    assert rows[0].val_bpb and rows[0].training_seconds and rows[0].num_params_m
    assert rows[4].val_bpb and rows[4].val_bpb > 0
    ws = Workspace(Layout(config.output).workspace("replay", 0))
    best = [r for r in rows if r.status == "keep"][-1]
    assert ws.is_clean() and ws.head() == best.commit
    out = Layout(config.output).experiment_dir("replay", 0, 1) / "output.log"
    assert "boom from train.py" in out.read_text()
