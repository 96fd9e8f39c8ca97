"""check_train_py: the static containment check of an edited train.py."""

from __future__ import annotations

import pytest

from hpdream_runner.training import baseline_train_py, check_train_py

BASE = baseline_train_py()


def edit(old: str, new: str, source: str = BASE) -> str:
    assert old in source, old
    return source.replace(old, new)


def test_the_baselines_are_clean() -> None:
    assert check_train_py(BASE) == []
    assert check_train_py(baseline_train_py("cpu-tiny")) == []


def test_an_ordinary_research_edit_is_clean() -> None:
    source = edit("MATRIX_LR = 0.04", "MATRIX_LR = 0.05")
    source = edit(
        "return self.c_proj(F.relu(self.c_fc(x)).square())",
        "return self.c_proj(F.gelu(self.c_fc(x)))",
        source,
    )
    source += "\nimport time\nt0 = time.time()\nprint(f'took {time.time() - t0:.1f} s')\n"
    assert check_train_py(source) == []


def test_other_import_spellings_of_the_harness_are_accepted() -> None:
    aliased = edit(
        "from hpdream_runner.training import harness",
        "import hpdream_runner.training.harness as h",
    ).replace("harness.start(", "h.start(")
    assert check_train_py(aliased) == []
    direct = edit(
        "from hpdream_runner.training import harness",
        "from hpdream_runner.training.harness import start",
    ).replace("harness.start(", "start(")
    assert check_train_py(direct) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (edit("from hpdream_runner.training import harness\n", ""), "does not import the harness"),
        (
            edit("run = harness.start(globals())", "run = object()"),
            "does not call harness.start(globals())",
        ),
        (edit("harness.start(globals())", "harness.start({})"), "harness.start must be called as"),
        (edit("while run.training():", "for _ in range(100):"), "budget clock"),
        (edit("    run.step_done(loss.detach())", "    pass"), "budget clock"),
        (
            edit("run.finish(model, flops_per_token=model.estimate_flops())", "print(model)"),
            "run.finish(model)",
        ),
        (BASE + "\nTIME_BUDGET = 600\n", "defines its own time budget (TIME_BUDGET)"),
        (BASE + "\nmy_deadline = 5\n", "defines its own time budget (my_deadline)"),
        (
            BASE
            + "\nimport time\nt0 = time.perf_counter()\nwhile time.perf_counter() - t0 < 300:\n    pass\n",
            "stops on its own clock",
        ),
        (
            BASE
            + "\nfrom time import monotonic as m\nstart_t = m()\nelapsed = 0\nif start_t > 5:\n    pass\n",
            "stops on its own clock",
        ),
        (BASE + "\ndef evaluate_bpb(model):\n    return 0.5\n", "defines its own evaluation"),
        (BASE + "\nprint('val_bpb:          0.9')\n", "prints its own val_bpb line"),
        (BASE + "\nopen('summary.json', 'w')\n", "writes summary.json"),
        (BASE + "\nfrom hpdream_runner.data import prepare\n", "reads the data directly"),
        (BASE + "\nimport hpdream_runner.data.loader\n", "reads the data directly"),
        (
            BASE + "\nfrom hpdream_runner.training._evaluate import evaluate_bpb as e\n",
            "imports harness internals",
        ),
        (BASE + "\nrun._clock.budget_s = 1e9\n", "uses harness internals (run._clock)"),
        (BASE + "\nharness._current = None\n", "uses harness internals (harness._current)"),
        (BASE + "\nrun.budget_s = 1e9\n", "changes the harness (run.budget_s = ...)"),
        (
            BASE + "\nrun2 = harness.Run(None, globals())\n",
            "uses harness.Run; train.py may only call",
        ),
        (BASE + "\nsetattr(run, 'progress', 0)\n", "changes the harness (setattr(run, ...))"),
        (BASE + "\nexec('x = 1')\n", "uses exec()"),
        (BASE + "\nimport importlib\n", "uses importlib"),
    ],
)
def test_violations_are_found(source: str, problem: str) -> None:
    problems = check_train_py(source)
    assert any(problem in p for p in problems), problems


def test_problems_carry_line_numbers() -> None:
    source = BASE + "\nTIME_BUDGET = 600\n"
    line = source.count("\n", 0, source.index("TIME_BUDGET")) + 1
    assert check_train_py(source) == [
        f"line {line}: defines its own time budget (TIME_BUDGET); the harness owns the budget"
    ]


def test_a_syntax_error_is_one_problem_with_its_line() -> None:
    assert check_train_py("x = 1\ndef broken(:\n") == [
        "line 2: train.py does not parse: invalid syntax"
    ]
