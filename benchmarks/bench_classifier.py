"""Score the experiment classifier against the hand labels of the shared corpus, and time it.

Usage::

    uv run python benchmarks/bench_classifier.py [--corpus DIR] [--errors] [--n 100000]

Reads ``LABELS.tsv`` beside the 12 logs of ``../shared/corpus/autoresearch-results``
(every line of every log labelled by hand: category, an acceptable
alternative ``alt``, subcategory, multi, stated parameter changes), imports
the logs with :func:`hpdream_core.import_autoresearch` so that each row's
description is the one the importer reads, classifies every labelled row and
prints:

- category accuracy (a prediction equal to ``category`` or ``alt`` is right),
  overall and per file, and the confusion matrix (rows: the label; a
  prediction equal to ``alt`` is counted on the diagonal);
- subcategory and ``multi`` agreement (for information: subcategory names
  are not standardised across labellers);
- parameter-extraction precision and recall: a predicted change matches a
  labelled one when the values are equal (``262K`` = 262000, ``2^16`` =
  65536, ``5%`` = 0.05, ``0.5x`` = 0.5) and the names are compatible (one's
  words contain the other's, or they share a word that is not generic such as
  ``size``; ``lr`` = learning rate, ``wd`` = weight decay, ``dim`` = width);
- descriptions per second on 10^5 descriptions made distinct by varying
  their numbers (the classifier caches nothing per description), wall and CPU
  time, for ``classify`` (the whole Label) and ``label_row`` (what the
  importer uses).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpdream_core import Classifier, Label, ParamChange, import_autoresearch
from hpdream_core._params import parse_value

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / ".." / "shared" / "corpus" / "autoresearch-results"

_GENERIC = frozenset(
    {
        "size",
        "ratio",
        "num",
        "n",
        "of",
        "steps",
        "rate",
        "factor",
        "value",
        "total",
        "max",
        "min",
        "the",
        "number",
    }
)
_SYNONYMS = {
    "learning_rate": "lr",
    "wd": "weight_decay",
    "bs": "batch",
    "ar": "aspect",
    "embd": "width",
    "dim": "width",
    "d_model": "width",
    "model_dim": "width",
    "n_embd": "width",
    "dimension": "width",
}


@dataclass(frozen=True)
class Row:
    file: str
    line: int
    category: str
    alt: str
    subcategory: str
    multi: bool
    params: tuple[tuple[str, str], ...]
    description: str


@dataclass
class Score:
    rows: int = 0
    right: int = 0
    sub_rows: int = 0
    sub_right: int = 0
    multi_right: int = 0
    pred_params: int = 0
    label_params: int = 0
    matched_params: int = 0
    per_file: dict[str, list[int]] = field(default_factory=dict)
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    errors: list[tuple[Row, Label]] = field(default_factory=list)
    param_misses: list[tuple[Row, tuple[ParamChange, ...], list[str]]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.rows if self.rows else math.nan

    @property
    def precision(self) -> float:
        return self.matched_params / self.pred_params if self.pred_params else math.nan

    @property
    def recall(self) -> float:
        return self.matched_params / self.label_params if self.label_params else math.nan


def load_rows(corpus: Path) -> list[Row]:
    """Every labelled experiment row of the corpus, with the description the importer reads."""
    descriptions: dict[tuple[str, int], str] = {}
    for path in sorted(corpus.glob("[0-9]*.tsv")):
        result = import_autoresearch(path)
        for e in result.experiments:
            assert e.source_line is not None
            descriptions[(path.name, e.source_line)] = e.description
    rows: list[Row] = []
    with (corpus / "LABELS.tsv").open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            if rec["category"] == "-":
                continue
            key = (rec["file"], int(rec["line"]))
            if key not in descriptions:
                raise SystemExit(
                    f"LABELS.tsv: {key[0]} line {key[1]} is labelled but the importer read no row there"
                )
            params = tuple(
                (name.strip(), value.strip())
                for name, _, value in (
                    p.partition("=") for p in rec["params"].split(";") if p.strip()
                )
            )
            rows.append(
                Row(
                    key[0],
                    key[1],
                    rec["category"],
                    rec["alt"],
                    rec["subcategory"],
                    rec["multi"] == "1",
                    params,
                    descriptions[key],
                )
            )
    return rows


def _name_words(name: str) -> set[str]:
    low = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    for src, dst in _SYNONYMS.items():
        low = re.sub(rf"(^|_){src}(_|$)", rf"\g<1>{dst}\g<2>", low)
    words = set(low.split("_")) - {""}
    return words


def names_compatible(a: str, b: str) -> bool:
    wa, wb = _name_words(a), _name_words(b)
    if not wa or not wb:
        return False
    if wa <= wb or wb <= wa:
        return True
    return bool((wa & wb) - _GENERIC)


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s.endswith("x"):
            s = s[:-1]
        try:
            return float(s)
        except ValueError:
            return None
    return None


def values_equal(predicted: object, written: str) -> bool:
    expected = parse_value(written)
    a, b = _number(predicted), _number(expected)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    norm = lambda v: re.sub(r"\s+", "", str(v)).strip("\"'").lower()  # noqa: E731
    return norm(predicted) == norm(expected)


def match_params(predicted: Sequence[ParamChange], labelled: Sequence[tuple[str, str]]) -> int:
    """How many predicted changes match a labelled one (each used once)."""
    free = list(labelled)
    matched = 0
    for p in predicted:
        for i, (name, value) in enumerate(free):
            if values_equal(p.new, value) and names_compatible(p.name, name):
                matched += 1
                del free[i]
                break
    return matched


def evaluate(rows: Sequence[Row], classifier: Classifier) -> Score:
    score = Score()
    for row in rows:
        label = classifier.classify(row.description)
        ok = label.category in (row.category, row.alt)
        score.rows += 1
        score.right += ok
        f = score.per_file.setdefault(row.file, [0, 0])
        f[0] += ok
        f[1] += 1
        truth = row.category
        shown = truth if ok else label.category
        score.confusion[(truth, shown)] = score.confusion.get((truth, shown), 0) + 1
        if not ok:
            score.errors.append((row, label))
        if row.subcategory and label.category == row.category:
            score.sub_rows += 1
            score.sub_right += label.subcategory == row.subcategory
        score.multi_right += label.multi == row.multi
        m = match_params(label.params, row.params)
        score.pred_params += len(label.params)
        score.label_params += len(row.params)
        score.matched_params += m
        if m != len(label.params) or m != len(row.params):
            score.param_misses.append((row, label.params, [f"{n}={v}" for n, v in row.params]))
    return score


def throughput(
    rows: Sequence[Row], taxonomy_classifier: Classifier, n: int, repeats: int = 3
) -> dict[str, list[tuple[float, float]]]:
    """Wall and CPU seconds to label n distinct descriptions, per way of calling the classifier.

    The descriptions are the corpus's with their numbers changed (so no two are
    the same); ``classify`` returns the whole Label (with parameters and
    evidence), ``label_row`` what the importer needs (category, subcategory,
    multi). A fresh Classifier each run, so nothing learned in one run helps the next.
    """
    rng = random.Random(0)
    base = [r.description for r in rows]

    def vary(text: str) -> str:
        return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randrange(1, 9)), text)

    texts = [vary(base[i % len(base)]) + f" #{i}" for i in range(n)]
    out: dict[str, list[tuple[float, float]]] = {"classify": [], "label_row": []}
    for _ in range(repeats):
        for how in out:
            fresh = Classifier(taxonomy_classifier.taxonomy)
            call = fresh.classify if how == "classify" else fresh.label_row
            wall, cpu = time.perf_counter(), time.process_time()
            for t in texts:
                call(t)
            out[how].append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def print_report(score: Score, show_errors: bool, show_params: bool) -> None:
    print(f"rows: {score.rows}")
    print(f"category accuracy: {score.accuracy:.1%} ({score.right}/{score.rows}; category or alt)")
    print("per file:")
    for name, (ok, total) in sorted(score.per_file.items()):
        print(f"  {name:48s} {ok:4d}/{total:<4d} {ok / total:6.1%}")
    cats = sorted({t for t, _ in score.confusion} | {p for _, p in score.confusion})
    width = max(len(c) for c in cats) + 1
    print("confusion matrix (rows: label, columns: prediction):")
    print(" " * width + "".join(f"{c[:9]:>10s}" for c in cats))
    for t in cats:
        print(f"{t:{width}s}" + "".join(f"{score.confusion.get((t, p), 0):10d}" for p in cats))
    print(
        f"subcategory agreement (rows whose category matches and that have a label): {score.sub_right}/{score.sub_rows} = {score.sub_right / max(score.sub_rows, 1):.1%}"
    )
    print(
        f"multi agreement: {score.multi_right}/{score.rows} = {score.multi_right / score.rows:.1%}"
    )
    print(
        f"parameters: precision {score.precision:.1%} ({score.matched_params}/{score.pred_params}), "
        f"recall {score.recall:.1%} ({score.matched_params}/{score.label_params})"
    )
    if show_errors:
        print("\nmisclassified rows:")
        for row, label in score.errors:
            wanted = row.category + (f"/{row.alt}" if row.alt else "")
            print(
                f"  {row.file[:2]}:{row.line} label {wanted} got {label.category}: {row.description[:150]!r}"
            )
            for e in label.evidence[:4]:
                print(f"      {e}")
    if show_params:
        print("\nparameter differences:")
        for row, got, want in score.param_misses:
            print(
                f"  {row.file[:2]}:{row.line} got {[f'{p.name}={p.new}' for p in got]} want {want}: {row.description[:120]!r}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument(
        "--errors", action="store_true", help="list misclassified rows with their evidence"
    )
    ap.add_argument(
        "--params", action="store_true", help="list rows whose parameters differ from the labels"
    )
    ap.add_argument(
        "--n", type=int, default=100_000, help="descriptions for the throughput figure (0: skip)"
    )
    args = ap.parse_args(argv)
    if not (args.corpus / "LABELS.tsv").is_file():
        print(f"no LABELS.tsv in {args.corpus}", file=sys.stderr)
        return 2
    rows = load_rows(args.corpus)
    classifier = Classifier()
    score = evaluate(rows, classifier)
    print_report(score, args.errors, args.params)
    if args.n:
        times = throughput(rows, classifier, args.n)
        print(
            f"throughput over {args.n:,} distinct descriptions (median of {len(times['classify'])} runs):"
        )
        for how, runs in times.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(
                f"  {how:10s} {args.n / wall:9,.0f} descriptions/s wall ({wall:.2f} s), "
                f"{args.n / cpu:9,.0f} /s CPU ({cpu:.2f} s)"
            )
        print(f"  (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
