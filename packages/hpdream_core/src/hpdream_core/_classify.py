"""The experiment classifier: (category, subcategory, multi, evidence) under any taxonomy.

From **text** (the description, plus a hypothesis where there is one), the
classifier finds the taxonomy's keywords and weighs each by

- the part of the text it is in: the change itself counts fully; a detail
  after a colon, a parenthetical remark or the hypothesis about half; the
  evidence and the result hardly at all;
- its scope: a purpose ("to increase throughput") or a context ("at
  DEPTH=3", "after removing the cap") counts little, a negation ("instead of
  SwiGLU", "same dim") not at all;
- its place in a compound: in "embedding LR" or "muon momentum warmup" the
  last keyword, the head noun, decides and the others count a quarter;
- its order: the change named first weighs most (1, 2/3, 1/2, ...);
- its length: a longer phrase is more specific.

The category with the highest score wins; its best subcategory is the
subcategory. Text that re-measures the baseline ("baseline", "rerun
baseline") gets the taxonomy's baseline category, a revert ("revert depth
change") its revert category, text that matches nothing the fallback.

From **code** (the old and new train.py), each changed constant, function,
class or region of module code is mapped to a category: constants by the
keywords in their name, then the taxonomy's ``parameters`` patterns;
symbols by the taxonomy's ``symbols`` patterns, then the keywords on the
changed lines; then by the kind of code (``code_kinds``). The diff decides;
the text only picks among the categories the diff touches, and a text that
points elsewhere is reported as a disagreement.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Sequence
from typing import Final

import attrs

from hpdream_core._codediff import (
    CodeDiff,
    ConstantChange,
    SymbolChange,
    diff_train_py,
    glob_specificity,
)
from hpdream_core._params import (
    _PATTERN_WORD,
    _STOP,
    _VERBS,
    BOTTLENECK,
    CHANGE,
    CONTEXT,
    DETAIL,
    EVIDENCE,
    HYPOTHESIS,
    NEGATED,
    OPAQUE,
    PAREN,
    PLAIN,
    PURPOSE,
    RESULT,
    ROLE_NAMES,
    WITH,
    WORD,
    Analysis,
    ParamChange,
    Token,
    analyse,
    camel_parts,
    extract_text_params,
    keyword_words,
    word_parts,
)
from hpdream_core._taxonomy import Taxonomy, default_taxonomy

_ROLE_WEIGHT: Final = {
    CHANGE: 1.0,
    DETAIL: 0.5,
    PAREN: 0.4,
    HYPOTHESIS: 0.5,
    BOTTLENECK: 0.4,
    EVIDENCE: 0.1,
    RESULT: 0.05,
}
_SCOPE_WEIGHT: Final = {PLAIN: 1.0, CONTEXT: 0.15, PURPOSE: 0.2, NEGATED: 0.0, WITH: 0.5}
_MODIFIER: Final = 0.25  # a keyword that modifies a later one in the same compound
_WEAK: Final = 0.25  # a taxonomy's `weak` keywords
_RANKED: Final = 0.3  # compounds at least this heavy take a place in the order
_MIN_SCORE: Final = 0.04  # below this, nothing matched
_EVIDENCE_SHOWN: Final = 4
_CLEAR: Final = 0.5  # a change part that scores this much decides by itself ...
_SUPPORT: Final = 0.3  # ... and the rest of the text counts this much beside it


@attrs.frozen
class Label:
    """The classifier's answer for one experiment.

    ``evidence`` says which words or code changes decided it, so a user can
    audit the label; ``params`` are the parameter changes (from the diff when
    there is one, else from the text); ``disagreement`` is set when both text
    and diff exist and the text points to a category the diff does not touch.
    """

    category: str
    subcategory: str | None
    multi: bool
    evidence: tuple[str, ...]
    params: tuple[ParamChange, ...] = ()
    disagreement: str | None = None


@attrs.frozen
class _Entry:
    category: str
    sub: str | None
    weight: float
    text: str


@attrs.frozen
class _Match:
    first: int  # unit index
    last: int
    entry: _Entry | None  # None: a neutral phrase


class _Rules:
    """A taxonomy compiled for fast matching."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        # Matching runs right to left, so the head noun of a compound gets its longest
        # phrase. One-word phrases by their word, longer ones by their last two words, and
        # phrases whose last word ends in * by the first letters of that word.
        single: dict[str, _Entry | None] = {}
        phrases: dict[tuple[str, str], list[tuple[tuple[str, ...], _Entry | None]]] = {}
        prefixes: dict[str, list[tuple[tuple[str, ...], _Entry | None]]] = {}
        vocab: set[str] = set()

        def add(keyword: str, entry: _Entry | None) -> None:
            words = keyword_words(keyword)
            for w in words:
                if not w.endswith("*"):
                    vocab.add(w)
            last = words[-1]
            if last.endswith("*"):
                prefixes.setdefault(last[:3], []).append((words, entry))
            elif len(words) == 1:
                single[last] = entry
            else:
                phrases.setdefault((words[-2], last), []).append((words, entry))

        for kw in taxonomy.neutral:
            add(kw, None)
        for c in taxonomy.categories:
            for kw in c.keywords:
                add(kw, _Entry(c.key, None, 1.0, kw))
            for kw in c.weak:
                add(kw, _Entry(c.key, None, _WEAK, kw))
            for s in c.subcategories:
                for kw in s.keywords:
                    add(kw, _Entry(c.key, s.key, 1.0, kw))
        for lst in phrases.values():
            lst.sort(key=lambda p: -len(p[0]))
        for plst in prefixes.values():
            plst.sort(key=lambda p: -len(p[0]))  # the longest phrase wins
        self.single = single
        self.phrases = phrases
        self.prefixes = prefixes
        self.vocab = frozenset(vocab)
        self._word_cache: dict[str, tuple[str, ...]] = {}

        self.parameter_globs: list[tuple[float, str, str, str | None]] = []
        self.symbol_globs: list[tuple[float, str, str, str | None]] = []
        self.kinds: dict[str, str] = {}
        for c in taxonomy.categories:
            for g in c.parameters:
                self.parameter_globs.append((glob_specificity(g), g.lower(), c.key, None))
            for g in c.symbols:
                self.symbol_globs.append((glob_specificity(g), g.lower(), c.key, None))
            for s in c.subcategories:
                for g in s.parameters:
                    self.parameter_globs.append((glob_specificity(g), g.lower(), c.key, s.key))
                for g in s.symbols:
                    self.symbol_globs.append((glob_specificity(g), g.lower(), c.key, s.key))
            for kind in c.code_kinds:
                self.kinds.setdefault(kind, c.key)
        # most specific first; on a tie, the one that names a subcategory
        self.parameter_globs.sort(key=lambda g: (-g[0], g[3] is None))
        self.symbol_globs.sort(key=lambda g: (-g[0], g[3] is None))
        self.order = {c.key: i for i, c in enumerate(taxonomy.categories)}
        self.priority = {c.key: c.priority for c in taxonomy.categories}

    # -- words ---------------------------------------------------------------

    def _known(self, part: str) -> bool:
        if part in self.vocab:
            return True
        return any(part.startswith(words[-1][:-1]) for words, _ in self.prefixes.get(part[:3], ()))

    def word_units(self, text: str) -> tuple[str, ...]:
        """The words a token counts as: ``MATRIX_LR`` -> (matrix, lr), ``FlexAttention`` -> (flex, attention)."""
        cached = self._word_cache.get(text)
        if cached is not None:
            return cached
        if _PATTERN_WORD.match(text):
            out: tuple[str, ...] = ("window", "pattern")
        else:
            parts: list[str] = []
            for raw in text.replace("-", "_").replace(".", "_").replace("'", "_").split("_"):
                if not raw:
                    continue
                low = raw.lower()
                if self._known(low):
                    parts.append(low)
                    continue
                if len(low) > 3 and low[-1] == "s" and low[-2] != "s" and self._known(low[:-1]):
                    parts.append(low[:-1])  # a plural: "gradients", "activations"
                    continue
                camel = camel_parts(raw)
                if len(camel) > 1 and any(self._known(c) for c in camel):
                    parts.extend(camel)
                else:
                    parts.append(low)
            out = tuple(parts)
        if len(self._word_cache) < 100_000:
            self._word_cache[text] = out
        return out

    # -- matching ------------------------------------------------------------

    def match(self, tokens: Sequence[Token]) -> tuple[list[tuple[str | None, int]], list[_Match]]:
        word_units = self.word_units
        units: list[tuple[str | None, int]] = []
        append = units.append
        for idx, t in enumerate(tokens):
            kind = t.kind
            if kind == WORD:
                for part in word_units(t.text):
                    append((part, idx))
            elif kind == OPAQUE:
                for part in word_parts(t.text):
                    append((part, idx))
            else:
                append((None, idx))
        matches: list[_Match] = []
        single, phrases, prefixes = self.single, self.phrases, self.prefixes
        j = len(units) - 1
        while j >= 0:
            unit = units[j][0]
            if unit is None:
                j -= 1
                continue
            found: _Match | None = None
            if j > 0:
                before = units[j - 1][0]
                if before is not None:
                    for words, entry in phrases.get((before, unit), ()):
                        if len(words) == 2 or _fits(units, j, words[:-2], 2):
                            found = _Match(j - len(words) + 1, j, entry)
                            break
            if found is None and unit in single:
                found = _Match(j, j, single[unit])
            if prefixes:
                for words, entry in prefixes.get(unit[:3], ()):
                    longer = found is None or len(words) > found.last - found.first + 1
                    if (
                        longer
                        and unit.startswith(words[-1][:-1])
                        and _fits(units, j, words[:-1], 1)
                    ):
                        found = _Match(j - len(words) + 1, j, entry)
            if found is not None:
                matches.append(found)
                j = found.first - 1
            else:
                j -= 1
        matches.reverse()
        return units, matches


def _fits(
    units: Sequence[tuple[str | None, int]], j: int, words: tuple[str, ...], skip: int = 0
) -> bool:
    """Do the units ending at j - skip spell ``words``?"""
    end = j - skip
    start = end - len(words) + 1
    if start < 0:
        return False
    for k, kw in enumerate(words):
        u = units[start + k][0]
        if u is None or not (u == kw or (kw[-1] == "*" and u.startswith(kw[:-1]))):
            return False
    return True


# evidence for a keyword: text, or what is needed to write it (written only if shown)
_Note = str | tuple[Analysis, list[tuple[str | None, int]], _Match, str, bool]


@attrs.define
class _Tally:
    score: dict[str, float] = attrs.Factory(dict)
    main: dict[str, float] = attrs.Factory(dict)  # from the change itself
    sub: dict[tuple[str, str], float] = attrs.Factory(dict)
    first: dict[str, int] = attrs.Factory(dict)
    evidence: dict[str, list[tuple[float, _Note]]] = attrs.Factory(dict)
    change_heads: dict[str, None] = attrs.Factory(dict)

    def add(self, entry: _Entry, w: float, pos: int, note: _Note, main: bool = True) -> None:
        c = entry.category
        self.score[c] = self.score.get(c, 0.0) + w
        if main:
            self.main[c] = self.main.get(c, 0.0) + w
        self.first.setdefault(c, pos)
        if entry.sub is not None:
            key = (c, entry.sub)
            self.sub[key] = self.sub.get(key, 0.0) + w
        self.evidence.setdefault(c, []).append((w, note))


def _compounds(
    units: Sequence[tuple[str | None, int]], matches: Sequence[_Match], tokens: Sequence[Token]
) -> list[list[_Match]]:
    """Group keyword matches into compounds: "muon momentum warmup" is one, its head is "warmup"."""
    groups: list[list[_Match]] = []
    current: list[_Match] = []
    prev_end = -1
    for m in matches:
        if current and m.entry is not None and current[-1].entry is not None:
            gap = units[prev_end + 1 : m.first]
            a, b = tokens[units[prev_end][1]], tokens[units[m.first][1]]
            words = [u for u, _ in gap]
            # "Eager mode DEPTH=4": an assigned name does not join a phrase before it across a word
            tok_i = units[m.first][1]
            assigned = (
                bool(words)
                and tok_i != units[prev_end][1]
                and tok_i + 1 < len(tokens)
                and tokens[tok_i + 1].text == "="
            )
            joined = (
                not assigned
                and len(words) <= 1
                and all(u is not None and u not in _STOP and u not in _VERBS for u in words)
                and a.clause == b.clause
                and a.scope == b.scope
                and a.role == b.role
            )
            if joined:
                current.append(m)
                prev_end = m.last
                continue
        if current:
            groups.append(current)
        current = [m]
        prev_end = m.last
    if current:
        groups.append(current)
    return [g for g in groups if g[-1].entry is not None or len(g) > 1]


def _span(
    analysis: Analysis, tokens: Sequence[Token], units: Sequence[tuple[str | None, int]], m: _Match
) -> str:
    a, b = tokens[units[m.first][1]], tokens[units[m.last][1]]
    return analysis.text[a.start : b.end]


def _score_text(rules: _Rules, tally: _Tally, analysis: Analysis, rank: int) -> int:
    tokens = analysis.tokens
    units, matches = rules.match(tokens)
    for group in _compounds(units, matches, tokens):
        # the head noun decides: the last keyword, unless it is a weak one after a strong one
        strong = [m for m in group if m.entry is not None and m.entry.weight >= 1.0]
        head = strong[-1] if strong else group[-1]
        if head.entry is None:
            continue
        tok = tokens[units[head.first][1]]
        base = _ROLE_WEIGHT[tok.role] * _SCOPE_WEIGHT[tok.scope]
        if base <= 0:
            continue
        decay = 1.0 / (1.0 + 0.5 * rank)
        if base >= _RANKED:
            rank += 1
        where = ROLE_NAMES[tok.role] + (f", {_scope_name(tok.scope)}" if tok.scope != PLAIN else "")
        if tok.role == CHANGE and tok.scope in (PLAIN, WITH) and tok.depth == 0:
            tally.change_heads.setdefault(head.entry.category)
        for m in group:
            entry = m.entry
            if entry is None:
                continue
            size = m.last - m.first + 1
            w = (
                base
                * decay
                * entry.weight
                * (1.0 + 0.25 * (size - 1))
                * (1.0 if m is head else _MODIFIER)
            )
            main = tok.role == CHANGE and tok.depth == 0
            # the note is written only if it is shown
            tally.add(entry, w, tok.start, (analysis, units, m, where, m is head), main)
    return rank


def _note(note: _Note) -> str:
    if isinstance(note, str):
        return note
    analysis, units, m, where, is_head = note
    entry = m.entry
    assert entry is not None
    label = entry.category if entry.sub is None else f"{entry.category}/{entry.sub}"
    role = where if is_head else f"{where}, modifier"
    return f'text: "{_span(analysis, analysis.tokens, units, m)}" ({role}) -> {label}'


def _scope_name(scope: int) -> str:
    return ("", "context", "purpose", "negated", "with")[scope]


def _decide(rules: _Rules, tally: _Tally) -> tuple[str, str | None, float] | None:
    if not tally.score:
        return None
    if tally.main and max(tally.main.values()) >= _CLEAR:
        # the change itself is clear: the hypothesis, remarks and results only break near-ties
        for c in tally.score:
            main = tally.main.get(c, 0.0)
            tally.score[c] = main + _SUPPORT * (tally.score[c] - main)
    best = max(
        tally.score,
        key=lambda c: (round(tally.score[c], 9), -tally.first[c], rules.priority.get(c, 0)),
    )
    if tally.score[best] < _MIN_SCORE:
        return None
    subs = [(s, w) for (c, s), w in tally.sub.items() if c == best]
    sub = max(subs, key=lambda x: x[1])[0] if subs else None
    return best, sub, tally.score[best]


def _text_evidence(tally: _Tally, category: str) -> list[str]:
    notes = sorted(tally.evidence.get(category, []), key=lambda x: -x[0])[:_EVIDENCE_SHOWN]
    out = [f"{_note(note)} [{w:.2f}]" for w, note in notes]
    others = sorted(
        (c for c in tally.score if c != category and tally.score[c] >= _MIN_SCORE),
        key=lambda c: -tally.score[c],
    )
    if others:
        out.append(
            "text: also "
            + ", ".join(
                f"{c} {tally.score[c]:.2f} vs {tally.score[category]:.2f}" for c in others[:3]
            )
        )
    return out


class Classifier:
    """A taxonomy with its rules compiled, to classify many experiments fast.

    ``Classifier(taxonomy).classify(description, hypothesis=..., old_code=...,
    new_code=...)`` returns a :class:`Label`; ``label_row`` has the signature of
    :data:`hpdream_core.Labeler` (description, hypothesis) -> (category,
    subcategory, multi) for the importer.
    """

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy if taxonomy is not None else default_taxonomy()
        self._rules = _Rules(self.taxonomy)

    def label_row(
        self, description: str, hypothesis: str | None = None
    ) -> tuple[str, str | None, bool]:
        label = self._classify_text(description or "", hypothesis, want_params=False)[0]
        return label.category, label.subcategory, label.multi

    def classify(
        self,
        description: str,
        *,
        hypothesis: str | None = None,
        old_code: str | None = None,
        new_code: str | None = None,
    ) -> Label:
        """Classify one experiment from its text and, when given both, its train.py before and after."""
        text_label, analysis, decided = self._classify_text(description or "", hypothesis)
        if old_code is None or new_code is None:
            return text_label
        diff = diff_train_py(old_code, new_code)
        return self._with_diff(text_label, decided, diff, analysis)

    # -- text ----------------------------------------------------------------

    def _classify_text(
        self, description: str, hypothesis: str | None, want_params: bool = True
    ) -> tuple[Label, Analysis, bool]:
        """The label from text, the analysis, and whether the text named anything at all."""
        tax = self.taxonomy
        analysis = analyse(description)
        more = analyse(hypothesis, HYPOTHESIS) if hypothesis and hypothesis.strip() else None
        if analysis.baseline is not None and tax.baseline is not None:
            note = f'text: "{analysis.baseline}" -> re-measures the baseline -> {tax.baseline}'
            return Label(tax.baseline, None, False, (note,)), analysis, True
        params = extract_text_params(analysis, more) if want_params else ()
        if analysis.revert is not None and tax.revert is not None:
            cat, sub = tax.revert
            note = f'text: "{analysis.revert}" -> a revert -> {_where(cat, sub)}'
            return Label(cat, sub, False, (note,), params), analysis, True
        tally = _Tally()
        rank = _score_text(self._rules, tally, analysis, 0)
        if more is not None:
            _score_text(self._rules, tally, more, rank)
        decided = _decide(self._rules, tally)
        if decided is None:
            why = (
                "no keyword of the taxonomy matched" if description.strip() else "empty description"
            )
            note = f"text: {why} -> {tax.fallback} (the fallback)"
            return Label(tax.fallback, None, False, (note,), params), analysis, False
        category, sub, _ = decided
        multi = len(tally.change_heads) > 1
        evidence = tuple(_text_evidence(tally, category))
        return Label(category, sub, multi, evidence, params), analysis, True

    # -- code ----------------------------------------------------------------

    def _name_category(self, words: Sequence[str]) -> tuple[str, str | None, str] | None:
        """Classify a name such as MATRIX_LR by its keywords (head-final), as text."""
        text = " ".join(words)
        tally = _Tally()
        _score_text(self._rules, tally, analyse(text), 0)
        decided = _decide(self._rules, tally)
        if decided is None:
            return None
        cat, sub, _ = decided
        best = [_note(n) for _, n in sorted(tally.evidence.get(cat, []), key=lambda x: -x[0])]
        why = best[0].split('"')[1] if best and '"' in best[0] else text
        return cat, sub, why

    def _glob(
        self, globs: Sequence[tuple[float, str, str, str | None]], name: str
    ) -> tuple[str, str | None, str] | None:
        low = name.lower()
        for _, pattern, cat, sub in globs:
            if fnmatch.fnmatchcase(low, pattern):
                return cat, sub, pattern
        return None

    def _constant(self, c: ConstantChange) -> tuple[str, str | None, str]:
        what = f"constant {c.name} {_show(c.old_source)} -> {_show(c.new_source)}"
        by_words = self._name_category([c.short_name])
        if by_words is not None:
            cat, sub, why = by_words
            return cat, sub, f'diff: {what}: "{why}" -> {_where(cat, sub)}'
        by_glob = self._glob(self._rules.parameter_globs, c.short_name)
        if by_glob is not None:
            cat, sub, pattern = by_glob
            return cat, sub, f"diff: {what}: name matches {pattern!r} -> {_where(cat, sub)}"
        cat = self._rules.kinds.get(c.kind, self.taxonomy.fallback)
        return cat, None, f"diff: {what}: a {c.kind} constant -> {cat}"

    def _symbol(self, s: SymbolChange) -> tuple[str, str | None, str]:
        what = (
            f"{s.change} {s.name} ({s.lines} lines)"
            if s.name.startswith("<")
            else f"{s.change} {s.name}"
        )
        parts = s.name.split(".")
        if not s.name.startswith("<"):
            # the method's name first, then its class's: GPT.setup_optimizer is optimizer code
            globs = [
                g for g in (self._glob(self._rules.symbol_globs, p) for p in reversed(parts)) if g
            ]
            if globs:
                cat, sub, pattern = globs[0]
                if sub is None:
                    # the changed lines name it (relu -> gelu), else the class (CausalSelfAttention)
                    sub = self._content_sub(cat, s.words)
                if sub is None:
                    sub = next((g[1] for g in globs[1:] if g[0] == cat and g[1]), None)
                return cat, sub, f"diff: {what}: name matches {pattern!r} -> {_where(cat, sub)}"
            by_words = self._name_category([parts[-1]])
            if by_words is not None:
                cat, sub, why = by_words
                return cat, sub, f'diff: {what}: "{why}" -> {_where(cat, sub)}'
        by_content = self._content(s.words)
        if by_content is not None:
            cat, sub, why = by_content
            return cat, sub, f"diff: {what}: changed code mentions {why} -> {_where(cat, sub)}"
        cat = self._rules.kinds.get(s.kind, self.taxonomy.fallback)
        return cat, None, f"diff: {what}: {s.kind} code -> {cat}"

    def _content(self, words: Sequence[str]) -> tuple[str, str | None, str] | None:
        """Classify changed code by the keywords of its identifiers (a bag of words, no order)."""
        if not words:
            return None
        tally = _Tally()
        for w in words[:200]:
            _, matches = self._rules.match(analyse(w).tokens)
            for m in matches:
                if m.entry is not None:
                    tally.add(m.entry, m.entry.weight, 0, w)
        decided = _decide(self._rules, tally)
        if decided is None:
            return None
        cat, sub, _ = decided
        names = sorted({_note(note) for _, note in tally.evidence[cat]})[:3]
        return cat, sub, ", ".join(names)

    def _content_sub(self, category: str, words: Sequence[str]) -> str | None:
        tally = _Tally()
        for w in words[:200]:
            _, matches = self._rules.match(analyse(w).tokens)
            for m in matches:
                if m.entry is not None and m.entry.category == category:
                    tally.add(m.entry, m.entry.weight, 0, w)
        subs = [(s, w) for (c, s), w in tally.sub.items() if c == category]
        return max(subs, key=lambda x: x[1])[0] if subs else None

    def _with_diff(
        self, text_label: Label, text_decided: bool, diff: CodeDiff, analysis: Analysis
    ) -> Label:
        tax = self.taxonomy
        notes: list[str] = []
        if diff.error:
            notes.append(
                f"diff: {diff.error}; classified from the text where the code could not be read"
            )
        if not diff.changed:
            disagreement = None
            if text_decided and text_label.category != tax.baseline and not diff.error:
                disagreement = (
                    f"the text describes a change ({text_label.category}) but train.py is unchanged"
                )
            evidence = (*notes, "diff: train.py is unchanged", *text_label.evidence)
            return attrs.evolve(text_label, evidence=evidence, disagreement=disagreement)
        weights: dict[str, float] = {}
        first: dict[str, int] = {}
        subs: dict[str, dict[str | None, float]] = {}

        def count(cat: str, sub: str | None, w: float, position: int) -> None:
            weights[cat] = weights.get(cat, 0.0) + w
            first.setdefault(cat, position)
            cat_subs = subs.setdefault(cat, {})
            cat_subs[sub] = cat_subs.get(sub, 0.0) + w

        for i, c in enumerate(diff.constants):
            cat, sub, note = self._constant(c)
            count(cat, sub, 1.0, c.line * 1000 + i)
            notes.append(note)
        for i, s in enumerate(diff.symbols):
            cat, sub, note = self._symbol(s)
            if s.name == "<unparsed code>":
                # code that does not parse says little about the change: shown, not counted
                notes.append(note + " (not counted: the file does not parse)")
                continue
            # a function counts 1 to 2 by its changed lines, module code half as much
            count(
                cat,
                sub,
                (0.5 if s.name.startswith("<") else 1.0) + min(s.lines, 40) / 40,
                s.line * 1000 + i,
            )
            notes.append(note)
        params = diff.params if not diff.error or diff.params else text_label.params
        if analysis.revert is not None and tax.revert is not None:
            cat, sub = tax.revert
            return Label(cat, sub, False, (*text_label.evidence, *notes), params)
        if not weights:
            # nothing countable changed (only code that does not parse): the text decides
            return attrs.evolve(text_label, evidence=(*notes, *text_label.evidence))
        disagreement = None
        if text_decided and text_label.category in weights:
            # the text names the main change among those the diff makes
            category = text_label.category
            sub = text_label.subcategory or _best_sub(subs[category])
        else:
            category = max(
                weights, key=lambda c: (weights[c], -first[c], self._rules.priority.get(c, 0))
            )
            sub = _best_sub(subs[category])
            if text_decided:
                touched = ", ".join(sorted(weights, key=lambda c: -weights[c]))
                disagreement = (
                    f"the text points to {_where(text_label.category, text_label.subcategory)} "
                    f"but the diff changes {touched}"
                )
        evidence = (*notes, *text_label.evidence)
        return Label(category, sub, len(weights) > 1, evidence, params, disagreement)


def _best_sub(subs: dict[str | None, float]) -> str | None:
    named = {k: v for k, v in subs.items() if k is not None}
    if not named:
        return None
    return max(named, key=lambda k: named[k])


def _show(source: str | None) -> str:
    return "(none)" if source is None else source


def _where(cat: str, sub: str | None) -> str:
    return cat if sub is None else f"{cat}/{sub}"


@functools.lru_cache(maxsize=16)
def _classifier(taxonomy: Taxonomy | None) -> Classifier:
    return Classifier(taxonomy)


def classify(
    description: str,
    *,
    hypothesis: str | None = None,
    old_code: str | None = None,
    new_code: str | None = None,
    taxonomy: Taxonomy | None = None,
) -> Label:
    """Classify one experiment (see :class:`Classifier`); the default taxonomy unless one is given."""
    return _classifier(taxonomy).classify(
        description, hypothesis=hypothesis, old_code=old_code, new_code=new_code
    )


def extract_params(
    description: str,
    *,
    hypothesis: str | None = None,
    old_code: str | None = None,
    new_code: str | None = None,
) -> tuple[ParamChange, ...]:
    """The parameter changes of one experiment: from the diff when there is one, else from the text."""
    if old_code is not None and new_code is not None:
        diff = diff_train_py(old_code, new_code)
        if not diff.error or diff.params:
            return diff.params
    analysis = analyse(description or "")
    more = analyse(hypothesis, HYPOTHESIS) if hypothesis and hypothesis.strip() else None
    return extract_text_params(analysis, more)
