"""Containment of agents: what they may see, and proof that they did not cheat.

An agent works in its workspace and nowhere else:

- its process starts in the workspace with an environment built from
  nothing (:func:`agent_environment`): a PATH, a private HOME outside the
  workspace, its own API key and what the adapter names, never the harness's
  environment (other keys, tokens, cloud credentials);
- the harness code, the experiments CSV and the evaluation data live outside
  the workspace (:meth:`HarnessGuard.check_layout` refuses a run otherwise);
- before each experiment the harness calls :meth:`HarnessGuard.verify`: its
  own files (hashed when the run started), the experiments CSV (hashed after
  each row the harness wrote) and the harness files placed in the workspace
  (the ``run_experiment`` entry point, the protocol) must be unchanged, and
  ``train.py`` must still use the harness's evaluation and budget
  (``check_train_py``). Any breach is a :class:`Violation`; the experiment is
  logged as such and does not count. :meth:`HarnessGuard.restore` puts back
  the files the harness writes itself (the CSV, the workspace's harness
  files); a change to the harness's code or data is never undone (it may be
  someone's own edit): it keeps every later experiment from counting until
  it is reverted.

Not covered (see docs/agents.md): an agent running as the same OS user can
still reach files outside the workspace by absolute path if its CLI lets it;
the CLI sandboxes (Codex ``workspace-write``, Claude Code and Gemini CLI
permission modes) and these after-the-fact checks are the defences, not an
OS-level jail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from hpdream_core import HpdreamError
from hpdream_runner.agents.redact import Redactor

#: Files up to this size have their bytes kept, so that they can be restored.
KEEP_BYTES_LIMIT: Final = 16 * 1024 * 1024

#: Directory names skipped when hashing a protected folder (written by Python itself).
_SKIP_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})

#: Environment variables passed to agents when the harness has them (locale and terminal only).
_PASSED_IF_SET: Final = ("LANG", "LC_ALL", "TZ")


class ContainmentError(HpdreamError):
    """A run cannot be contained as configured (e.g. the log lies inside the workspace)."""


@attrs.frozen
class Violation:
    """One breach of containment found before an experiment."""

    kind: str  # harness_modified / harness_missing / harness_added / log_modified / train_py / workspace_file
    path: str
    detail: str

    def describe(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


def describe_violations(violations: Iterable[Violation]) -> str:
    """One line for the ``error`` column of the experiment that does not count."""
    parts = [v.describe() for v in violations]
    return "containment violation: " + "; ".join(parts) if parts else ""


def agent_environment(
    *,
    home: str | Path,
    keys: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    path: str | None = None,
    inherit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of an agent process, built from nothing.

    ``home`` becomes HOME (and holds TMPDIR): give each agent run its own
    folder outside the workspace, where its CLI keeps sessions and settings.
    ``keys`` are the agent's own API keys (and nothing else secret); ``extra``
    what its adapter needs (e.g. a settings switch). PATH is ``path`` or the
    harness's PATH; locale variables are copied from ``inherit`` (default: the
    harness's environment); nothing else is.
    """
    source = os.environ if inherit is None else inherit
    home_dir = Path(home)
    tmp = home_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {
        "PATH": path if path is not None else source.get("PATH", os.defpath),
        "HOME": str(home_dir),
        "TMPDIR": str(tmp),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
    }
    shell = shutil.which("bash", path=env["PATH"]) or shutil.which("sh", path=env["PATH"])
    if shell:
        env["SHELL"] = shell
    for name in _PASSED_IF_SET:
        if name in source:
            env[name] = source[name]
    for name, value in (extra or {}).items():
        env[name] = str(value)
    for name, value in (keys or {}).items():
        env[name] = value
    return env


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _walk_files(root: Path) -> list[Path]:
    if root.is_file() or root.is_symlink():
        return [root]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            out.append(Path(dirpath) / name)
    return out


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


@attrs.frozen
class _Entry:
    digest: str
    data: bytes | None  # kept for restoring, when small enough
    inode: int = 0


class HarnessGuard:
    """Hashes what the agent must not touch, and checks it before each experiment.

    ``protected``: the harness's files and folders outside the workspace
    (its code, the evaluation data, the preset). ``log_path``: the experiments
    CSV, outside the workspace, whose only writer is the harness (call
    :meth:`refresh` after each row). ``workspace_files``: harness files placed
    inside the workspace (the ``run_experiment`` entry point, the protocol).
    ``check_train_py``: ``source -> problems`` (the model helper's check that
    train.py still uses the harness's evaluation and budget); ``None`` skips it.
    """

    def __init__(
        self,
        *,
        workspace: str | Path,
        protected: Iterable[str | Path] = (),
        log_path: str | Path | None = None,
        workspace_files: Iterable[str | Path] = (),
        train_py: str = "train.py",
        check_train_py: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.protected = tuple(Path(p).resolve() for p in protected)
        self.log_path = None if log_path is None else Path(log_path).resolve()
        self.workspace_files = tuple(
            (self.workspace / p).resolve() if not Path(p).is_absolute() else Path(p).resolve()
            for p in workspace_files
        )
        self.train_py = self.workspace / train_py
        self._check_train_py = check_train_py
        self._entries: dict[Path, _Entry] = {}
        self._roots: dict[Path, frozenset[Path]] = {}

    # -- setup ----------------------------------------------------------------------------

    def check_layout(self) -> None:
        """Refuse a run whose harness files, log or data sit inside the workspace."""
        inside = [p for p in self.protected if _inside(p, self.workspace)]
        if self.log_path is not None and _inside(self.log_path, self.workspace):
            inside.append(self.log_path)
        if inside:
            names = ", ".join(str(p) for p in inside)
            raise ContainmentError(
                f"these must live outside the agent's workspace {self.workspace}: {names}"
            )
        for p in self.protected:
            if not p.exists():
                raise ContainmentError(f"protected path {p} does not exist")
        outside = [p for p in self.workspace_files if not _inside(p, self.workspace)]
        if outside:
            raise ContainmentError(
                "workspace_files must lie inside the workspace: " + ", ".join(map(str, outside))
            )

    def snapshot(self) -> None:
        """Hash (and keep, when small) every protected file; call once before the agent starts."""
        self.check_layout()
        self._entries.clear()
        self._roots.clear()
        for root in self.protected:
            files = _walk_files(root)
            self._roots[root] = frozenset(files)
            for f in files:
                self._remember(f)
        for f in self.workspace_files:
            if f.exists():
                self._remember(f)
        if self.log_path is not None and self.log_path.exists():
            self._remember(self.log_path)

    def _remember(self, path: Path) -> None:
        size = path.stat().st_size
        data = path.read_bytes() if size <= KEEP_BYTES_LIMIT else None
        digest = hashlib.sha256(data).hexdigest() if data is not None else _digest(path)
        self._entries[path] = _Entry(digest, data, path.stat().st_ino)

    def refresh(self, path: str | Path | None = None) -> None:
        """Re-hash a file the harness itself just wrote (by default the experiments CSV)."""
        target = self.log_path if path is None else Path(path).resolve()
        if target is None:
            return
        if target.exists():
            self._remember(target)
        else:
            self._entries.pop(target, None)

    # -- checks ---------------------------------------------------------------------------

    def _changed(self, path: Path, kind: str) -> Violation | None:
        entry = self._entries.get(path)
        if entry is None:
            return None
        if not path.exists():
            return Violation(
                "harness_missing" if kind != "log_modified" else kind, str(path), "deleted"
            )
        if path.is_symlink():
            return Violation(kind, str(path), "replaced by a symbolic link")
        if path.stat().st_ino != entry.inode:
            return Violation(kind, str(path), "replaced by another file")
        if _digest(path) != entry.digest:
            return Violation(kind, str(path), "contents changed")
        return None

    def verify(self, train_py_source: str | None = None) -> list[Violation]:
        """Every breach found now; empty when the experiment may run.

        ``train_py_source``: the train.py about to be trained (read from the
        workspace when not given).
        """
        found: list[Violation] = []
        for root, files in self._roots.items():
            for f in sorted(files):
                v = self._changed(f, "harness_modified")
                if v is not None:
                    found.append(v)
            now = frozenset(_walk_files(root)) if root.exists() else frozenset()
            for f in sorted(now - files):
                found.append(
                    Violation("harness_added", str(f), "file appeared in a harness folder")
                )
        for f in self.workspace_files:
            v = self._changed(f, "workspace_file")
            if v is not None:
                found.append(v)
        if self.log_path is not None:
            if self.log_path in self._entries:
                v = self._changed(self.log_path, "log_modified")
                if v is not None:
                    found.append(v)
            elif self.log_path.exists() and self.log_path.stat().st_size > 0:
                found.append(
                    Violation(
                        "log_modified",
                        str(self.log_path),
                        "written by someone other than the harness",
                    )
                )
        found.extend(self._check_train(train_py_source))
        return found

    def _check_train(self, source: str | None) -> list[Violation]:
        train = self.train_py
        if train.is_symlink():
            return [Violation("train_py", str(train), "train.py is a symbolic link")]
        if source is None:
            if not train.is_file():
                return [Violation("train_py", str(train), "train.py is missing")]
            source = train.read_text(encoding="utf-8", errors="replace")
        if self._check_train_py is None:
            return []
        return [
            Violation("train_py", str(train), problem) for problem in self._check_train_py(source)
        ]

    def restore(self) -> list[Path]:
        """Put back the files the harness itself writes: the experiments CSV and its workspace files.

        Returns the paths restored. The protected folders (hpdream's code,
        the evaluation data) are never written to: a change there may be
        someone's own edit, and undoing it silently would lose work. Their
        violation stands instead, so that no experiment counts until they
        are as they were when the run started.
        """
        done: list[Path] = []
        for path in self._restorable():
            entry = self._entries[path]
            if entry.data is None:
                continue
            if path.exists() and not path.is_symlink() and _digest(path) == entry.digest:
                continue
            if path.is_symlink():
                path.unlink()
            path.parent.mkdir(parents=True, exist_ok=True)
            if path == self.log_path and path.exists():
                # write into the same file: the harness appends through an open handle
                with path.open("r+b") as fh:
                    fh.write(entry.data)
                    fh.truncate()
            else:
                path.write_bytes(entry.data)
            done.append(path)
        return done

    def _restorable(self) -> list[Path]:
        candidates = [*self.workspace_files, *([self.log_path] if self.log_path else [])]
        return [p for p in candidates if p in self._entries]


def find_secrets(paths: Iterable[str | Path], redactor: Redactor) -> list[Path]:
    """Files (searched recursively) that hold anything ``redactor`` would redact.

    A check for the end of a run: transcripts, logs and reports must be free
    of keys. Binary files are read as UTF-8 with replacement.
    """
    hits: list[Path] = []
    for p in paths:
        for f in _walk_files(Path(p)):
            if not f.is_file():
                continue
            text = f.read_bytes().decode("utf-8", errors="replace")
            if redactor.contains_secret(text):
                hits.append(f)
    return hits


#: Parts of hpdream_runner that run only in the orchestrator's own process (loaded when
#: the study starts), never in an experiment: left out of the default protected set.
ORCHESTRATOR_ONLY: Final = frozenset(
    {"agents", "study", "commands", "cli.py", "__main__.py", "_labels.py"}
)


def harness_code_dirs() -> tuple[Path, ...]:
    """hpdream's code that an experiment runs: ``hpdream_core`` and ``hpdream_runner``'s training side.

    The experiment's process imports ``hpdream_core`` and ``hpdream_runner``
    (its training harness, model, data and templates), so a change anywhere
    there could change what is measured. The orchestrator-only parts (the
    agents, the study loop, the commands) were loaded when the study started
    and are left out.
    """
    import hpdream_core
    import hpdream_runner

    paths: list[Path] = []
    if hpdream_core.__file__:
        paths.append(Path(hpdream_core.__file__).resolve().parent)
    if hpdream_runner.__file__:
        runner = Path(hpdream_runner.__file__).resolve().parent
        for child in sorted(runner.iterdir()):
            if child.name in ORCHESTRATOR_ONLY or child.name in _SKIP_DIRS:
                continue
            paths.append(child)
    return tuple(paths)


class ContainmentGuard:
    """The study orchestrator's run guard (its ``RunGuard`` protocol) built on :class:`HarnessGuard`.

    ``before_experiment`` returns every violation as one line (the
    orchestrator logs the experiment as a ``crash`` whose error starts with
    ``violation:``, so it does not count) and restores what it can;
    ``after_experiment`` re-hashes the experiments CSV the harness has just
    appended to.
    """

    def __init__(self, guard: HarnessGuard) -> None:
        self.guard = guard
        self.restored: list[Path] = []
        guard.snapshot()

    def before_experiment(self, train_py: str) -> list[str]:
        found = self.guard.verify(train_py)
        if any(v.kind != "train_py" for v in found):
            self.restored.extend(self.guard.restore())
        return [v.describe() for v in found]

    def after_experiment(self) -> None:
        self.guard.refresh()


def containment_guard(
    context: Any,
    *,
    check_train_py: Callable[[str], list[str]] | None = None,
    protected: Iterable[str | Path] | None = None,
    data_dirs: Iterable[str | Path] = (),
) -> ContainmentGuard:
    """A :class:`ContainmentGuard` for one run of a study.

    ``context`` is the orchestrator's ``GuardContext`` (workspace, log_path,
    harness_files). ``protected`` defaults to hpdream's own code
    (:func:`harness_code_dirs`); ``data_dirs`` (the evaluation data) are
    added to it. ``check_train_py`` defaults to
    ``hpdream_runner.training.check_train_py``.
    """
    if check_train_py is None:
        from hpdream_runner.training import check_train_py as default_check

        check_train_py = default_check
    paths = [*(harness_code_dirs() if protected is None else protected), *data_dirs]
    workspace = Path(context.workspace)
    # a harness folder that holds the workspace (a study run inside a source checkout)
    # is protected file by file outside the workspace only
    roots = [Path(p) for p in paths if not _inside(workspace, Path(p))]
    guard = HarnessGuard(
        workspace=workspace,
        protected=roots,
        log_path=context.log_path,
        workspace_files=tuple(getattr(context, "harness_files", ())),
        check_train_py=check_train_py,
    )
    return ContainmentGuard(guard)
