"""Whole training runs under the harness: in-process (``Run``) and as subprocesses (``run_training``).

Data: the builtin data set at vocabulary 512, small, prepared once per session.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from hpdream_runner.cli import main as cli_main
from hpdream_runner.training import (
    DeviceError,
    OverrideError,
    baseline_train_py,
    get_preset,
    run_training,
)
from hpdream_runner.training._spec import FORMAT_VERSION, RunSpec, read_json
from hpdream_runner.training.harness import Run, TrainingFailure

DATA_OPTIONS: dict[str, Any] = {"num_train_docs": 400, "num_val_docs": 40}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hpdream_runner.data import prepare

    root = tmp_path_factory.mktemp("hpdream-data")
    prepare("builtin", data_dir=root, vocab_size=512, **DATA_OPTIONS)
    return root


def train(tmp_path: Path, data_dir: Path, source: str, **kwargs: Any) -> Any:
    path = tmp_path / "train.py"
    path.write_text(source, encoding="utf-8")
    kwargs.setdefault("preset", "smoke")
    return run_training(
        path, data_dir=data_dir, out_dir=tmp_path / "out", prepare_options=DATA_OPTIONS, **kwargs
    )


# A minimal train.py that uses the harness properly; {step_hook} runs inside the loop.
MINIMAL = """
import torch
from hpdream_runner.training import harness

LR = 0.1

run = harness.start(globals())
model = torch.nn.Sequential(torch.nn.Embedding(run.vocab_size, 16), torch.nn.Linear(16, run.vocab_size))
model.to(run.device)
loader = run.train_loader(4)
while run.training():
    x, y = next(loader)
    loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= LR * p.grad
            p.grad = None
{step_hook}
    run.step_done(loss)
{after}
"""


def minimal(step_hook: str = "", after: str = "run.finish(model)") -> str:
    hook = textwrap.indent(textwrap.dedent(step_hook).strip(), "    ") if step_hook else ""
    return MINIMAL.format(step_hook=hook, after=after)


# -- subprocess runs ---------------------------------------------------------------------------


@pytest.mark.slow
def test_baseline_run_trains_evaluates_and_summarises(tmp_path: Path, data_dir: Path) -> None:
    result = train(
        tmp_path,
        data_dir,
        baseline_train_py("smoke"),
        budget_s=3.0,
        overrides={"MATRIX_LR": "0.05"},
    )
    assert result.ok, result.error
    s = result.summary
    assert result.error is None and s["error"] is None
    assert 0 < result.val_bpb < 5
    # the budget clock: at least the budget, counted after the uncounted warm-up steps
    assert 3.0 <= result.training_seconds < 10.0  # stops at the first step end past the budget
    assert result.num_steps == s["counted_steps"] + get_preset("smoke").uncounted_steps
    assert s["warmup_seconds"] > 0
    assert result.total_seconds > result.training_seconds + s["warmup_seconds"]
    assert s["first_train_loss"] > s["final_train_loss"] + 0.5  # it learned
    assert result.num_params_m == pytest.approx(s["num_params"] / 1e6) and s["depth"] == 1
    assert s["constants"]["MATRIX_LR"] == 0.05 and s["overrides"] == {"MATRIX_LR": "0.05"}
    assert s["tokens_per_second"] > 0 and s["eval_tokens"] > 0
    assert s["causal_check_max_diff"] < 1e-3
    assert s["device"] == "cpu" and s["dtype"] == "float32" and s["peak_vram_mb"] is None
    assert s["format_version"] == FORMAT_VERSION
    # autoresearch's summary block is in the output, and agrees with the JSON
    log = result.output_path.read_text()
    block = log[log.rindex("---\n") :]
    assert re.search(r"^val_bpb:          \d+\.\d{6}$", block, re.M)
    for key in (
        "training_seconds",
        "total_seconds",
        "peak_vram_mb",
        "mfu_percent",
        "total_tokens_M",
    ):
        assert re.search(rf"^{key}:\s+\d+\.\d+$", block, re.M), key
    assert f"val_bpb:          {result.val_bpb:.6f}" in block
    assert "num_params_M:     0.1" in block and "depth:            1" in block
    assert json.loads(result.summary_path.read_text())["val_bpb"] == result.val_bpb
    spec = RunSpec.load(result.output_path.parent / "run_spec.json")
    assert spec.preset.budget_s == 3.0 and spec.overrides == {"MATRIX_LR": "0.05"}


@pytest.mark.slow
def test_nan_loss_ends_the_run(tmp_path: Path, data_dir: Path) -> None:
    # train.py even catches the failure and carries on: the harness's finding stands
    source = minimal(
        step_hook="""
        if run.step == 2:
            loss = torch.tensor(float('nan'))
            try:
                run.step_done(loss)
            except Exception:
                pass
            break
        """,
    )
    result = train(tmp_path, data_dir, source, budget_s=30.0)
    assert not result.ok
    assert result.error == "nan: training loss is nan at step 2"
    assert result.failure_kind == "nan"
    assert result.val_bpb is None and result.num_steps == 3
    assert read_json(result.summary_path)["error"] == result.error
    assert f"FAIL: {result.error}" in result.output_path.read_text()


def test_a_run_past_budget_and_grace_is_killed(tmp_path: Path, data_dir: Path) -> None:
    source = "import time\nprint('working', flush=True)\ntime.sleep(120)\n"
    started = time.perf_counter()
    result = train(tmp_path, data_dir, source, budget_s=1.0, grace_s=1.5)
    assert time.perf_counter() - started < 20
    assert not result.ok
    assert result.error == "timeout: killed after 2.5 s (budget 1 s + grace 1.5 s)"
    assert result.failure_kind == "timeout"
    assert 2.5 <= result.total_seconds < 10
    assert "working" in result.output_path.read_text()
    assert read_json(result.summary_path)["error"] == result.error


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\n\nraise ValueError('boom')\n", "exception: ValueError: boom (train.py line 3)"),
        ("raise MemoryError('no room')\n", "oom: MemoryError: no room"),
        ("import sys\nsys.exit(3)\n", "exception: train.py exited with status 3"),
        ("print('hello')\n", "exception: train.py never called harness.start(globals())"),
        ("def f(:\n", "exception: SyntaxError: invalid syntax (train.py, line 1)"),
    ],
)
def test_failures_before_training_are_classified(
    tmp_path: Path, data_dir: Path, source: str, expected: str
) -> None:
    result = train(tmp_path, data_dir, source)
    assert not result.ok
    assert result.error == expected
    assert result.summary["exit_status"] == 1


@pytest.mark.slow
def test_a_script_that_never_finishes_is_a_failure(tmp_path: Path, data_dir: Path) -> None:
    result = train(tmp_path, data_dir, minimal(after="print('done')"), budget_s=0.5)
    assert result.error == "exception: train.py ended without calling run.finish(model)"
    assert result.num_steps is not None and result.num_steps >= 1


def test_bad_requests_raise_before_anything_runs(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(OverrideError, match="no constant WIDTH"):
        train(tmp_path, data_dir, baseline_train_py("smoke"), overrides={"WIDTH": "3"})
    with pytest.raises(OverrideError, match="DEPTH is a int"):
        train(tmp_path, data_dir, baseline_train_py("smoke"), overrides={"DEPTH": "1.5"})
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="device cuda was requested but"):
            train(tmp_path, data_dir, baseline_train_py("smoke"), device="cuda")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        train(tmp_path, data_dir, baseline_train_py("smoke"), device="tpu")
    assert not (tmp_path / "out" / "summary.json").exists()


def test_cli_train_lists_presets_and_shows_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["train", "--list-presets"]) == 0
    listing = capsys.readouterr().out
    assert "seed" in listing and "cpu-tiny" in listing and "depth8" in listing
    assert cli_main(["train", "--preset", "cpu-tiny", "--show-baseline"]) == 0
    assert "DEPTH = 2" in capsys.readouterr().out
    assert cli_main(["train", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


# -- the harness in-process --------------------------------------------------------------------


def make_run(
    tmp_path: Path, data_dir: Path, namespace: dict[str, Any] | None = None, **settings: Any
) -> Run:
    from hpdream_runner.data import prepare

    data = prepare("builtin", data_dir=data_dir, vocab_size=512, **DATA_OPTIONS)
    preset = get_preset("smoke").with_settings(budget_s=settings.pop("budget_s", 30.0))
    spec = RunSpec(
        train_py=str(tmp_path / "train.py"),
        preset=preset,
        overrides=settings.pop("overrides", {}),
        dataset="builtin",
        data_dir=str(data_dir),
        data_root=str(data.root),
        vocab_size=512,
        device="cpu",
        out_dir=str(tmp_path),
        summary_path=str(tmp_path / "summary.json"),
        launched_at=time.time(),
        manage_gc=False,
    )
    return Run(spec, {} if namespace is None else namespace)


class Bigram(torch.nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.table = torch.nn.Embedding(vocab, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.table(idx)


class Uniform(torch.nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.unused = torch.nn.Parameter(torch.zeros(3))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*idx.shape, self.vocab)


class PeekAhead(Bigram):
    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.table(torch.roll(idx, -1, dims=1))


def test_run_applies_overrides_and_hands_out_data(tmp_path: Path, data_dir: Path) -> None:
    namespace: dict[str, Any] = {"DEPTH": 4, "LR": 0.1}
    run = make_run(tmp_path, data_dir, namespace, overrides={"DEPTH": "6"})
    assert namespace["DEPTH"] == 6 and run.constants == {"DEPTH": 6, "LR": 0.1}
    assert run.device == torch.device("cpu") and run.fast_dtype == torch.float32
    assert run.seq_len == 64 and run.vocab_size >= 512
    x, y = next(run.train_loader(3))
    assert x.shape == y.shape == (3, 64) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    with pytest.raises(OverrideError, match="no constant WIDTH"):
        make_run(tmp_path, data_dir, {"DEPTH": 4}, overrides={"WIDTH": "6"})


def test_run_refuses_out_of_order_use(tmp_path: Path, data_dir: Path) -> None:
    run = make_run(tmp_path, data_dir)
    with pytest.raises(TrainingFailure, match="had not begun"):
        run.step_done(1.0)
    assert run.failure is not None
    with pytest.raises(TrainingFailure, match="had not begun"):  # failures stick
        run.training()

    run = make_run(tmp_path, data_dir)
    with pytest.raises(TrainingFailure, match="did not train"):
        run.finish(Bigram(run.vocab_size))

    run = make_run(tmp_path, data_dir)
    assert run.training()
    with pytest.raises(TrainingFailure, match="needs a scalar loss"):
        run.step_done(torch.ones(3))


def test_an_exploding_loss_is_a_nan_failure(tmp_path: Path, data_dir: Path) -> None:
    run = make_run(tmp_path, data_dir)
    for _ in range(3):
        assert run.training()
        run.step_done(torch.tensor(2.5))
    assert run.training()
    with pytest.raises(
        TrainingFailure, match=r"^nan: training loss 1e\+06 exceeds 100 at step 3 \(exploding\)$"
    ):
        run.step_done(torch.tensor(1e6))
    assert run.failure is not None and run.failure.kind == "nan"
    summary = run.write_failure(str(run.failure))
    assert summary["ok"] is False and summary["num_steps"] == 4
    assert summary["first_train_loss"] == 2.5


def test_finish_evaluates_and_writes_the_summary(tmp_path: Path, data_dir: Path) -> None:
    run = make_run(tmp_path, data_dir, budget_s=0.2)
    model = Uniform(run.vocab_size)
    while run.training():
        run.step_done(torch.tensor(3.0))
    bpb = run.finish(model)
    summary = read_json(tmp_path / "summary.json")
    assert summary is not None and summary["ok"] and summary["val_bpb"] == bpb
    # uniform predictions cost log2(vocab) bits per scored token; a few targets are special tokens
    per_token = math.log2(run.vocab_size) * summary["eval_tokens"] / summary["eval_bytes"]
    assert bpb == pytest.approx(per_token, rel=0.05) and bpb <= per_token * (1 + 1e-6)
    assert summary["training_seconds"] >= 0.2 and summary["num_params"] == 3
    with pytest.raises(TrainingFailure, match="called twice"):
        run.finish(model)


def test_finish_refuses_a_model_that_reads_ahead(tmp_path: Path, data_dir: Path) -> None:
    run = make_run(tmp_path, data_dir, budget_s=0.1)
    while run.training():
        run.step_done(1.0)
    with pytest.raises(TrainingFailure, match=r"^exception: the model is not causal"):
        run.finish(PeekAhead(run.vocab_size))


def test_cli_train_reports_bad_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["train", str(tmp_path / "missing.py"), "-o", str(tmp_path / "o")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli_main(["train", "--set", "depth=3", "-o", str(tmp_path / "o")]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err
    assert cli_main(["train", "--set", "WIDTH=3", "-o", str(tmp_path / "o")]) == 2
    assert "train.py has no constant WIDTH" in capsys.readouterr().err
