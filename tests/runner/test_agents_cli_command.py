"""``hpdream-run agents``: the adapters, whether each is usable here, and their options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hpdream_runner.commands.agents import describe_adapters

KEY = "sk-test-YWdlbnRzIGNvbW1hbmQga2V5IHRlc3Q"


def hpdream_run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpdream_runner", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_usability_follows_executables_and_keys(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "codex"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    rows = {r["name"]: r for r in describe_adapters({"PATH": str(bin_dir), "OPENAI_API_KEY": KEY})}
    assert rows["codex"]["usable"] and rows["codex"]["where"] == str(exe)
    assert not rows["claude-code"]["usable"]
    assert rows["claude-code"]["problems"] == [
        "executable 'claude' not found",
        "no API key in ANTHROPIC_API_KEY",
    ]
    assert rows["openai"]["usable"] and not rows["anthropic"]["usable"]
    assert rows["openai-compatible"]["usable"]  # a local server needs no key
    assert (
        rows["random-search"]["usable"] and rows["random-search"]["kind"] == "stepwise (built-in)"
    )
    assert {o["name"] for o in rows["gemini"]["options"]} >= {
        "model",
        "executable",
        "approval_mode",
        "allowed_tools",
    }


def test_the_command_lists_adapters_and_never_prints_a_key(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "ANTHROPIC_API_KEY": KEY, "HOME": str(tmp_path)}
    out = hpdream_run(["agents", "--json"], env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = {a["name"] for a in data["agents"]}
    assert {
        "claude-code",
        "codex",
        "gemini",
        "anthropic",
        "openai",
        "openai-compatible",
        "gemini-api",
    } <= names
    assert data["prices_usd_per_million_tokens"]["gpt-5.4"]["output"] == 15.0
    claude = next(a for a in data["agents"] if a["name"] == "claude-code")
    assert claude["key_present"] is True
    text = hpdream_run(["agents", "claude-code"], env)
    assert text.returncode == 0
    assert "permission_mode (str, default acceptEdits)" in text.stdout
    assert KEY not in out.stdout + text.stdout
    bad = hpdream_run(["agents", "no-such-agent"], env)
    assert bad.returncode == 2 and "unknown agents ['no-such-agent']" in bad.stderr


def test_a_bad_price_table_is_reported(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."m"]\ninput = -1\noutput = 2\n')
    out = hpdream_run(["agents", "--prices", str(prices)], {"PATH": os.environ.get("PATH", "")})
    assert out.returncode == 2
    assert f"{prices}: models.'m': input must be >= 0" in out.stderr
