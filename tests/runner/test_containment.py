"""Containment: the agent's environment, the harness guard, and cheating agents caught in a study."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import read_log
from hpdream_runner.agents.containment import (
    ContainmentError,
    ContainmentGuard,
    HarnessGuard,
    agent_environment,
    containment_guard,
    describe_violations,
    find_secrets,
    harness_code_dirs,
)
from hpdream_runner.agents.redact import REDACTED, Redactor

FAKES = Path(__file__).resolve().parent / "fakes"
KEY = "sk-ant-api03-dGhpcyBpcyBub3QgYSByZWFsIGtleQ"


# -- the agent's environment ------------------------------------------------------------------


def test_agent_environment_is_built_from_nothing(tmp_path: Path) -> None:
    harness_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/root",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "OPENAI_API_KEY": "sk-other-agents-key-0123456789",
        "GITHUB_TOKEN": "ghp_x",
        "LANG": "en_GB.UTF-8",
        "VIRTUAL_ENV": "/work/.venv",
    }
    env = agent_environment(
        home=tmp_path / "home",
        keys={"ANTHROPIC_API_KEY": KEY},
        extra={"HPDREAM_RUN_SOCKET": "/tmp/s.sock"},
        inherit=harness_env,
    )
    assert env["HOME"] == str(tmp_path / "home") != harness_env["HOME"]
    assert env["PATH"] == harness_env["PATH"]
    assert env["ANTHROPIC_API_KEY"] == KEY
    assert env["HPDREAM_RUN_SOCKET"] == "/tmp/s.sock"
    assert env["LANG"] == "en_GB.UTF-8"
    for name in ("AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "VIRTUAL_ENV"):
        assert name not in env
    assert set(env) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "TERM",
        "NO_COLOR",
        "LANG",
        "SHELL",
        "ANTHROPIC_API_KEY",
        "HPDREAM_RUN_SOCKET",
    }
    assert Path(env["TMPDIR"]).is_dir()


# -- the guard --------------------------------------------------------------------------------


def layout(tmp_path: Path) -> dict[str, Path]:
    harness = tmp_path / "harness"
    (harness / "pkg").mkdir(parents=True)
    (harness / "pkg" / "evaluate.py").write_text("def evaluate(): return 1.0\n")
    (harness / "pkg" / "__pycache__").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "val.bin").write_bytes(bytes(range(256)) * 64)
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "train.py").write_text("DEPTH = 4\n")
    (ws / "run_experiment").write_text("#!/bin/sh\necho run\n")
    log = tmp_path / "out" / "experiments.csv"
    log.parent.mkdir()
    log.write_text("study,agent\n")
    return {"harness": harness, "data": data, "ws": ws, "log": log}


def no_budget(source: str) -> list[str]:
    return ["defines its own time budget (TIME_BUDGET)"] if "TIME_BUDGET" in source else []


def make_guard(p: dict[str, Path]) -> HarnessGuard:
    guard = HarnessGuard(
        workspace=p["ws"],
        protected=[p["harness"], p["data"]],
        log_path=p["log"],
        workspace_files=["run_experiment"],
        check_train_py=no_budget,
    )
    guard.snapshot()
    return guard


def test_an_untouched_run_passes(tmp_path: Path) -> None:
    p = layout(tmp_path)
    guard = make_guard(p)
    assert guard.verify() == []
    # the harness appends a row, then tells the guard
    with p["log"].open("a") as fh:
        fh.write("s,a\n")
    guard.refresh()
    assert guard.verify() == []
    # Python's own caches in harness folders are not the agent's doing
    (p["harness"] / "pkg" / "__pycache__" / "evaluate.cpython-311.pyc").write_bytes(b"\0")
    assert guard.verify() == []


@pytest.mark.parametrize(
    ("attack", "kind"),
    [
        ("edit_harness", "harness_modified"),
        ("delete_harness", "harness_missing"),
        ("add_harness", "harness_added"),
        ("symlink_harness", "harness_modified"),
        ("edit_data", "harness_modified"),
        ("append_log", "log_modified"),
        ("rewrite_log", "log_modified"),
        ("replace_log", "log_modified"),
        ("edit_run_experiment", "workspace_file"),
        ("raise_budget", "train_py"),
        ("symlink_train", "train_py"),
    ],
)
def test_every_breach_is_caught_and_only_the_harness_own_files_restored(
    tmp_path: Path, attack: str, kind: str
) -> None:
    p = layout(tmp_path)
    guard = make_guard(p)
    evaluate = p["harness"] / "pkg" / "evaluate.py"
    original = {
        f: f.read_bytes()
        for f in (evaluate, p["data"] / "val.bin", p["log"], p["ws"] / "run_experiment")
    }
    if attack == "edit_harness":
        evaluate.write_text("def evaluate(): return 0.5\n")
    elif attack == "delete_harness":
        evaluate.unlink()
    elif attack == "add_harness":
        (p["harness"] / "pkg" / "sitecustomize.py").write_text("import os\n")
    elif attack == "symlink_harness":
        evaluate.unlink()
        (tmp_path / "elsewhere.py").write_text("def evaluate(): return 1.0\n")
        evaluate.symlink_to(tmp_path / "elsewhere.py")
    elif attack == "edit_data":
        with (p["data"] / "val.bin").open("r+b") as fh:
            fh.write(b"\xff")
    elif attack == "append_log":
        with p["log"].open("a") as fh:
            fh.write("s,fake-row\n")
    elif attack == "replace_log":
        fresh = p["log"].with_name("fresh.csv")
        fresh.write_bytes(p["log"].read_bytes())
        fresh.replace(p["log"])  # same content, another file
    elif attack == "rewrite_log":
        p["log"].write_text("study,agent\ns,only-good-rows\n")
    elif attack == "edit_run_experiment":
        (p["ws"] / "run_experiment").write_text("#!/bin/sh\necho 'val_bpb 0.1'\n")
    elif attack == "raise_budget":
        (p["ws"] / "train.py").write_text("DEPTH = 4\nTIME_BUDGET = 3000\n")
    elif attack == "symlink_train":
        (tmp_path / "other.py").write_text("DEPTH = 4\n")
        (p["ws"] / "train.py").unlink()
        (p["ws"] / "train.py").symlink_to(tmp_path / "other.py")
    found = guard.verify()
    assert [v.kind for v in found] == [kind], found
    assert describe_violations(found).startswith("containment violation: " + kind)
    restored = guard.restore()
    if kind in ("log_modified", "workspace_file") and attack != "replace_log":
        # the files the harness writes itself are put back, and the next check passes
        assert restored
        for f, data in original.items():
            assert f.read_bytes() == data and not f.is_symlink()
        assert guard.verify() == []
    elif attack == "replace_log":
        # the guard cannot repair a replaced log: the harness's LogWriter takes it back
        # on its next append (tests/core/test_csvlog.py)
        assert "replaced by another file" in found[0].detail
        assert [v.kind for v in guard.verify()] == [kind]
    else:
        # code, data and train.py are never written by the guard: the breach stands
        assert restored == []
        assert [v.kind for v in guard.verify()] == [kind]
    if attack == "add_harness":
        assert (p["harness"] / "pkg" / "sitecustomize.py").exists()


def test_the_log_and_harness_must_live_outside_the_workspace(tmp_path: Path) -> None:
    p = layout(tmp_path)
    inside = HarnessGuard(
        workspace=p["ws"], protected=[p["harness"]], log_path=p["ws"] / "experiments.csv"
    )
    with pytest.raises(ContainmentError, match="outside the agent's workspace"):
        inside.snapshot()
    (p["ws"] / "harness").mkdir()
    with pytest.raises(ContainmentError, match="outside"):
        HarnessGuard(workspace=p["ws"], protected=[p["ws"] / "harness"]).snapshot()
    with pytest.raises(ContainmentError, match="does not exist"):
        HarnessGuard(workspace=p["ws"], protected=[tmp_path / "nope"]).snapshot()


def test_the_orchestrator_guard_protects_hpdream_code_by_default(tmp_path: Path) -> None:
    from hpdream_runner.study import GuardContext, default_guard

    p = layout(tmp_path)
    context = GuardContext(
        study="s",
        label="a",
        run=0,
        workspace=p["ws"],
        log_path=p["log"],
        run_dir=tmp_path / "run",
        harness_files=(p["ws"] / "run_experiment",),
    )
    guard = default_guard(context)
    assert isinstance(guard, ContainmentGuard)
    protected = set(guard.guard.protected)
    assert set(harness_code_dirs()) <= protected
    names = {p.name for p in protected}
    assert {"hpdream_core", "training", "data", "__init__.py"} <= names
    assert not names & {"agents", "study", "commands"}  # the orchestrator's own, loaded at start
    assert guard.before_experiment("DEPTH = 4\n")  # not a harness train.py: check_train_py objects
    (p["ws"] / "run_experiment").write_text("cheat")
    problems = guard.before_experiment("x = 1\n")
    assert any(line.startswith("workspace_file") for line in problems)
    assert (p["ws"] / "run_experiment").read_text() == "#!/bin/sh\necho run\n"


def test_find_secrets_and_redaction(tmp_path: Path) -> None:
    red = Redactor([KEY])
    (tmp_path / "clean.jsonl").write_text('{"text": "nothing here"}\n')
    (tmp_path / "leak.txt").write_text(f"the key is {KEY}\n")
    (tmp_path / "other.txt").write_text("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123\n")
    assert sorted(p.name for p in find_secrets([tmp_path], red)) == ["leak.txt", "other.txt"]
    assert red.redact(f"x-api-key: {KEY}") == f"x-api-key: {REDACTED}"
    assert red.redact_obj({"k": [KEY, {"n": KEY}]}) == {"k": [REDACTED, {"n": REDACTED}]}


@given(
    st.text(min_size=0, max_size=40),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=60),
)
def test_a_registered_secret_never_survives_redaction(text: str, secret: str) -> None:
    red = Redactor([secret])
    out = red.redact(text + secret + text + secret)
    assert secret not in out


# -- cheating agents in a study ---------------------------------------------------------------


def run_study(
    tmp_path: Path, cli: str, cheat: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Path]:
    from hpdream_runner.study import Study, parse_study

    harness = tmp_path / "harness"
    harness.mkdir()
    (harness / "evaluate.py").write_text("def evaluate(): ...\n")
    out = tmp_path / "out"
    target = {
        "harness": harness / "evaluate.py",
        "log": out / "experiments.csv",
        "budget": Path(""),
    }[cheat]
    fake = {"claude-code": "fake_claude.py", "codex": "fake_codex.py", "gemini": "fake_gemini.py"}[
        cli
    ]
    data = {
        "name": "cheats",
        "experiments": 4,
        "training": {"preset": "cpu-tiny", "trainer": "synthetic"},
        "agents": [
            {
                "adapter": cli,
                "label": f"cheater-{cli}",
                "options": {
                    "executable": str(FAKES / fake),
                    "relaunch_delay": 0.0,
                    "env": {
                        "FAKE_RUN": json.dumps(
                            ["./run_experiment", "{description}", "--hypothesis", "{hypothesis}"]
                        ),
                        "FAKE_EXPERIMENTS": "3",
                        "FAKE_CHEAT": cheat,
                        "FAKE_TARGET": str(target),
                    },
                },
                "limits": {"max_seconds": 60},
            }
        ],
    }
    config = parse_study(data, base_dir=tmp_path, output=out)
    key_env = {
        "claude-code": "ANTHROPIC_API_KEY",
        "codex": "OPENAI_API_KEY",
        "gemini": "GEMINI_API_KEY",
    }[cli]
    monkeypatch.setenv(key_env, KEY)  # the harness's environment holds the agent's key
    guard = functools.partial(containment_guard, protected=[harness])
    result = Study(config, guard=guard, handle_signals=False).run()
    return result, harness


@pytest.mark.parametrize("cheat", ["harness", "log", "budget"])
@pytest.mark.parametrize("cli", ["claude-code", "codex", "gemini"])
def test_a_cheating_cli_agent_is_caught_every_time(
    tmp_path: Path, cli: str, cheat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, harness = run_study(tmp_path, cli, cheat, monkeypatch)
    rows = read_log(result.log_path).experiments  # the log is still a valid log
    assert [r.index for r in rows] == [0, 1, 2, 3]
    first = rows[1]
    assert first.status == "crash" and first.val_bpb is None
    assert first.error is not None and first.error.startswith("violation:")
    expected = {"harness": "harness_modified", "log": "log_modified", "budget": "time budget"}[
        cheat
    ]
    assert expected in first.error
    if cheat == "harness":
        # a changed harness is not undone by the guard: nothing counts until it is reverted
        assert all(r.status == "crash" and expected in (r.error or "") for r in rows[1:])
        assert (harness / "evaluate.py").read_text() != "def evaluate(): ...\n"
    else:
        # the cheat did not count; the log was restored (or train.py reset) and the run went on
        assert all(r.status != "crash" for r in rows[2:])
    assert "x,y,z" not in result.log_path.read_text()
    assert KEY not in result.log_path.read_text()
    for path in (result.output / "runs").rglob("*"):
        if path.is_file() and not path.name.startswith("fake-"):
            assert KEY not in path.read_text(errors="replace"), path
