"""Reading how agents describe an experiment: tokens, clause roles, and stated parameter changes.

Agents write descriptions such as ``MATRIX_LR=0.06``, ``lr 0.04->0.05``,
``2**15 -> 2**16``, ``depth 4→6``, ``halve batch``, ``exp12: ...``, or long
prose with a hypothesis, evidence and a result. :func:`analyse` splits such a
text into tokens and gives each token a *role* (the change itself, a detail of
it, a parenthetical remark, the hypothesis, the evidence, the result) and a
*scope* (context such as "at DEPTH=3", a purpose such as "to increase
throughput", a negation such as "instead of SwiGLU"). The classifier weighs
keywords by role and scope; :func:`extract_text_params` reads the stated
parameter changes from the parts that describe the change.

Everything here is taxonomy-independent and uses the standard library only.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Final

import attrs

Value = float | int | str | None


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@attrs.frozen
class ParamChange:
    """One parameter an experiment changed: its name (lower case) and old and new values.

    Values are numbers where they are numbers (``2**16`` is 65536, ``5%`` is
    0.05, ``262K`` is 262000), strings otherwise (``"SSSL"``, ``"(0.9, 0.98)"``,
    or a relative factor such as ``"0.5x"``), and None where unknown (the old
    value is often not stated).
    """

    name: str
    old: Value = None
    new: Value = None


# ---------------------------------------------------------------------------
# tokens

WORD: Final = 0
NUM: Final = 1
ARROW: Final = 2
QUOTE: Final = 3
PUNCT: Final = 4
OPAQUE: Final = 5

# roles of a token (what part of the description it is in)
CHANGE: Final = 0
DETAIL: Final = 1
PAREN: Final = 2
HYPOTHESIS: Final = 3
BOTTLENECK: Final = 4
EVIDENCE: Final = 5
RESULT: Final = 6
ROLE_NAMES: Final = ("change", "detail", "remark", "hypothesis", "problem", "evidence", "result")

# scopes inside a clause
PLAIN: Final = 0
CONTEXT: Final = 1
PURPOSE: Final = 2
NEGATED: Final = 3
WITH: Final = 4
SCOPE_NAMES: Final = ("", "context", "purpose", "negated", "with")

_UNICODE = str.maketrans(
    {
        "→": "->",
        "⟶": "->",
        "➔": "->",
        "⇒": "=>",
        "−": "-",
        "–": " - ",
        "—": " - ",
        "×": "x",
        "≈": "~",
        "²": "^2",
        "³": "^3",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "\u00a0": " ",
    }
)

_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(
    r"""
    (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:[-.][A-Za-z0-9_]+)*'?)
  | (?P<arrow>-{1,2}>|=>|~>)
  | (?P<num>
        (?<![\w.)\]])[-+](?=\.?\d)(?:"""
    + _NUMBER
    + r""")(?:\s*(?:\*\*|\^)\s*\d+)?(?:[kKmMbB](?![A-Za-z0-9]))?(?:%|x(?![A-Za-z0-9])|s(?![A-Za-z0-9]))?(?![A-Za-z0-9_]|-[A-Za-z]|\.\d)
      | \d+\s*(?:\*\*|\^)\s*\d+(?![A-Za-z0-9_.])
      | \d+/(?:\d+(?![A-Za-z0-9_.])|[A-Za-z_]\w*(?:\([^()\s]*\))?)
      | """
    + _NUMBER
    + r"""(?:[kKmMbB](?![A-Za-z0-9]))?(?:%|x(?![A-Za-z0-9])|s(?![A-Za-z0-9]))?(?![A-Za-z0-9_]|-[A-Za-z]|\.\d)
    )
  | (?P<opaque>\d[\w.]*(?:[-/][\w.]+)*)
  | (?P<quote>"[^"\n]{0,60}"|'[^'\n]{0,60}'|`[^`\n]{0,60}`)
  | (?P<punct>-{2,}|\.{2,}|:=|\S)
    """,
    re.VERBOSE,
)
_KINDS = {
    "arrow": ARROW,
    "num": NUM,
    "opaque": OPAQUE,
    "word": WORD,
    "quote": QUOTE,
    "punct": PUNCT,
}
_PATTERN_WORD = re.compile(r"^[SL]{3,16}$")
_SHORT_PATTERN = re.compile(r"^[SL]{1,16}$")
_SPLIT_WORD = re.compile(r"[_.\-']+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


class Token:
    """A token of a description, with its role and scope once analysed."""

    __slots__ = ("clause", "depth", "end", "kind", "low", "role", "scope", "start", "text")

    def __init__(self, kind: int, text: str, start: int, end: int) -> None:
        self.kind = kind
        self.text = text
        self.low = text.lower()
        self.start = start
        self.end = end
        self.role = CHANGE
        self.scope = PLAIN
        self.depth = 0
        self.clause = 0

    def __repr__(self) -> str:
        return (
            f"Token({self.text!r}, role={ROLE_NAMES[self.role]}, scope={SCOPE_NAMES[self.scope]})"
        )


_FACTOR = re.compile(r"x(?!0)\d+(?:\.\d+)?")  # "x2": a factor, not a word ("x0" is one)


def tokenize(text: str) -> list[Token]:
    """Split text into tokens (words, numbers, arrows, quoted strings, punctuation)."""
    out: list[Token] = []
    kinds = _KINDS
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        word = text[start:end]
        kind = kinds[m.lastgroup]  # type: ignore[index]
        if kind == WORD and word[0] == "x" and _FACTOR.fullmatch(word):
            kind = NUM
        out.append(Token(kind, word, start, end))
    return out


def word_parts(text: str) -> tuple[str, ...]:
    """The lower-case parts of an identifier: ``MATRIX_LR`` -> (matrix, lr), ``z-loss`` -> (z, loss)."""
    return tuple(p for p in _SPLIT_WORD.split(text.lower()) if p)


def camel_parts(text: str) -> tuple[str, ...]:
    """``FlexAttention`` -> (flex, attention), ``relu2`` -> (relu, 2)."""
    return tuple(p.lower() for p in _CAMEL.findall(text))


def keyword_words(keyword: str) -> tuple[str, ...]:
    """The words a taxonomy keyword matches, as the tokenizer sees text ("Z-loss" -> (z, loss))."""
    words: list[str] = []
    for tok in tokenize(keyword.strip().translate(_UNICODE)):
        if tok.kind == WORD:
            words.extend(word_parts(tok.text))
        elif tok.kind in (NUM, OPAQUE):
            words.append(tok.low)
        elif tok.text == "*" and words:
            words[-1] += "*"
    return tuple(words)


# ---------------------------------------------------------------------------
# word lists (English, independent of any taxonomy)

_MARKERS: Final = {
    "hypothesis": HYPOTHESIS,
    "hypotheses": HYPOTHESIS,
    "rationale": HYPOTHESIS,
    "reasoning": HYPOTHESIS,
    "reason": HYPOTHESIS,
    "motivation": HYPOTHESIS,
    "why": HYPOTHESIS,
    "expected": HYPOTHESIS,
    "expectation": HYPOTHESIS,
    "prediction": HYPOTHESIS,
    "intuition": HYPOTHESIS,
    "theory": HYPOTHESIS,
    "evidence": EVIDENCE,
    "support": EVIDENCE,
    "source": EVIDENCE,
    "sources": EVIDENCE,
    "ref": EVIDENCE,
    "refs": EVIDENCE,
    "reference": EVIDENCE,
    "result": RESULT,
    "results": RESULT,
    "outcome": RESULT,
    "observation": RESULT,
    "observations": RESULT,
    "finding": RESULT,
    "findings": RESULT,
    "conclusion": RESULT,
    "verdict": RESULT,
    "analysis": RESULT,
    "lesson": RESULT,
    "learned": RESULT,
    "takeaway": RESULT,
    "status": RESULT,
    "metrics": RESULT,
    "bottleneck": BOTTLENECK,
    "problem": BOTTLENECK,
    "issue": BOTTLENECK,
    "diagnosis": BOTTLENECK,
    "symptom": BOTTLENECK,
    "context": BOTTLENECK,
    "background": BOTTLENECK,
    "change": CHANGE,
    "changes": CHANGE,
    "idea": CHANGE,
    "plan": CHANGE,
    "action": CHANGE,
    "experiment": CHANGE,
    "tried": CHANGE,
    "what": CHANGE,
    "edit": CHANGE,
    "note": DETAIL,
    "notes": DETAIL,
    "details": DETAIL,
    "detail": DETAIL,
}

# words that open a clause reporting an outcome ("(much worse)", ": val_bpb 1.2->1.1", ", 340 steps")
_RESULT_WORDS: Final = _words(
    """
    worse worst better improved improvement improvements improves improving helps helped
    hurts hurt hurting slightly marginally marginal much significantly catastrophic
    catastrophically too still flat neutral crash crashed crashes crashing oom failed
    fails fail failure broke broken breaks slower faster bigger larger fewer diminishing
    regression regressed regresses stable unstable killed timed timeout reached valid
    invalid exceeded tied identical equal confirmed confirms optimal noise noisy loss
    val_bpb bpb mfu delta gain gains win wins best nan nans diverged diverges divergence
    hung hang skipped skip lost error errors assert assertion important critical
    critically useless negligible modest big huge tiny small minor major similar same
    roughly approx approximately about around nearly matched matches kept discarded
    discard keep reverted mixed inconclusive unclear proves proving proved shows showed
    showing suggests suggesting clearly clear definitely probably likely sweet plateau
    saturated saturates dominated dominates overhead consistent
    """
)
_OUTCOME_UNITS: Final = _words(
    """
    params parameters param tokens token steps step gb mb kb ms sec secs seconds s min
    mins minutes hours h tok mfu bpb flops tflops improvement worse better faster slower
    reduction increase decrease drop gain loss
    """
)
# plural nouns a bare number counts ("12 layers", "4 heads"): such a number is not a setting
_COUNT_NOUNS: Final = _words(
    """
    layers layer heads head experts expert tables table groups group blocks block params
    parameters tokens sub subheads dims gb mb kb ms min mins minutes hours h files runs
    times experiments rows copies calls passes shards workers gpus cores
    """
)
_STOP: Final = _words(
    """
    a an the of in on at to from for with by via during after before over under into
    onto per vs versus than as between across within without instead rather and or but
    then so that this these those it its is are was were be been being has have had will
    would can could should may might must do does did done not no nor only all each
    every both some any most least very too also still just even again further back now
    same other our we i you they them their which who whom what when where how if else
    while because since up down out off around about near like unlike until till whether
    there here than yet already ever never always often once twice
    """
)
_VERBS: Final = _words(
    """
    increase increased increases increasing decrease decreased decreasing reduce reduced
    reduces reducing lower lowered lowering raise raised raising set sets setting change changed
    changes changing switch switched switching replace replaced replacing use used uses
    using add added adding adds remove removed removing removes drop dropped dropping
    disable disabled disabling enable enabled enabling try tried trying halve halved
    halving double doubled doubling quarter quartered triple tripled shrink shrank
    shrunk shrinking grow grew growing widen widened sharpen sharpened shorten shortened
    lengthen lengthened extend extended tweak tweaked tune tuned tuning apply applied
    introduce introduced force forced restore restored revert reverted reverting undo
    undid move moved make made keep keeping kept boost boosted implement implemented
    combine combined simplify simplified go went rerun reran retry retried replicate
    replicated adjust adjusted modify modified let give gave lets allow allows allowed
    get gets got
    """
)
# comparative adjectives and similar words that qualify a parameter name without being part of it
_ADJECTIVES: Final = _words(
    """
    smaller larger bigger higher lower longer shorter wider narrower deeper shallower
    tiny small large big huge more fewer less extra additional slightly much new current
    different separate dynamic standard simple simpler sharper softer harder stronger
    weaker faster slower half eighth tighter looser lighter heavier bit little proper
    aggressive conservative constant fixed quarter greater smaller lesser default
    optimal best good bad even odd twice whole full partial tuned sweet slight modest
    last first next previous prior every remaining early late identical similar equal
    same comparable matching
    """
)
_FILLERS: Final = _words(
    """
    again further back fixed constant now then also only slightly all just even
    """
)
_PURPOSE_AFTER_TO: Final = _words(
    """
    increase decrease reduce improve allow keep make get give see test check try speed
    accelerate maintain prevent stabilize stabilise avoid enable match fit use spend
    start train follow shift move alternate find strengthen compensate boost save free
    let help ensure reach recover restore mitigate counter balance capture exploit
    leverage converge trade squeeze push handle reuse offset lower raise cut halve
    double slow smooth preserve encourage regularize regularise fix address reflect
    isolate confirm verify probe measure explore evaluate determine understand learn add
    remove gain fill saturate utilize utilise amortize hit beat close narrow widen
    deepen compare eliminate limit bound control tame damp dampen stop support take
    bring put pull extract allocate provide produce leave cover absorb process hold stay
    remain return lose waste overcome break avoid concentrate focus force reward
    penalize penalise scale shrink grow expand extend lengthen shorten sharpen soften
    counteract unlock squeeze speedup accommodate simulate emulate mimic approximate
    further potentially better also still really only just then hopefully possibly maybe
    effectively actually properly fully quickly gradually
    """
)
_CONTEXT_WORDS: Final = _words(
    """
    after given since because due as when whereas despite although though unless until
    for assuming following once
    """
)
_NEG_LONG_WORDS: Final = frozenset({"replacing", "replaces", "vs", "versus", "than", "unlike"})
_NEG_SHORT_WORDS: Final = _words(
    """
    same keep keeping kept maintain maintaining preserve preserving not never unchanged
    """
)
_REVERT_WORDS: Final = frozenset(
    {
        "revert",
        "reverted",
        "reverting",
        "reverts",
        "undo",
        "undid",
        "undoing",
        "rollback",
        "rollbacks",
    }
)
_REVERT_PHRASES: Final = (
    ("roll", "back"),
    ("rolled", "back"),
    ("back", "to"),
    ("go", "back"),
    ("went", "back"),
    ("return", "to"),
    ("returned", "to"),
    ("reset", "to"),
    ("restore",),
    ("restored",),
    ("restoring",),
)
_COMPARISON_BEFORE: Final = _words(
    """
    than vs versus over from to beat beats beating below above against relative compared
    under matches match matching revert reverted back vs. of near like unlike beyond
    past into
    """
)
_BASELINE_VERBS: Final = _words(
    """
    rerun re-run rerunning repeat repeated remeasure re-measure measure run retest
    replicate reproduce check verify confirm establish new fresh clean original initial
    reference control
    """
)
_SECTION_LABELS: Final = re.compile(
    r"""\s*(?:
        \[[^\]\n]{1,40}\]\s*[:\-]?\s*
      | (?:exp|experiment|run|trial|iter|iteration|attempt|gpu|cuda|node|worker|job|round|try|test|
          e|r|v|t|step|idea|change|h|hyp)[\s_#.-]?\d+[a-z]?\s*[:.)\]\-]\s*
      | \#\s?\d+\s*[:.)\]\-]?\s*
      | \d{1,4}\s*[:.)\]]\s+
      | (?:keep|kept|discard|discarded|crash|crashed)\s*[:\-]\s*
    )""",
    re.IGNORECASE | re.VERBOSE,
)


_MAYBE_REVERT: Final = re.compile(
    r"\b(?:revert|undo|undid|roll|rolled|rollback|back|return|returned|reset|restor)"
)


def strip_labels(text: str) -> tuple[str, int]:
    """Remove leading tags such as ``exp12:``, ``gpu0:``, ``[radical]``, ``#3``; return the rest and its offset."""
    offset = 0
    for _ in range(4):
        m = _SECTION_LABELS.match(text, offset)
        if not m or m.end() == offset:
            break
        offset = m.end()
    return text[offset:], offset


# ---------------------------------------------------------------------------
# analysis: roles and scopes


@attrs.frozen
class Analysis:
    """A description split into tokens with roles and scopes."""

    text: str
    tokens: tuple[Token, ...]
    revert: str | None  # the words that make it a revert
    baseline: str | None  # the words that make it a re-measurement of the baseline


def _first_word(tokens: Sequence[Token], i: int) -> int:
    n = len(tokens)
    while i < n and tokens[i].kind == PUNCT and tokens[i].text in "~+-*\"'`[(":
        i += 1
    return i


_NO_RESULT: Final = _RESULT_WORDS | {
    "change",
    "difference",
    "effect",
    "gain",
    "improvement",
    "further",
}


_COPULAS: Final = frozenset(
    {"is", "are", "was", "were", "remains", "remain", "stays", "stay", "seems", "looks"}
)
_VERDICTS: Final = _RESULT_WORDS | _words(
    """
    useful needed necessary key crucial essential helpful harmful fine good bad enough
    sufficient important the load beneficial redundant unnecessary wasteful
    """
)


def _is_result_start(tokens: Sequence[Token], i: int) -> bool:
    """Does the clause starting at tokens[i] report an outcome rather than a change?"""
    # "softcap=15 is useful", "scheduled decay to 0 is better": a verdict
    k = i
    while (
        k < len(tokens)
        and k - i < 8
        and not (tokens[k].kind == PUNCT and tokens[k].text in ",;:().")
    ):
        if tokens[k].low in _COPULAS and k + 1 < len(tokens) and tokens[k + 1].low in _VERDICTS:
            return True
        k += 1
    i = _first_word(tokens, i)
    if i >= len(tokens):
        return False
    t = tokens[i]
    if t.kind == WORD:
        if t.low in _RESULT_WORDS:
            return True
        if t.low == "no":
            j = _first_word(tokens, i + 1)
            return j < len(tokens) and tokens[j].low in _NO_RESULT
        return False
    if t.kind in (NUM, OPAQUE):
        j = i + 1
        if t.text.endswith("%") or (t.text[:1] in "+-" and t.kind == NUM):
            return True
        if j < len(tokens):
            nxt = tokens[j]
            if nxt.kind == WORD and (nxt.low in _OUTCOME_UNITS or nxt.low in _RESULT_WORDS):
                return True
            if nxt.kind == PUNCT and nxt.text == "%":
                return True
        return t.kind == OPAQUE
    return False


def analyse(text: str, role: int = CHANGE) -> Analysis:
    """Tokens of ``text`` with their roles and scopes; ``role`` is the role of unmarked text."""
    if not text.isascii():
        text = text.translate(_UNICODE)  # arrows, dashes, superscripts (slow: only when needed)
    body, offset = strip_labels(text)
    tokens = tokenize(body)
    for t in tokens:
        t.start += offset
        t.end += offset
    _assign_roles(tokens, text, role)
    _assign_scopes(tokens)
    low = body.lower()
    revert = _find_revert(tokens) if role == CHANGE and _MAYBE_REVERT.search(low) else None
    baseline = (
        _find_baseline(tokens) if role == CHANGE and revert is None and "baseline" in low else None
    )
    return Analysis(text, tuple(tokens), revert, baseline)


class _Level:
    __slots__ = ("clause_role", "colon", "role")

    def __init__(self, role: int) -> None:
        self.role = role
        self.clause_role: int | None = None
        self.colon = False


def _assign_roles(tokens: list[Token], text: str, base: int) -> None:
    stack = [_Level(base)]
    clause = 0
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        lvl = stack[-1]
        if t.kind == WORD and t.low in _MARKERS and i + 1 < n and tokens[i + 1].text == ":":
            # "Hypothesis: ...", "(evidence: ...)", "; result: ..."
            lvl.role = _MARKERS[t.low]
            lvl.clause_role = None
            lvl.colon = True
            clause += 1
            for tok in (t, tokens[i + 1]):
                tok.role, tok.depth, tok.clause = lvl.role, len(stack) - 1, clause
            i += 2
            continue
        if t.kind == PUNCT and t.text in "([{":
            inner = _paren_role(tokens, i + 1, lvl)
            t.role, t.depth, t.clause = (
                lvl.clause_role if lvl.clause_role is not None else lvl.role,
                len(stack) - 1,
                clause,
            )
            stack.append(_Level(inner))
            clause += 1
            i += 1
            continue
        if t.kind == PUNCT and t.text in ")]}":
            if len(stack) > 1:
                stack.pop()
            clause += 1
            lvl = stack[-1]
            t.role, t.depth, t.clause = (
                lvl.clause_role if lvl.clause_role is not None else lvl.role,
                len(stack) - 1,
                clause,
            )
            i += 1
            continue
        if t.kind == PUNCT and (
            (t.text == ":" and _spaced_after(text, t))
            or (
                t.text in ("-", "--", "---")
                and _spaced_after(text, t)
                and t.start > 0
                and text[t.start - 1].isspace()
            )
        ):
            clause += 1
            if lvl.role in (CHANGE, DETAIL) and not lvl.colon:
                lvl.colon = True
                lvl.role = RESULT if _is_result_start(tokens, i + 1) else DETAIL
                lvl.clause_role = None
            elif _is_result_start(tokens, i + 1):
                lvl.role = RESULT
                lvl.clause_role = None
            t.role, t.depth, t.clause = RESULT, len(stack) - 1, clause
            i += 1
            continue
        if (t.kind == PUNCT and t.text in (";", ",")) or (t.kind == WORD and t.low == "but"):
            clause += 1
            lvl.clause_role = RESULT if _is_result_start(tokens, i + 1) else None
            t.role, t.depth, t.clause = RESULT, len(stack) - 1, clause
            i += 1
            continue
        if (
            t.kind == PUNCT
            and t.text == "."
            and (t.end >= len(text) or text[t.end].isspace())
            and (i + 1 >= n or tokens[i + 1].text[:1].isupper() or tokens[i + 1].kind != WORD)
        ):
            clause += 1
            lvl.clause_role = RESULT if _is_result_start(tokens, i + 1) else None
            if lvl.role == CHANGE and lvl.clause_role is None:
                # the sentences after the first one explain rather than change
                lvl.clause_role = DETAIL
            t.role, t.depth, t.clause = RESULT, len(stack) - 1, clause
            i += 1
            continue
        t.role = lvl.clause_role if lvl.clause_role is not None else lvl.role
        t.depth = len(stack) - 1
        t.clause = clause
        i += 1


def _spaced_after(text: str, t: Token) -> bool:
    return t.end >= len(text) or text[t.end].isspace()


def _paren_role(tokens: Sequence[Token], i: int, outer: _Level) -> int:
    n = len(tokens)
    if (
        i + 1 < n
        and tokens[i].kind == WORD
        and tokens[i].low in _MARKERS
        and tokens[i + 1].text == ":"
    ):
        return _MARKERS[tokens[i].low]
    if _is_result_start(tokens, i):
        return RESULT
    role = outer.clause_role if outer.clause_role is not None else outer.role
    return PAREN if role in (CHANGE, DETAIL) else role


def _is_value(t: Token) -> bool:
    return t.kind in (NUM, QUOTE) or (t.kind == WORD and bool(_PATTERN_WORD.match(t.text)))


_SCOPE_TRIGGERS: Final = (
    _words(
        """
    and then plus also instead rather in compared relative without while unchanged to so
    aiming hoping trying attempting intended meant at over from on with
    """
    )
    | _NEG_LONG_WORDS
    | _NEG_SHORT_WORDS
    | _CONTEXT_WORDS
)


def _assign_scopes(tokens: list[Token]) -> None:
    n = len(tokens)
    scope = PLAIN
    short_left = 0  # tokens left in a short (one-phrase) negation
    clause = -1
    i = 0
    while i < n:
        t = tokens[i]
        if t.clause != clause or (t.kind == PUNCT and t.text in ",;:()[]{}+&|"):
            clause = t.clause
            scope = PLAIN
            short_left = 0
        if t.kind == WORD and t.low in _SCOPE_TRIGGERS:
            low = t.low
            nxt = tokens[i + 1] if i + 1 < n else None
            nxt_low = nxt.low if nxt is not None else ""
            nxt_value = nxt is not None and _is_value(nxt)
            new_scope: int | None = None
            if (
                low in ("and", "then", "plus", "also")
                and nxt is not None
                and nxt_low in _VERBS
                and scope != PURPOSE
            ):
                scope, short_left = PLAIN, 0
            elif (
                (low == "instead" and nxt_low == "of")
                or (low == "rather" and nxt_low == "than")
                or (low == "in" and nxt_low == "place")
                or low in _NEG_LONG_WORDS
                or low == "compared"
                or (low == "relative" and nxt_low == "to")
                or (
                    low == "without"
                    and nxt_low in ("changing", "touching", "altering", "modifying")
                )
                or (
                    low == "while"
                    and nxt_low in ("keeping", "maintaining", "preserving", "holding", "leaving")
                )
            ):
                new_scope = NEGATED
            elif low == "unchanged":
                # "depth unchanged": the phrase before it is not changed
                k = i - 1
                while (
                    k >= 0
                    and i - k <= 4
                    and tokens[k].clause == t.clause
                    and tokens[k].kind != PUNCT
                ):
                    tokens[k].scope = NEGATED
                    k -= 1
            elif low in _NEG_SHORT_WORDS:
                scope, short_left = NEGATED, 4
                t.scope = NEGATED
                i += 1
                continue
            elif low == "to":
                if nxt is not None and nxt.kind == WORD and nxt_low in _PURPOSE_AFTER_TO:
                    new_scope = PURPOSE
                elif scope != PURPOSE:
                    new_scope = PLAIN
            elif (
                (low == "in" and nxt_low == "order")
                or (low == "so" and nxt_low != "far")
                or low in ("aiming", "hoping", "trying", "attempting", "intended", "meant")
            ):
                new_scope = PURPOSE
            elif low in ("at", "over", "from", "on") and not nxt_value:
                if low != "on" or nxt_low == "top":
                    new_scope = CONTEXT
            elif (low in _CONTEXT_WORDS or low == "while") and not (
                low == "for" and (nxt_low in _TARGETS or nxt_low in ("the", "all"))
            ):
                new_scope = CONTEXT  # but "LR for matrices" names a parameter group
            elif low == "with":
                new_scope = WITH
            if new_scope is not None:
                scope, short_left = new_scope, 0
        if short_left:
            if (
                t.kind == WORD
                and (t.low in _STOP or t.low in _VERBS)
                and t.low not in _NEG_SHORT_WORDS
            ):
                scope, short_left = PLAIN, 0
            else:
                short_left -= 1
                t.scope = NEGATED
                if not short_left:
                    scope = PLAIN
                i += 1
                continue
        if t.scope != NEGATED:
            t.scope = scope
        i += 1


def _change_start(tokens: Sequence[Token]) -> int | None:
    for i, t in enumerate(tokens):
        if t.role == CHANGE and t.depth == 0 and t.kind == WORD:
            return i
        if t.role == CHANGE and t.kind not in (PUNCT,):
            return i
    return None


def _find_revert(tokens: Sequence[Token]) -> str | None:
    i = _change_start(tokens)
    if i is None:
        return None
    words = [t.low for t in tokens[i : i + 3] if t.kind == WORD]
    if not words:
        return None
    if words[0] in _REVERT_WORDS:
        return tokens[i].text
    for phrase in _REVERT_PHRASES:
        if tuple(words[: len(phrase)]) == phrase:
            return " ".join(t.text for t in tokens[i : i + len(phrase)])
    return None


def _find_baseline(tokens: Sequence[Token]) -> str | None:
    """An explicit re-measurement of the baseline: "baseline", "rerun baseline", "MoE baseline: ..."."""
    i = _change_start(tokens)
    if i is None:
        return None
    k = i
    n = len(tokens)
    seen_words = 0
    while k < n and tokens[k].role == CHANGE and tokens[k].depth == 0 and tokens[k].scope != WITH:
        t = tokens[k]
        if t.kind == PUNCT and t.text in ",;":
            break
        if t.kind == WORD:
            if t.low in ("baseline", "baselines"):
                prev = tokens[k - 1].low if k > i else ""
                prev2 = tokens[k - 2].low if k - 1 > i else ""
                if prev in _COMPARISON_BEFORE or (
                    prev2 in _COMPARISON_BEFORE
                    and prev in ("the", "a", "our", "original", "initial")
                ):
                    return None
                if (prev2 == "same" and prev == "as") or prev == "as":
                    return " ".join(x.text for x in tokens[max(i, k - 2) : k + 1])
                return " ".join(x.text for x in tokens[i : k + 1]) if k - i <= 4 else t.text
            if t.low in _VERBS and t.low not in _BASELINE_VERBS:
                return None
            seen_words += 1
            if seen_words > 5:
                return None
        elif t.kind in (NUM, ARROW) or t.text == "=":
            return None
        k += 1
    return None


# ---------------------------------------------------------------------------
# values


_PLAIN_INT: Final = re.compile(r"[-+]?\d+")
_PLAIN_FLOAT: Final = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+")
_POWER: Final = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*(?:\*\*|\^)\s*(\d+)")
_FRACTION: Final = re.compile(r"(\d+)/(\d+)")


@functools.lru_cache(maxsize=8192)
def parse_value(text: str) -> Value:
    """A value as an agent wrote it, as a number where it is one.

    ``2**16`` and ``2^16`` -> 65536; ``262K`` -> 262000; ``5%`` -> 0.05;
    ``1800s`` -> 1800; ``1/8`` -> 0.125; ``1e-4`` -> 0.0001; ``0.5x`` stays
    ``"0.5x"`` (a relative factor), ``x2`` -> ``"2x"``; quoted strings lose
    their quotes; anything else stays a string.
    """
    s = text.strip()
    if _PLAIN_INT.fullmatch(s):
        return int(s)
    if _PLAIN_FLOAT.fullmatch(s):
        return float(s)
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        return s[1:-1]
    low = s.lower()
    m = _POWER.fullmatch(low)
    if m:
        exp = int(m.group(2))
        if exp > 64:
            return s
        if "." in m.group(1):
            return _tidy(float(m.group(1)) ** exp)
        return int(m.group(1)) ** exp
    m = _FRACTION.fullmatch(low)
    if m:
        den = int(m.group(2))
        return int(m.group(1)) / den if den else s
    if re.fullmatch(r"x(\d+(?:\.\d+)?)", low):
        return f"{low[1:]}x"
    if low.endswith("x") and _is_number(low[:-1]):
        return s[:-1] + "x"
    scale = 1.0
    body = low
    if body.endswith("%"):
        scale, body = 0.01, body[:-1]
    elif body.endswith("s") and _is_number(body[:-1]):
        body = body[:-1]
    if body[-1:] in ("k", "m", "b") and _is_number(body[:-1]):
        scale *= {"k": 1e3, "m": 1e6, "b": 1e9}[body[-1]]
        body = body[:-1]
    if not _is_number(body):
        return s
    if scale == 1.0 and re.fullmatch(r"[-+]?\d+", body):
        return int(body)
    v = float(body) * scale
    if scale > 1 and v.is_integer() and abs(v) < 2**63:
        return int(v)  # 262K
    return _tidy(v)


def _tidy(v: float) -> float:
    # 5% -> 0.05, not 0.05000000000000001
    if v == 0 or not math.isfinite(v):
        return v
    return float(f"{v:.15g}")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return bool(s) and s[-1] not in "._"


# ---------------------------------------------------------------------------
# parameter extraction from text

_OUTCOME_NAMES: Final = _words(
    """
    loss losses bpb val_bpb mfu tokens tok params parameters steps step vram memory gb
    mb time ms throughput speed delta exit improvement gain gains cuda torch pytorch
    python triton version layer layers heads experts model submission peak lrm sec score
    accuracy perplexity ppl epoch run exp experiment baseline commit tokens_seen sigmoid
    tanh
    """
)
_OUTCOME_PARTS: Final = (
    "bpb",
    "mfu",
    "vram",
    "tok_per_sec",
    "tok_sec",
    "val_loss",
    "train_loss",
    "final_loss",
    "peak_mem",
)
_OUTCOME_PART: Final = re.compile("|".join(_OUTCOME_PARTS))
_RELATIVE_VERBS: Final = {
    "halve": "0.5x",
    "halved": "0.5x",
    "halving": "0.5x",
    "double": "2x",
    "doubled": "2x",
    "doubling": "2x",
    "triple": "3x",
    "tripled": "3x",
    "quarter": "0.25x",
    "quartered": "0.25x",
}
_NAME_SYNONYMS: Final = {("learning", "rate"): ("lr",), ("wd",): ("weight", "decay")}
# parameter groups a value can be set for: "WD 0.01 to embeddings", "LR 0.05 for matrices"
_TARGETS: Final = {
    "embedding": "embedding",
    "embeddings": "embedding",
    "embeds": "embedding",
    "wte": "wte",
    "lm_head": "lm_head",
    "unembedding": "unembedding",
    "unembeddings": "unembedding",
    "head": "head",
    "matrix": "matrix",
    "matrices": "matrix",
    "scalar": "scalar",
    "scalars": "scalar",
    "attention": "attention",
    "attn": "attn",
    "mlp": "mlp",
    "mlps": "mlp",
    "norm": "norm",
    "norms": "norm",
    "gate": "gate",
    "gates": "gate",
    "bias": "bias",
    "biases": "bias",
    "lambda": "lambda",
    "lambdas": "lambda",
    "value_embeds": "value_embedding",
    "value_embeddings": "value_embedding",
}
_TARGET_MODIFIERS: Final = _words("value token input output")
# tiers of where a stated value was found (lower is more trusted)
_T_MAIN, _T_PURPOSE, _T_UPPER_PAREN, _T_SECOND, _T_HYP = range(5)


@attrs.frozen
class _Found:
    tier: int
    start: int
    name: str
    old: Value
    new: Value
    weak: bool = False  # "halve batch": used only if no value for it is stated


def normalise_name(words: Sequence[str]) -> str:
    """A parameter name as lower snake case ("Matrix LR" -> matrix_lr, "learning rate" -> lr)."""
    return _normalise_name(tuple(words))


@functools.lru_cache(maxsize=8192)
def _normalise_name(words: tuple[str, ...]) -> str:
    parts: list[str] = []
    for w in words:
        parts.extend(word_parts(w))
    out: list[str] = []
    i = 0
    while i < len(parts):
        for src, dst in _NAME_SYNONYMS.items():
            if tuple(parts[i : i + len(src)]) == src:
                out.extend(dst)
                i += len(src)
                break
        else:
            out.append(parts[i])
            i += 1
    return "_".join(out)


def _name_word(t: Token) -> bool:
    if t.kind != WORD:
        return False
    low = t.low
    if low in _STOP or low in _VERBS or low in _ADJECTIVES:
        return False
    return not _PATTERN_WORD.match(t.text)


def _name_left(tokens: Sequence[Token], j: int, anchor: Token) -> list[Token]:
    """The name words ending at tokens[j], walking left while they stay in ``anchor``'s phrase."""
    k = j
    while k >= 0 and tokens[k].kind == WORD and tokens[k].low in _FILLERS:
        k -= 1
    words: list[Token] = []
    # "model width (n_embd) from 256 to 384": a parenthesised identifier names it
    if k >= 2 and tokens[k].text == ")" and tokens[k - 2].text == "(" and _name_word(tokens[k - 1]):
        return [tokens[k - 1]]
    while k >= 0 and len(words) < 4:
        t = tokens[k]
        if t.clause != anchor.clause and t.depth != anchor.depth:
            break
        if _name_word(t):
            words.insert(0, t)
            k -= 1
            continue
        if (
            t.kind == WORD
            and t.low in ("on", "for")
            and words
            and k > 0
            and _name_word(tokens[k - 1])
        ):
            # "WD on embeddings to 0.01": the group qualifies the name before it
            group, end = _target_at(tokens, k)
            if group and tokens[end - 1] is words[-1]:
                left = _name_left(tokens, k - 1, anchor)
                if left:
                    return [_renamed(words[0], g) for g in group] + left
            break
        if t.kind == WORD and t.low in ("the", "all") and words and k > 0:
            if tokens[k - 1].low in ("on", "for"):
                k -= 1  # "for the value embeddings"
                continue
            break
        if (
            t.kind == WORD
            and t.low in ("of", "in")
            and words
            and k > 0
            and _name_word(tokens[k - 1])
        ):
            if t.low == "in":
                # "beta1 in ADAM_BETAS": the part before "in" is the parameter
                words = []
            else:
                words.insert(0, t)
            k -= 1
            continue
        break
    while words and words[0].low == "of":
        words.pop(0)
    return words


def _renamed(t: Token, text: str) -> Token:
    """A copy of ``t`` (its role and scope) that reads ``text``."""
    out = Token(t.kind, text, t.start, t.end)
    out.role, out.scope, out.depth, out.clause = t.role, t.scope, t.depth, t.clause
    return out


def _name_right(tokens: Sequence[Token], i: int) -> list[Token]:
    words: list[Token] = []
    n = len(tokens)
    while i < n and len(words) < 3 and _name_word(tokens[i]):
        words.append(tokens[i])
        i += 1
    return words


def _target_at(tokens: Sequence[Token], k: int) -> tuple[tuple[str, ...], int]:
    """The parameter group named after a value ("to embeddings", "for the matrices"), and the end.

    ``((), k)`` when tokens[k] does not start one.
    """
    n = len(tokens)
    if k + 1 >= n or tokens[k].kind != WORD or tokens[k].low not in ("to", "on", "for", "in"):
        return (), k
    j = k + 1
    if tokens[j].low in ("the", "all") and j + 1 < n:
        j += 1
    t = tokens[j]
    if t.kind != WORD:
        return (), k
    if t.low in _TARGET_MODIFIERS and j + 1 < n and _TARGETS.get(tokens[j + 1].low) == "embedding":
        return (t.low, "embedding"), j + 2
    group = _TARGETS.get(t.low)
    if group is None or (j + 1 < n and _name_word(tokens[j + 1])):
        return (), k  # "to attention heads", "in MLP hidden": part of a longer phrase
    return (group,), j + 1


def _title_name(tokens: Sequence[Token], colon: int) -> list[Token]:
    """The words before a title's colon when they are only a name ("matrix lr: 0.04 -> 0.05")."""
    if colon < 1 or tokens[colon].text != ":":
        return []
    start = _first_word(tokens, 0)
    words = tokens[start:colon]
    if not words or len(words) > 4 or not all(_name_word(t) for t in words):
        return []
    return list(words)


def _value_at(tokens: Sequence[Token], i: int, *, loose: bool = False) -> tuple[Value, int] | None:
    """The value starting at tokens[i] and the index after it; ``loose`` admits identifiers ("=SSSL")."""
    n = len(tokens)
    if i >= n:
        return None
    t = tokens[i]
    if t.kind == NUM:
        if (
            i + 2 < n
            and tokens[i + 1].text in (",", "&")
            and tokens[i + 1].start == t.end
            and tokens[i + 2].start == tokens[i + 1].end
            and tokens[i + 2].kind == NUM
        ):
            return None  # a list such as 1,3,5
        if i + 1 < n and tokens[i + 1].low in ("percent", "pct") and t.text[-1:].isdigit():
            value = parse_value(t.text + "%")
            return value, i + 2
        return parse_value(t.text), i + 1
    if t.kind == QUOTE:
        return parse_value(t.text), i + 1
    if t.kind == WORD and _PATTERN_WORD.match(t.text):
        return t.text, i + 1
    if t.kind == PUNCT and t.text == "(" and i + 3 < n:
        # a tuple such as (0.9, 0.98)
        items: list[str] = []
        k = i + 1
        while k < n and tokens[k].kind == NUM:
            items.append(tokens[k].text)
            k += 1
            if k < n and tokens[k].text == ",":
                k += 1
                continue
            break
        if len(items) >= 2 and k < n and tokens[k].text == ")":
            return "(" + ", ".join(items) + ")", k + 1
        return None
    if loose and t.kind in (WORD, OPAQUE):
        # "mode=reduce-overhead", "n_kv=n_head/2", "sdpa_scale=1/head_dim"
        k = i + 1
        end = t.end
        while (
            k < n
            and tokens[k].start == end
            and tokens[k].text not in (",", ";", ")", "(", ":", "]")
        ):
            end = tokens[k].end
            k += 1
        if k < n and tokens[k].start == end and tokens[k].text == "(":
            return None  # a call
        if k < n and tokens[k].kind == PUNCT and tokens[k].text in "+*-/" and tokens[k].start > end:
            return None  # an expression "x = x + attn(...)"
        text = tokens[i].text if k == i + 1 else "".join(x.text for x in tokens[i:k])
        if "." in text and not _PATTERN_WORD.match(text):
            return None  # an attribute such as wte.weight
        if len(text) > 40:
            return None
        return text, k
    return None


def _followed_by_count(tokens: Sequence[Token], k: int) -> bool:
    if k < len(tokens):
        t = tokens[k]
        if t.kind == WORD and (
            t.low in _COUNT_NOUNS or word_parts(t.low)[-1:] in (("heads",), ("layers",))
        ):
            return True
    return False


def _tier(t: Token) -> int | None:
    if t.role in (RESULT, EVIDENCE, BOTTLENECK) or t.scope in (NEGATED, CONTEXT):
        return None
    if t.role == HYPOTHESIS:
        return _T_HYP
    if t.scope == PURPOSE:
        return _T_PURPOSE
    if t.role == CHANGE and t.depth == 0 and t.scope == PLAIN:
        return _T_MAIN
    return _T_SECOND


def _blocked(name: str) -> bool:
    if not name or name in _OUTCOME_NAMES or name[0].isdigit():
        return True
    return _OUTCOME_PART.search(name) is not None


#: ``value_at(tokens, i, loose=False)``: the value starting at tokens[i] and the index after it
ValueAt = Callable[..., "tuple[Value, int] | None"]


def _scan(tokens: Sequence[Token], value_at: ValueAt = _value_at) -> list[_Found]:
    """Every change stated in ``tokens``, read with ``value_at`` (traced by ParamExtractor)."""
    found: list[_Found] = []
    used: set[int] = set()
    n = len(tokens)

    def emit(
        tier: int | None,
        name_tokens: Sequence[Token],
        old: Value,
        new: Value,
        start: int,
        explicit: bool,
        weak: bool = False,
        group: tuple[str, ...] = (),
    ) -> None:
        if tier is None or not name_tokens:
            return
        if any(t.scope in (NEGATED, CONTEXT) for t in name_tokens):
            return
        name = normalise_name([t.text for t in name_tokens])
        if group:
            # "WD 0.01 to embeddings": embedding_weight_decay, unless the name says so already
            prefix = normalise_name(group)
            if not name.startswith(prefix):
                name = f"{prefix}_{name}"
        if _blocked(name):
            return
        if (
            tier == _T_SECOND
            and explicit
            and all(t.role == PAREN and t.scope == PLAIN for t in name_tokens)
            and _upper_constant(name_tokens)
        ):
            tier = _T_UPPER_PAREN
        if tier == _T_PURPOSE and not explicit:
            return
        found.append(_Found(tier, start, name, old, new, weak))

    i = 0
    while i < n:
        t = tokens[i]
        if i in used:
            i += 1
            continue
        kind = t.kind
        if (
            (kind == WORD and t.low not in _RELATIVE_VERBS and not _PATTERN_WORD.match(t.text))
            or (kind == PUNCT and t.text not in ("=", ":=", "("))
            or kind in (ARROW, OPAQUE)
        ):
            i += 1  # nothing starts here
            continue
        # NAME = VALUE
        if t.kind == PUNCT and t.text in ("=", ":=") and i > 0 and tokens[i - 1].kind == WORD:
            v = value_at(tokens, i + 1, loose=True)
            if v is not None and tokens[i - 1].low != str(v[0]).lower():
                new, k = v
                old: Value = None
                while k + 1 < n and tokens[k].kind == ARROW:
                    # "MATRIX_LR=0.04->0.05"
                    nv = value_at(tokens, k + 1)
                    if nv is None:
                        break
                    old = new if old is None else old
                    new, k = nv
                if k + 1 < n and tokens[k].text == "(" and tokens[k + 1].low == "from":
                    ov = value_at(tokens, k + 2)
                    old = ov[0] if ov else old
                elif k < n and tokens[k].low == "from":
                    ov = value_at(tokens, k + 1)
                    old = ov[0] if ov else old
                group, after = _target_at(tokens, k)
                name_tok = tokens[i - 1]
                if _name_word(name_tok) or name_tok.low in _ADJECTIVES:
                    names = [name_tok]
                    if name_tok.text.isalpha() and name_tok.text.islower() and i >= 2:
                        # "SDPA scale=1/head_dim": a plain word is named by the words before it
                        names = (_name_left(tokens, i - 2, name_tok)[-2:] or []) + names
                    emit(_tier(name_tok), names, old, new, name_tok.start, True, group=group)
                    k = after
                used.update(range(i - 1, k))
                i = k
                continue
        v = value_at(tokens, i)
        if v is None:
            # halve NAME / double NAME
            if t.kind == WORD and t.low in _RELATIVE_VERBS and t.role == CHANGE:
                words = _name_right(tokens, i + 1)
                end = i + 1 + len(words)
                if words and not (
                    end < n and (value_at(tokens, end) or tokens[end].low in ("to", "from", "by"))
                ):
                    emit(_tier(t), words, None, _RELATIVE_VERBS[t.low], t.start, False, weak=True)
            i += 1
            continue
        value, k = v
        # a chain of values: V -> V (-> V ...), "from V to V"
        chain = [value]
        m = k
        while m + 1 < n and (tokens[m].kind == ARROW or tokens[m].low == "to"):
            nv = value_at(tokens, m + 1)
            if (
                nv is None
                and isinstance(value, str)
                and _PATTERN_WORD.match(value)
                and _SHORT_PATTERN.match(tokens[m + 1].text)
            ):
                nv = (tokens[m + 1].text, m + 2)  # "SSSL -> S"
            if nv is None:
                break
            chain.append(nv[0])
            m = nv[1]
        before = i - 1
        if before >= 0 and tokens[before].low == "from":
            before -= 1
        if len(chain) >= 2:
            words = _name_left(tokens, before, t)
            if not words and before >= 0 and tokens[before].text == "(" and len(chain) == 2:
                words = _name_left(tokens, before - 1, tokens[before])
            tier = _tier(t)
            if not words and before == i - 1:
                words = _title_name(tokens, before)
                tier = _tier(words[0]) if words else tier
            if not words:
                words = _name_right(tokens, m)
                if words and (words[0].low in _COUNT_NOUNS or words[0].low in _OUTCOME_UNITS):
                    words = []
            if len(chain) > 2 and not words:
                used.update(range(i, m))
                i = m
                continue
            old_v, new_v = chain[0], chain[-1]
            if _is_factor(old_v) and _is_factor(new_v):
                # "MLP 4x -> 3x": a ratio that is set, not a relative change
                old_v, new_v = float(str(old_v)[:-1]), float(str(new_v)[:-1])
            group, m = _target_at(tokens, m)
            emit(tier, words, old_v, new_v, t.start, True, group=group)
            used.update(range(i, m))
            i = m
            continue
        prev = tokens[before] if before >= 0 else None
        # NAME to/by/at/of VALUE
        if (
            prev is not None
            and prev.kind == WORD
            and prev.low in ("to", "by", "at", "of")
            and before == i - 1
        ):
            if _followed_by_count(tokens, k) or (t.kind == QUOTE and prev.low != "to"):
                i = k
                continue
            words = _name_left(tokens, before - 1, t)
            if words and not (prev.low == "at" and isinstance(value, str)):
                old = _instead_of(tokens, k, value_at)
                group, k = _target_at(tokens, k)
                emit(_tier(t), words, old, value, t.start, prev.low == "to", group=group)
            used.update(range(i, k))
            i = k
            continue
        # NAME (VALUE) / NAME (V -> V)
        if (
            prev is not None
            and prev.text == "("
            and before == i - 1
            and k < n
            and tokens[k].low in (")", "of")
            and t.kind == NUM
        ):
            words = _name_left(tokens, before - 1, prev)
            if words:
                emit(_tier(words[-1]), words, None, value, t.start, False)
            i = k + 1
            continue
        # bare NAME VALUE (NAME fixed VALUE)
        j = before
        while j >= 0 and tokens[j].kind == WORD and tokens[j].low in _FILLERS:
            j -= 1
        if (
            prev is not None
            and before == i - 1
            and t.kind == NUM
            and j >= 0
            and _name_word(tokens[j])
        ):
            if _followed_by_count(tokens, k):
                i = k
                continue
            words = _name_left(tokens, before, t)
            old = _instead_of(tokens, k, value_at)
            group, k = _target_at(tokens, k)
            emit(_tier(t), words, old, value, t.start, False, group=group)
            used.update(range(i, k))
            i = k
            continue
        # a title that is a name: "warmdown: 0.5"
        title = _title_name(tokens, before) if before == i - 1 and t.kind == NUM else []
        if title and (k >= n or tokens[k].kind == PUNCT):
            emit(_tier(title[0]), title, None, value, t.start, True)
            used.update(range(i, k))
            i = k
            continue
        # value first: "add 5% warmup", "7200s wallclock", "SSSL window pattern"
        after_list = prev is not None and prev.kind == PUNCT and prev.text in ("/", ",", "+", "-")
        if ((t.kind == NUM and t.text[-1:] in ("%", "s")) or t.kind == WORD) and not after_list:
            words = _name_right(tokens, k)
            if t.kind == WORD:
                words = words if words and words[-1].low in ("pattern", "patterns") else []
            if words and words[0].low not in _COUNT_NOUNS and words[0].low not in _OUTCOME_UNITS:
                emit(_tier(t), words, None, value, t.start, False)
                used.update(range(i, k + len(words)))
                i = k + len(words)
                continue
        i = k
    return found


def _is_factor(v: Value) -> bool:
    return isinstance(v, str) and v.endswith("x") and _is_number(v[:-1])


def _instead_of(tokens: Sequence[Token], k: int, value_at: ValueAt = _value_at) -> Value:
    n = len(tokens)
    if k + 2 < n and tokens[k].low == "instead" and tokens[k + 1].low == "of":
        v = value_at(tokens, k + 2)
        return v[0] if v else None
    if k + 1 < n and tokens[k].text == "(" and k + 2 < n and tokens[k + 1].low == "from":
        v = value_at(tokens, k + 2)
        return v[0] if v else None
    return None


def _has_change_part(analysis: Analysis) -> bool:
    return any(t.kind == WORD and t.role in (CHANGE, DETAIL, PAREN) for t in analysis.tokens)


def _upper_constant(words: Sequence[Token]) -> bool:
    return any(t.text.isupper() and len(t.text) >= 2 for t in words)


def extract_text_params(
    analysis: Analysis, more: Analysis | None = None
) -> tuple[ParamChange, ...]:
    """The parameter changes a description states, in the order it states them.

    Values are read from the change itself first; from remarks, details and
    "with ..." clauses only when the change states none (a remark that names
    an upper-case constant always counts: "DEPTH 12->14 (ASPECT_RATIO 64->54)");
    from the hypothesis (``more``, or a "Hypothesis:" part) only when nothing
    else does. Results, evidence, context ("at DEPTH=3", "after ...") and
    negated phrases ("instead of 0.95", "same dim") never give values. An
    explicit re-measurement of the baseline states no change.
    """
    if analysis.baseline is not None:
        return ()
    return tuple(ParamChange(f.name, f.old, f.new) for f in _chosen(analysis, more))


def _chosen(
    analysis: Analysis, more: Analysis | None, value_at: ValueAt = _value_at
) -> list[_Found]:
    """The changes :func:`extract_text_params` returns, as found, in order."""
    found = _scan(analysis.tokens, value_at)
    if more is not None:
        found += [attrs.evolve(f, tier=_T_HYP, start=f.start + 10**9) for f in _scan(more.tokens)]
    if _has_change_part(analysis):
        # a hypothesis beside a change states the current state as often as the new one
        found = [f for f in found if f.tier != _T_HYP]
    strong = {f.name for f in found if not f.weak}
    found = [f for f in found if not (f.weak and f.name in strong)]
    tiers = {f.tier for f in found}
    keep: set[int] = set()
    if _T_MAIN in tiers:
        keep |= {_T_MAIN, _T_PURPOSE, _T_UPPER_PAREN}
    elif tiers & {_T_PURPOSE, _T_UPPER_PAREN, _T_SECOND}:
        keep |= {_T_PURPOSE, _T_UPPER_PAREN, _T_SECOND}
    else:
        keep.add(_T_HYP)
    out: list[_Found] = []
    seen: set[str] = set()
    for f in sorted(found, key=lambda f: f.start):
        if f.tier in keep and f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return out
