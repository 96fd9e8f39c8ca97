"""``hpdream-run agents``: the agent adapters, whether each is usable here, and their options."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "agents",
        help="list the agent adapters, whether each is usable here, and their options",
        description=(
            "List the external agents (coding-agent CLIs and HTTP model APIs): whether each "
            "is usable on this machine (executable found, API key present), and their options. "
            "Name agents to show only those, with every option."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="show these adapters in full")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--prices", type=Path, metavar="FILE", help="price table to check models against"
    )
    p.set_defaults(func=run)


def _option_rows(options: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": o.name,
            "type": o.type,
            "default": o.describe_default(),
            "help": o.help,
            **({"choices": list(o.choices)} if o.choices else {}),
        }
        for o in options
    ]


def describe_adapters(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """One dict per registered adapter: name, mode, usable, why not, keys, options."""
    from hpdream_runner.agents import agent_specs
    from hpdream_runner.agents.cli import CLI_ADAPTERS
    from hpdream_runner.agents.http import PROVIDERS

    out: list[dict[str, Any]] = []
    for spec in agent_specs():
        row: dict[str, Any] = {
            "name": spec.name,
            "mode": spec.mode,
            "title": spec.summary,
            "needs_network": spec.needs_network,
            "options": _option_rows(spec.options),
        }
        if spec.name in CLI_ADAPTERS:
            cls = CLI_ADAPTERS[spec.name]
            adapter = cls()
            u = adapter.usability(environ)
            row.update(
                kind="autonomous (CLI)",
                problems=list(u.problems),
                where=u.executable or adapter.executable,
                key_env=list(adapter.key_env_names()),
                key_present=u.key_present,
                cost="reported by the CLI" if cls.reports_cost else "from the price table",
            )
        elif spec.name in PROVIDERS:
            pcls = PROVIDERS[spec.name]
            keys = pcls().key_env_names()
            present = any(environ.get(k, "").strip() for k in keys)
            problems = (
                [] if present or not pcls.requires_key else [f"no API key in {' or '.join(keys)}"]
            )
            row.update(
                kind="stepwise (HTTP)",
                problems=problems,
                where=pcls.default_base_url or "needs option base_url (the server's /v1 URL)",
                key_env=list(keys),
                key_present=present,
                cost="from the price table",
            )
        else:
            row.update(
                kind=f"{spec.mode} (built-in)",
                problems=spec.problems(),
                where="offline",
                key_env=[],
                key_present=False,
                cost="none",
            )
        row["usable"] = not row["problems"]
        out.append(row)
    return out


def run(args: argparse.Namespace) -> int:
    from hpdream_runner.agents.options import AgentConfigError
    from hpdream_runner.agents.pricing import PriceTable

    prices = PriceTable.load(args.prices)
    rows = describe_adapters(os.environ)
    if args.names:
        known = {r["name"] for r in rows}
        unknown = [n for n in args.names if n not in known]
        if unknown:
            raise AgentConfigError(f"unknown agents {unknown} (known: {sorted(known)})")
        rows = [r for r in rows if r["name"] in args.names]
    priced = {
        name: {
            "input": p.rates.input,
            "output": p.rates.output,
            "cached_input": p.rates.cached_input,
        }
        for name, p in sorted(prices.models.items())
    }
    if args.json:
        json.dump({"agents": rows, "prices_usd_per_million_tokens": priced}, sys.stdout, indent=2)
        print()
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        status = "usable" if r["usable"] else "not usable: " + "; ".join(r["problems"])
        print(f"{r['name']:<{width}}  {r['kind']:<19} {r['title']}")
        print(f"{'':<{width}}  {status}")
        if r["key_env"]:
            key = f"key: {' or '.join(r['key_env'])} ({'set' if r['key_present'] else 'not set'})"
            print(f"{'':<{width}}  {key}; {r['where']}; cost {r['cost']}")
        if args.names:
            for o in r["options"]:
                choices = f" [{'|'.join(o['choices'])}]" if "choices" in o else ""
                print(
                    f"{'':<{width}}    {o['name']} ({o['type']}, default {o['default']}){choices}: {o['help']}"
                )
        else:
            names = ", ".join(o["name"] for o in r["options"])
            print(f"{'':<{width}}  options: {names}")
        print()
    print("prices (USD per million tokens, input / cached input / output):")
    for name, p in priced.items():
        print(f"  {name}: {p['input']:g} / {p['cached_input']:g} / {p['output']:g}")
    if not args.names:
        print("\nhpdream-run agents NAME shows every option of NAME.")
    return 0
