"""``hpdream-run classify``: the category of an experiment description, with its evidence."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from hpdream_core import HpdreamError


class ClassifyError(HpdreamError, ValueError):
    """A bad ``hpdream-run classify`` invocation (a missing or unreadable train.py)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "classify",
        help="classify experiment descriptions (and train.py diffs) into the taxonomy",
        description=(
            "Print the category, subcategory, multi flag, parameter changes and the evidence that "
            "decided them, for each TEXT (an experiment description; '-' reads one description "
            "per line from standard input). With --old and --new the change between two train.py "
            "files decides and the text is checked against it."
        ),
    )
    p.add_argument(
        "texts", nargs="+", metavar="TEXT", help="a description, or - for one per line on stdin"
    )
    p.add_argument("--hypothesis", metavar="TEXT", help="the agent's hypothesis for the experiment")
    p.add_argument("--old", type=Path, metavar="TRAIN_PY", help="train.py before the experiment")
    p.add_argument("--new", type=Path, metavar="TRAIN_PY", help="train.py after the experiment")
    p.add_argument(
        "--taxonomy",
        type=Path,
        metavar="TOML",
        help="classify with this taxonomy (default: the built-in one)",
    )
    p.add_argument(
        "--json", action="store_true", help="print JSON (one object per text, in a list)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    from hpdream_core import Classifier, load_taxonomy

    out = stdout or sys.stdout
    if (args.old is None) != (args.new is None):
        raise ClassifyError("--old and --new go together: give both train.py files or neither")
    old_code = _read(args.old) if args.old else None
    new_code = _read(args.new) if args.new else None
    classifier = Classifier(load_taxonomy(args.taxonomy) if args.taxonomy else None)
    texts: list[str] = []
    for t in args.texts:
        if t == "-":
            texts.extend(line.rstrip("\n") for line in (stdin or sys.stdin) if line.strip())
        else:
            texts.append(t)
    results = []
    for text in texts:
        label = classifier.classify(
            text, hypothesis=args.hypothesis, old_code=old_code, new_code=new_code
        )
        results.append((text, label))
    if args.json:
        json.dump([_as_json(text, label) for text, label in results], out, indent=2)
        out.write("\n")
        return 0
    for i, (text, label) in enumerate(results):
        if i:
            out.write("\n")
        out.write(_as_text(text, label, classifier.taxonomy.name))
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClassifyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ClassifyError(f"{path}: not UTF-8 (byte {exc.start})") from None


def _value(v: object) -> str:
    return "?" if v is None else repr(v) if isinstance(v, str) else str(v)


def _as_text(text: str, label: Any, taxonomy: str) -> str:
    lines = [
        f"text:         {text}",
        f"category:     {label.category}",
        f"subcategory:  {label.subcategory or '-'}",
        f"multi:        {'yes' if label.multi else 'no'}",
    ]
    if label.params:
        changes = ", ".join(f"{p.name} {_value(p.old)} -> {_value(p.new)}" for p in label.params)
        lines.append(f"params:       {changes}")
    else:
        lines.append("params:       -")
    if label.disagreement:
        lines.append(f"disagreement: {label.disagreement}")
    lines.append(f"evidence ({taxonomy} taxonomy):")
    lines.extend(f"  {e}" for e in label.evidence)
    return "\n".join(lines) + "\n"


def _as_json(text: str, label: Any) -> dict[str, Any]:
    return {
        "text": text,
        "category": label.category,
        "subcategory": label.subcategory,
        "multi": label.multi,
        "params": [{"name": p.name, "old": p.old, "new": p.new} for p in label.params],
        "disagreement": label.disagreement,
        "evidence": list(label.evidence),
    }
