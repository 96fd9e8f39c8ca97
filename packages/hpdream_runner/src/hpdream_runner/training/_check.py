"""``check_train_py``: does an edited train.py still leave budget, data and evaluation to the harness?

A static check of the source, run before each experiment by the study's
containment guard. It cannot prove honesty (the runtime checks in the harness
back it up: the continuous budget clock, the time allowed after the last
step, the causality check of the evaluation), but it catches the ways an edit
would take the measurement out of the harness's hands:

- not importing the harness, or not calling ``harness.start(globals())``;
- not training through the budget clock (``run.training()``, ``run.step_done``);
- not handing the model to the evaluation (``run.finish(model)``);
- a time budget or clock-based stop of its own (``TIME_BUDGET = ...``,
  ``while time.time() - t0 < 300``);
- an evaluation or summary of its own (``def evaluate_bpb``, printing
  ``val_bpb:``, writing ``summary.json``);
- reading the data behind the harness's back (``hpdream_runner.data``, where
  the validation split lives);
- touching the harness's internals (``run._clock``, ``harness._current``,
  private modules), using more of the harness module than ``start``
  (``harness.Run(...)``), or changing it (``run.budget_s = ...``,
  ``setattr(run, ...)``);
- code the check cannot see (``exec``, ``eval``, ``__import__``, ``importlib``).
"""

from __future__ import annotations

import ast
import re
from typing import Final

_HARNESS_MODULE: Final = "hpdream_runner.training.harness"
_PRIVATE_PREFIX: Final = "hpdream_runner.training._"
_DATA_MODULE: Final = "hpdream_runner.data"
_CLOCK_FUNCTIONS: Final = frozenset(
    {
        "time",
        "time_ns",
        "perf_counter",
        "perf_counter_ns",
        "monotonic",
        "monotonic_ns",
        "process_time",
    }
)
_BUDGET_NAME: Final = re.compile(r"(^|_)(TIME_?BUDGET|BUDGET|DEADLINE|TIME_?LIMIT)(_|$)", re.I)
_OPAQUE_CALLS: Final = frozenset({"exec", "eval", "__import__"})
_HARNESS_API: Final = frozenset({"start", "TrainingFailure"})
_SUMMARY_LITERALS: Final = (
    ("val_bpb:", "prints its own val_bpb line"),
    ("summary.json", "writes summary.json"),
)


def check_train_py(source: str) -> list[str]:
    """Problems that make this train.py's result untrustworthy; empty when it is fine.

    Each problem is one sentence, with ``line N:`` where it points at a line.
    """
    try:
        tree = ast.parse(source, filename="train.py")
    except SyntaxError as exc:
        return [f"line {exc.lineno}: train.py does not parse: {exc.msg}"]
    return _Checker(tree).problems()


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.found: list[str] = []
        self.harness_names: set[str] = set()  # names bound to the harness module
        self.start_names: set[str] = set()  # names bound to harness.start itself
        self.run_names: set[str] = set()  # names bound to the Run that start returns
        self.time_modules: set[str] = set()  # names bound to the time module
        self.clock_names: set[str] = set()  # names bound to time.time and friends
        self.clock_values: set[str] = set()  # variables assigned from a clock reading
        self._collect()

    def problems(self) -> list[str]:
        self._check_protocol()
        for node in ast.walk(self.tree):
            self._check_node(node)
        return sorted(set(self.found), key=_line_key)

    # -- pass 1: what names mean ---------------------------------------------------------------

    def _collect(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    if alias.name == _HARNESS_MODULE and alias.asname:
                        self.harness_names.add(alias.asname)
                    if alias.name == "time":
                        self.time_modules.add(bound)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if node.module == "hpdream_runner.training" and alias.name == "harness":
                        self.harness_names.add(bound)
                    elif node.module == _HARNESS_MODULE and alias.name == "start":
                        self.start_names.add(bound)
                    elif node.module == "time" and alias.name in _CLOCK_FUNCTIONS:
                        self.clock_names.add(bound)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if self._is_start_call(node.value):
                    self.run_names.update(names)
                if self._reads_clock(node.value):
                    self.clock_values.update(names)

    def _is_start_call(self, node: ast.expr) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in self.start_names
        if isinstance(func, ast.Attribute) and func.attr == "start":
            return _dotted(func.value) in self.harness_names | {_HARNESS_MODULE}
        return False

    def _is_clock_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in self.clock_names
        if isinstance(func, ast.Attribute) and func.attr in _CLOCK_FUNCTIONS:
            return _dotted(func.value) in self.time_modules
        if isinstance(func, ast.Attribute) and func.attr in {"now", "utcnow"}:
            return (_dotted(func.value) or "").endswith("datetime")
        return False

    def _reads_clock(self, node: ast.AST) -> bool:
        return any(self._is_clock_call(n) for n in ast.walk(node))

    # -- pass 2: the protocol ------------------------------------------------------------------

    def _check_protocol(self) -> None:
        if not (self.harness_names or self.start_names or self._imports_harness_plainly()):
            self.found.append(
                "does not import the harness (from hpdream_runner.training import harness)"
            )
        starts = [
            n for n in ast.walk(self.tree) if isinstance(n, ast.expr) and self._is_start_call(n)
        ]
        if not starts:
            self.found.append("does not call harness.start(globals())")
        for call in starts:
            assert isinstance(call, ast.Call)
            plain = (
                len(call.args) == 1
                and not call.keywords
                and isinstance(call.args[0], ast.Call)
                and isinstance(call.args[0].func, ast.Name)
                and call.args[0].func.id == "globals"
                and not call.args[0].args
            )
            if not plain:
                self.found.append(
                    f"line {call.lineno}: harness.start must be called as harness.start(globals()), "
                    "so that the harness sees and overrides the constants"
                )
        methods = {
            n.func.attr
            for n in ast.walk(self.tree)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and _dotted(n.func.value) in self.run_names
        }
        if not {"training", "step_done"} <= methods:
            self.found.append(
                "does not train through the harness's budget clock "
                "(while run.training(): ... run.step_done(loss))"
            )
        if "finish" not in methods:
            self.found.append(
                "does not hand its model to the harness's evaluation (run.finish(model))"
            )

    def _imports_harness_plainly(self) -> bool:
        # `import hpdream_runner.training.harness` (then used by its full dotted name)
        return any(
            isinstance(n, ast.Import)
            and any(a.name == _HARNESS_MODULE and not a.asname for a in n.names)
            for n in ast.walk(self.tree)
        )

    # -- pass 2: node by node --------------------------------------------------------------------

    def _check_node(self, node: ast.AST) -> None:
        line = getattr(node, "lineno", None)
        at = f"line {line}: " if line is not None else ""
        protected = self.harness_names | self.run_names | {_HARNESS_MODULE}
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            if isinstance(node, ast.ImportFrom) and node.module == "hpdream_runner.training":
                modules += [f"hpdream_runner.training.{a.name}" for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module == _HARNESS_MODULE:
                modules += [f"{_HARNESS_MODULE}.{a.name}" for a in node.names]
            for module in modules:
                if module.startswith(_PRIVATE_PREFIX) or module.startswith(_HARNESS_MODULE + "._"):
                    self.found.append(f"{at}imports harness internals ({module})")
                if module == _DATA_MODULE or module.startswith(_DATA_MODULE + "."):
                    self.found.append(
                        f"{at}reads the data directly ({module}); train on run.train_loader(...) only"
                    )
                if module == "importlib" or module.startswith("importlib."):
                    self.found.append(f"{at}uses importlib (code the check cannot see)")
        elif isinstance(node, ast.Attribute):
            owner = _dotted(node.value)
            if owner in protected and node.attr.startswith("_"):
                self.found.append(f"{at}uses harness internals ({owner}.{node.attr})")
            elif owner in self.harness_names | {_HARNESS_MODULE} and node.attr not in _HARNESS_API:
                self.found.append(
                    f"{at}uses {owner}.{node.attr}; train.py may only call harness.start(globals())"
                )
            if owner in protected and isinstance(node.ctx, ast.Store | ast.Del):
                self.found.append(f"{at}changes the harness ({owner}.{node.attr} = ...)")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _OPAQUE_CALLS:
                self.found.append(f"{at}uses {func.id}() (code the check cannot see)")
            changes = isinstance(func, ast.Name) and func.id in {"setattr", "delattr"}
            if changes and node.args and _dotted(node.args[0]) in protected:
                assert isinstance(func, ast.Name)
                self.found.append(
                    f"{at}changes the harness ({func.id}({_dotted(node.args[0])}, ...))"
                )
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in _assigned_names(target):
                    if _BUDGET_NAME.search(name):
                        self.found.append(
                            f"{at}defines its own time budget ({name}); the harness owns the budget"
                        )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name in {"evaluate_bpb", "evaluate"}:
                self.found.append(
                    f"{at}defines its own evaluation ({node.name}); the harness evaluates"
                )
        elif isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            clocked = any(
                self._reads_clock(p)
                or any(isinstance(n, ast.Name) and n.id in self.clock_values for n in ast.walk(p))
                for p in parts
            )
            if clocked:
                self.found.append(
                    f"{at}stops on its own clock (compares a time reading); "
                    "the harness's run.training() decides when training ends"
                )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for literal, problem in _SUMMARY_LITERALS:
                if literal in node.value:
                    self.found.append(f"{at}{problem}; the harness writes the summary")


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _assigned_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for elt in target.elts for name in _assigned_names(elt)]
    return []


def _line_key(problem: str) -> tuple[int, str]:
    match = re.match(r"line (\d+):", problem)
    return (int(match.group(1)) if match else 0, problem)
