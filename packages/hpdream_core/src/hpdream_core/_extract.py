"""Parameter extraction for many descriptions at once, sharing work between look-alikes.

Logs repeat themselves with different numbers: "matrix lr 0.04 -> 0.045",
then "matrix lr 0.045 -> 0.05". Reading a description (tokens, roles, scopes,
the scan for stated changes) does not depend on the values of its numbers,
only on where they stand, so :class:`ParamExtractor` reads one description
of each *shape* (the text with every free-standing digit replaced by ``0``,
lengths kept) in full, and records where each value of the result comes
from. Another description of the same shape then costs a few value look-ups.

The shortcut is exact: a shape is reused only when

* every replaced digit lies in a number, quoted string or opaque token (a
  digit inside a word, as in ``gpt-2``, makes the name depend on it);
* every value of the result is a constant of the text's words or comes from
  exactly one value look-up of the scan (so a factor converted to a number,
  or two look-ups that gave the same object, disable it for that shape);
* and, for each new description, every look-up the scan made gives a value
  of the same kind as before (``1/0`` stays text where ``1/2`` is a number,
  and the scan branches on that), ending at the same token.

Otherwise the description is read in full, as :func:`extract_params` does.
"""

from __future__ import annotations

import bisect
import math
import re
from typing import Final

from hpdream_core._classify import extract_params
from hpdream_core._params import (
    _RELATIVE_VERBS,
    _UNICODE,
    NUM,
    OPAQUE,
    QUOTE,
    ParamChange,
    Token,
    Value,
    _chosen,
    _has_change_part,
    _renamed,
    _value_at,
    analyse,
    extract_text_params,
    parse_value,
)

_FREE_DIGITS: Final = re.compile(r"(?<![A-Za-z0-9_])[0-9]+")
_ATTACHED_DIGITS: Final = re.compile(r"(?<=[A-Za-z_])[0-9]+")
_DIGIT: Final = re.compile(r"[0-9]")
_ZEROS: Final = str.maketrans("123456789", "000000000")
_BYTE_ZEROS: Final = bytes.maketrans(b"123456789", b"000000000")
_VARIABLE_KINDS: Final = frozenset({NUM, QUOTE, OPAQUE})
_CONSTANTS: Final = tuple(dict.fromkeys(_RELATIVE_VERBS.values()))


def shape(text: str) -> str:
    """What look-alikes of ``text`` share: its digits as zeros, then the digits attached to words.

    ``"x0_lambda 0.5 -> 0.75"`` -> ``"x0_lambda 0.0 -> 0.00\x000"``: the digits
    of numbers may differ between texts of a shape; those inside words may not.
    """
    if text.isascii():  # bytes translate fast
        zeroed = text.encode().translate(_BYTE_ZEROS).decode()
    else:
        zeroed = text.translate(_ZEROS)
    return zeroed + "\x00" + ",".join(_ATTACHED_DIGITS.findall(text))


# what a value look-up gave, as far as the scan's branches can tell:
# None (no value), a digit-free string (compared and matched by the scan), or a kind
_TEXT: Final = "\x00text"
_NUMBER: Final = "\x00number"


def _kind_of(value: Value) -> object:
    if isinstance(value, str):
        return _TEXT if _DIGIT.search(value) else value
    if isinstance(value, float) and not math.isfinite(value):
        return "\x00" + repr(value)  # inf and nan print as words
    return _NUMBER


def _kind(result: tuple[Value, int] | None) -> tuple[object, int] | None:
    return None if result is None else (_kind_of(result[0]), result[1])


class _Shape:
    """What one description of a shape taught: how to read the others."""

    __slots__ = ("alone", "calls", "changes", "kinds", "spans", "tokens", "variable")

    def __init__(
        self,
        tokens: tuple[Token, ...],
        variable: tuple[int, ...],
        calls: tuple[tuple[int, bool], ...],
        results: tuple[tuple[Value, int] | None, ...],
        changes: tuple[tuple[str, int | None, Value, int | None, Value], ...],
        alone: bool,
    ) -> None:
        # the description states its changes itself: a hypothesis beside it is not read
        self.alone = alone
        self.tokens = tokens  # the analysed tokens of the first description
        self.variable = variable  # indices of the tokens whose digits vary
        self.calls = calls  # the scan's value look-ups (token index, loose)
        self.kinds = tuple(_kind(r) for r in results)  # and what each gave
        # for a look-up that parsed one number token: its span in the text
        self.spans = tuple(
            (tokens[i].start, tokens[i].end)
            if i < len(tokens)
            and tokens[i].kind == NUM
            and result == (parse_value(tokens[i].text), i + 1)
            else None
            for (i, _), result in zip(calls, results, strict=True)
        )
        # (name, old look-up or None, old constant, new look-up or None, new constant)
        self.changes = changes

    def read(self, text: str) -> tuple[ParamChange, ...] | None:
        """The changes of ``text`` (of this shape), or None when the scan would branch otherwise."""
        values: list[Value] = []
        tokens: list[Token] | None = None
        for (i, loose), kind, span in zip(self.calls, self.kinds, self.spans, strict=True):
            if span is not None:
                # a plain number, the common case: parse its text
                value = parse_value(text[span[0] : span[1]])
                if kind is None or _kind_of(value) != kind[0]:
                    return None
                values.append(value)
                continue
            if tokens is None:
                tokens = list(self.tokens)
                for j in self.variable:
                    t = tokens[j]
                    tokens[j] = _renamed(t, text[t.start : t.end])
            result = _value_at(tokens, i, loose=loose)
            if _kind(result) != kind:
                return None
            values.append(None if result is None else result[0])
        return tuple(
            ParamChange(
                name,
                old if old_call is None else values[old_call],
                new if new_call is None else values[new_call],
            )
            for name, old_call, old, new_call, new in self.changes
        )


def _learn(text: str) -> tuple[_Shape | None, tuple[ParamChange, ...]]:
    """Read ``text`` in full; the shape record for its look-alikes (None if they can't share it)."""
    analysis = analyse(text)
    tokens = analysis.tokens
    starts = [t.start for t in tokens]
    variable: set[int] = set()
    for m in _FREE_DIGITS.finditer(text):
        j = bisect.bisect_right(starts, m.start()) - 1
        if j < 0:
            continue  # in a leading label ("exp12:"), which is cut off whatever its digits
        t = tokens[j]
        if m.end() > t.end or t.kind not in _VARIABLE_KINDS:
            return None, extract_text_params(analysis)
        variable.add(j)
    if analysis.baseline is not None:
        return _Shape(tokens, (), (), (), (), alone=True), ()
    calls: dict[tuple[int, bool], int] = {}
    results: list[tuple[Value, int] | None] = []

    def traced(tokens: object, i: int, *, loose: bool = False) -> tuple[Value, int] | None:
        result = _value_at(tokens, i, loose=loose)  # type: ignore[arg-type]
        if (i, loose) not in calls:
            calls[(i, loose)] = len(results)
            results.append(result)
        return result

    found = _chosen(analysis, None, traced)
    out = tuple(ParamChange(f.name, f.old, f.new) for f in found)

    def source(value: Value) -> tuple[bool, int | None]:
        """(usable, look-up index): None for a constant of the words."""
        if value is None or (isinstance(value, str) and not _DIGIT.search(value)):
            return True, None
        if any(value is c for c in _CONSTANTS):
            return True, None
        same = [n for n, r in enumerate(results) if r is not None and r[0] is value]
        return (True, same[0]) if len(same) == 1 else (False, None)

    changes = []
    for f in found:
        old_ok, old_call = source(f.old)
        new_ok, new_call = source(f.new)
        if not (old_ok and new_ok):
            return None, out
        changes.append((f.name, old_call, f.old, new_call, f.new))
    return (
        _Shape(
            tokens,
            tuple(sorted(variable)),
            tuple(calls),
            tuple(results),
            tuple(changes),
            alone=_has_change_part(analysis),
        ),
        out,
    )


class ParamExtractor:
    """:func:`extract_params` for the descriptions of a log, reading each shape once.

    Call it like ``extract_params(description, hypothesis=...)``; it returns
    the same changes (tests check this on the corpus and on random numbers),
    faster when descriptions differ only in their numbers. A hypothesis is
    read (in full) only when the description states no change of its own, as
    :func:`extract_params` does. Keeps at most ``max_shapes`` shapes.
    """

    def __init__(self, max_shapes: int = 100_000) -> None:
        self.max_shapes = max_shapes
        # shape -> how to read it; None: read in full; _ONCE: seen once, not learnt yet
        self._shapes: dict[str, _Shape | object | None] = {}
        #: descriptions answered from a known shape / read in full
        self.reused = 0
        self.parsed = 0

    def __call__(
        self, description: str | None, hypothesis: str | None = None
    ) -> tuple[ParamChange, ...]:
        text = description or ""
        if not text.isascii():
            text = text.translate(_UNICODE)
        more = hypothesis if hypothesis and hypothesis.strip() else None
        key = shape(text)
        known = self._shapes.get(key)
        if isinstance(known, _Shape) and (more is None or known.alone):
            out = known.read(text)
            if out is not None:
                self.reused += 1
                return out
        self.parsed += 1
        if known is _ONCE:
            # a second description of this shape: learn it (a first one may stay alone)
            learnt, out = _learn(text)
            self._shapes[key] = learnt
            if more is None or (learnt is not None and learnt.alone):
                return out
        elif known is None and key not in self._shapes and len(self._shapes) < self.max_shapes:
            self._shapes[key] = _ONCE
        return extract_params(text, hypothesis=more)


_ONCE: Final = object()
