"""Workspaces: one git repository per (agent, run), holding what the agent may see.

A workspace holds ``train.py`` (the file the agent edits), ``program.md``
(the protocol) and ``run_experiment`` (the entry point that asks the harness
to run an experiment), committed together as the first commit. Each
experiment commits ``train.py`` (and nothing else) and gets a ref
``refs/hpdream/experiments/<index>``, so that the commit of every experiment
stays reachable after the workspace is reset past it.

Git runs with a configuration of its own: no user or system config, no
hooks (an agent could otherwise plant a hook that the harness would run), no
signing, a fixed author.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from hpdream_core import HpdreamError

TRAIN_PY = "train.py"
PROGRAM_MD = "program.md"
RUN_EXPERIMENT = "run_experiment"
EXPERIMENT_REF = "refs/hpdream/experiments"
#: files of the harness in each workspace (the agent must not change them)
HARNESS_FILES = (PROGRAM_MD, RUN_EXPERIMENT, ".gitignore")

_GITIGNORE = "__pycache__/\n*.pyc\n"


class WorkspaceError(HpdreamError):
    """A workspace cannot be made, read or reset (the git command and its output say why)."""


@attrs.frozen
class Diff:
    """A change of train.py: the unified diff and its line counts."""

    text: str
    added: int
    removed: int


def diff_sources(old: str, new: str, name: str = TRAIN_PY) -> Diff:
    """The unified diff of two versions of a file, with lines added and removed."""
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return Diff(text, added, removed)


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "hpdream",
            "GIT_AUTHOR_EMAIL": "hpdream@localhost",
            "GIT_COMMITTER_NAME": "hpdream",
            "GIT_COMMITTER_EMAIL": "hpdream@localhost",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    return env


_GIT_CONFIG = (
    "-c",
    f"core.hooksPath={os.devnull}",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.autocrlf=false",
    "-c",
    "gc.auto=0",
)


class Workspace:
    """One agent run's git repository."""

    def __init__(self, path: str | Path, *, git: str = "git") -> None:
        self.path = Path(path)
        self.git_executable = git
        self._env = _git_env()

    # -- git --------------------------------------------------------------------------

    def git(self, *args: str, check: bool = True, input: str | None = None) -> str:
        """Run git in the workspace; its stdout. A failure is a :class:`WorkspaceError`."""
        try:
            proc = subprocess.run(
                [self.git_executable, *_GIT_CONFIG, *args],
                cwd=self.path,
                env=self._env,
                input=input,
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise WorkspaceError(
                f"git is needed for workspaces but {self.git_executable!r} was not found; install git"
            ) from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise WorkspaceError(
                f"{self.path}: git {' '.join(args)} failed ({proc.returncode}): {detail}"
            )
        return proc.stdout

    @property
    def git_dir(self) -> Path:
        return self.path / ".git"

    def exists(self) -> bool:
        return (self.git_dir / "HEAD").is_file()

    # -- creating ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        train_py: str,
        files: Mapping[str, str],
        executables: Sequence[str] = (RUN_EXPERIMENT,),
        git: str = "git",
    ) -> Workspace:
        """A new repository at ``path`` with ``train.py`` and ``files``, committed once.

        A folder left by an interrupted creation (no commit yet) is cleared first.
        """
        ws = cls(path, git=git)
        if ws.path.exists():
            if ws.exists() and ws.git("rev-parse", "--verify", "-q", "HEAD", check=False).strip():
                raise WorkspaceError(f"{ws.path} is already a workspace")
            shutil.rmtree(ws.path)
        ws.path.mkdir(parents=True)
        ws.git("init", "-q", "-b", "main")
        ws.write_train_py(train_py)
        contents = {".gitignore": _GITIGNORE, **files}
        for name, text in contents.items():
            target = ws.path / name
            target.write_text(text, encoding="utf-8")
            if name in executables:
                target.chmod(0o755)
        ws.git("add", "--", TRAIN_PY, *contents)
        ws.git("commit", "-q", "-m", "hpdream workspace: baseline train.py and the protocol")
        return ws

    # -- files ------------------------------------------------------------------------

    @property
    def train_py(self) -> Path:
        return self.path / TRAIN_PY

    def read_train_py(self) -> str:
        try:
            return self.train_py.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise WorkspaceError(f"{self.train_py} is missing") from None
        except UnicodeDecodeError as exc:
            raise WorkspaceError(f"{self.train_py} is not UTF-8 text ({exc.reason})") from None

    def write_train_py(self, source: str) -> None:
        """Replace train.py (written to a temporary file, then renamed: never half-written)."""
        tmp = self.path / f".{TRAIN_PY}.tmp"
        tmp.write_text(source, encoding="utf-8")
        os.replace(tmp, self.train_py)

    def show(self, commit: str, name: str = TRAIN_PY) -> str:
        """The text of ``name`` at ``commit``."""
        return self.git("show", f"{commit}:{name}")

    # -- experiments ------------------------------------------------------------------

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def has_commit(self, commit: str) -> bool:
        out = self.git("cat-file", "-t", commit, check=False).strip()
        return out == "commit"

    def commit_experiment(self, index: int, description: str, hypothesis: str | None = None) -> str:
        """Commit train.py as experiment ``index`` (an empty commit when unchanged); its id."""
        if self.train_py.is_symlink() or not self.train_py.is_file():
            raise WorkspaceError(f"{self.train_py} is missing or not a regular file")
        self.git("add", "--", TRAIN_PY)
        title = description.strip().splitlines()[0] if description.strip() else "(no description)"
        message = f"experiment {index}: {title[:200]}\n"
        if hypothesis:
            message += f"\nHypothesis: {hypothesis}\n"
        self.git("commit", "-q", "--allow-empty", "--no-verify", "-F", "-", input=message)
        commit = self.head()
        self.git("update-ref", f"{EXPERIMENT_REF}/{index:04d}", commit)
        return commit

    def experiment_commit(self, index: int) -> str | None:
        out = self.git(
            "rev-parse", "--verify", "-q", f"{EXPERIMENT_REF}/{index:04d}", check=False
        ).strip()
        return out or None

    def reset(self, commit: str) -> None:
        """Make the workspace exactly ``commit``'s tracked files (HEAD moves there).

        Untracked files the agent made are left alone; a lock left by a killed
        git is removed first (only the harness runs git here).
        """
        self.clear_stale_lock()
        self.git("reset", "-q", "--hard", commit)

    def clear_stale_lock(self) -> None:
        for name in ("index.lock", "HEAD.lock"):
            lock = self.git_dir / name
            if lock.exists():
                lock.unlink()
        refs = self.git_dir / "refs"
        if refs.is_dir():
            for lock in refs.rglob("*.lock"):
                lock.unlink()

    def is_clean(self) -> bool:
        """No tracked file differs from HEAD."""
        return not self.git("status", "--porcelain", "--untracked-files=no").strip()
