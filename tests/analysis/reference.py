"""Plain-Python reference implementations of the metrics (slow, obviously correct).

Each function takes one trajectory as a list of dicts ordered by index (the
first is the baseline) and follows docs/metrics.md line by line.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hpdream_analysis._repeats import STOP_WORDS
from hpdream_analysis._repeats import TOKEN as TOKEN_PATTERN

Row = dict[str, Any]

FAILURES = ("discard", "crash")


def running_best(rows: Sequence[Row]) -> list[float | None]:
    best: float | None = None
    out = []
    for r in rows:
        y = r["val_bpb"]
        if y is not None and (best is None or y < best):
            best = y
        out.append(best)
    return out


def improved(rows: Sequence[Row], eps: float = 0.0) -> list[bool]:
    best = running_best(rows)
    flags = [False]
    for i in range(1, len(rows)):
        y, prev = rows[i]["val_bpb"], best[i - 1]
        flags.append(y is not None and (prev is None or y < prev - eps))
    return flags


def plateau(rows: Sequence[Row], eps: float = 0.0) -> list[int]:
    flags = improved(rows, eps)
    out, last = [], 0
    for i in range(len(rows)):
        if i == 0 or flags[i]:
            last = i
        out.append(i - last)
    return out


def dry_streak_lengths(rows: Sequence[Row], eps: float = 0.0) -> tuple[list[int], bool]:
    """Lengths of the dry streaks and whether the last one is open."""
    flags = improved(rows, eps)
    lengths: list[int] = []
    current = 0
    for i in range(1, len(rows)):
        if flags[i]:
            if current:
                lengths.append(current)
            current = 0
        else:
            current += 1
    if current:
        lengths.append(current)
    return lengths, current > 0


def rate(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def summary(rows: Sequence[Row], *, eps: float = 0.0, horizon: int | None = None) -> Row:
    rest = rows[1:]
    n = len(rest)
    ys = [r["val_bpb"] for r in rows if r["val_bpb"] is not None]
    b0 = rows[0]["val_bpb"]
    best = min(ys) if ys else None
    kept = sum(r["status"] == "keep" for r in rest)
    crashes = sum(r["status"] == "crash" for r in rest)
    flags = improved(rows, eps)
    cats = [r["category"] for r in rest]
    counts = Counter(cats)
    entropy = None
    chance = None
    if n:
        entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
        chance = 1 - sum((c / n) ** 2 for c in counts.values())
    eligible = pivots = 0
    for i in range(2, len(rows)):
        if rows[i - 1]["status"] in FAILURES:
            eligible += 1
            pivots += rows[i]["category"] != rows[i - 1]["category"]
    lengths, is_open = dry_streak_lengths(rows, eps)
    auc = None
    if horizon is not None and b0 is not None:
        bests = running_best(rows)
        gains = [(b0 - b) / b0 for b in bests]  # type: ignore[operator]
        total = 0.0
        for i in range(1, horizon + 1):
            total += gains[min(i, len(gains) - 1)]
        auc = total / horizon
    return {
        "experiments": n,
        "kept": kept,
        "crashes": crashes,
        "improvements": sum(flags),
        "baseline_val_bpb": b0,
        "best_val_bpb": best,
        "improvement": None if b0 is None or best is None else b0 - best,
        "relative_gain": None if b0 is None or best is None else (b0 - best) / b0,
        "success_rate": rate(kept, n),
        "success_rate_completed": rate(kept, n - crashes),
        "improved_rate": rate(sum(flags), n),
        "crash_rate": rate(crashes, n),
        "anytime_auc": auc,
        "categories_explored": len(counts),
        "category_entropy_bits": entropy,
        "chance_pivot_rate": chance,
        "pivot_rate": rate(pivots, eligible),
        "dry_streaks": len(lengths),
        "max_dry_streak": max(lengths) if lengths else 0,
        "mean_dry_streak": sum(lengths) / len(lengths) if lengths else None,
        "open_dry_streak": lengths[-1] if is_open else 0,
    }


# --- repeats (text rule), all pairs -----------------------------------------------

# the rule's vocabulary (which words and tokens count) is the library's; the logic is here
STOP = STOP_WORDS
TOKEN = re.compile(TOKEN_PATTERN)


def content(description: str) -> tuple[tuple[float, ...], frozenset[str]]:
    tokens = TOKEN.findall(description.lower())
    numbers = tuple(float(t) for t in tokens if re.match(r"^[0-9.]", t))
    words = frozenset(t for t in tokens if not re.match(r"^[0-9.]", t) and t not in STOP)
    return numbers, words


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def text_repeats(descriptions: Sequence[str], threshold: float) -> dict[int, tuple[int, float]]:
    """position -> (earliest earlier position it repeats, similarity); positions 1.. (0 = baseline)."""
    contents = [content(d) for d in descriptions]
    out: dict[int, tuple[int, float]] = {}
    for i in range(2, len(descriptions)):
        ni, wi = contents[i]
        if not ni and not wi:
            continue
        for j in range(1, i):
            nj, wj = contents[j]
            if nj == ni and (nj or wj) and jaccard(wi, wj) >= threshold - 1e-12:
                out[i] = (j, jaccard(wi, wj))
                break
    return out
