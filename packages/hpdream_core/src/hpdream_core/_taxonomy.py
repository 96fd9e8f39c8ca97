"""The category taxonomy as data: the default one shipped with the package, and user taxonomies.

A taxonomy is a TOML file (see ``docs/taxonomy.md``)::

    format_version = 1
    name = "my-study"
    fallback = "other"            # the category of text that matches nothing
    baseline = "baseline"         # optional: explicit re-measurements of the baseline
    revert = "other/revert"       # optional: reverts ("category" or "category/subcategory")
    neutral = ["val bpb", ...]    # optional: phrases that never count

    [[categories]]
    key = "hyperparameters"
    description = "..."
    keywords = ["lr", "learning rate", ...]
    weak = ["knob"]               # optional: keywords that count a quarter
    parameters = ["*_lr"]         # optional: globs over parameter / constant names
    symbols = ["get_lr*"]         # optional: globs over train.py functions and classes
    code_kinds = ["hyperparameter"]  # optional: kinds of code change (see diff_train_py)
    priority = 0                  # optional: breaks exact ties (higher wins)

      [[categories.subcategories]]
      key = "learning_rate"
      description = "..."
      keywords = [...]
      parameters = [...]
      symbols = [...]

Every problem raises :class:`TaxonomyError` naming the file, the place in it
(``categories[2].subcategories[0].key``) and the reason.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from hpdream_core._exceptions import TaxonomyError
from hpdream_core._params import keyword_words

TAXONOMY_FORMAT_VERSION = 1
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = frozenset(
    {
        "format_version",
        "name",
        "description",
        "fallback",
        "baseline",
        "revert",
        "neutral",
        "categories",
    }
)
_CATEGORY_KEYS = frozenset(
    {
        "key",
        "description",
        "keywords",
        "weak",
        "parameters",
        "symbols",
        "code_kinds",
        "priority",
        "subcategories",
    }
)
_SUBCATEGORY_KEYS = frozenset({"key", "description", "keywords", "parameters", "symbols"})


@attrs.frozen
class Subcategory:
    """A finer label inside a category, with the keywords that point to it."""

    key: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()


@attrs.frozen
class Category:
    """One category of intervention.

    ``keywords`` (and ``weak`` ones, which count a quarter) are the words that
    point to the category without a subcategory; each subcategory has its own.
    ``parameters`` and ``symbols`` are case-insensitive glob patterns over
    parameter names and over the names of changed functions and classes;
    ``code_kinds`` are kinds of code change (see :func:`diff_train_py`) that
    belong here when nothing more specific decides. ``priority`` breaks exact
    ties between categories (higher wins).
    """

    key: str
    description: str = ""
    subcategories: tuple[Subcategory, ...] = ()
    keywords: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    code_kinds: tuple[str, ...] = ()
    priority: int = 0

    def subcategory(self, key: str) -> Subcategory:
        for sub in self.subcategories:
            if sub.key == key:
                return sub
        raise KeyError(f"category {self.key!r} has no subcategory {key!r}")

    def subcategory_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.subcategories)


@attrs.frozen(cache_hash=True)
class Taxonomy:
    """A set of categories; ``fallback`` is the category of text that matches nothing.

    ``baseline`` (optional) is the category of an explicit re-measurement of
    the baseline, ``revert`` (optional, ``(category, subcategory or None)``)
    that of a revert. ``neutral`` phrases never count for any category.
    """

    name: str
    categories: tuple[Category, ...]
    description: str = ""
    fallback: str = "other"
    baseline: str | None = None
    revert: tuple[str, str | None] | None = None
    neutral: tuple[str, ...] = ()

    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.categories)

    def __getitem__(self, key: str) -> Category:
        for c in self.categories:
            if c.key == key:
                return c
        raise KeyError(f"taxonomy {self.name!r} has no category {key!r}")

    def __contains__(self, key: object) -> bool:
        return any(c.key == key for c in self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def to_toml(self) -> str:
        """The taxonomy as TOML text that :func:`parse_taxonomy` reads back to an equal object."""
        out = [f"format_version = {TAXONOMY_FORMAT_VERSION}", f"name = {_q(self.name)}"]
        out.append(f"description = {_q(self.description)}")
        out.append(f"fallback = {_q(self.fallback)}")
        if self.baseline is not None:
            out.append(f"baseline = {_q(self.baseline)}")
        if self.revert is not None:
            cat, sub = self.revert
            out.append(f"revert = {_q(cat if sub is None else f'{cat}/{sub}')}")
        out.append(f"neutral = {_list(self.neutral)}")
        for c in self.categories:
            out += ["", "[[categories]]", f"key = {_q(c.key)}"]
            out.append(f"description = {_q(c.description)}")
            out.append(f"priority = {c.priority}")
            for field in ("keywords", "weak", "parameters", "symbols", "code_kinds"):
                out.append(f"{field} = {_list(getattr(c, field))}")
            for s in c.subcategories:
                out += ["", "  [[categories.subcategories]]", f"  key = {_q(s.key)}"]
                out.append(f"  description = {_q(s.description)}")
                for field in ("keywords", "parameters", "symbols"):
                    out.append(f"  {field} = {_list(getattr(s, field))}")
        return "\n".join(out) + "\n"


def _q(text: str) -> str:
    # a TOML basic string
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
    )
    escaped = "".join(ch if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


@functools.cache
def default_taxonomy() -> Taxonomy:
    """The taxonomy of docs/taxonomy.md, read once from the TOML shipped in the package."""
    ref = resources.files("hpdream_core").joinpath("data", "taxonomy.toml")
    return parse_taxonomy(ref.read_text(encoding="utf-8"), source="hpdream_core/data/taxonomy.toml")


def load_taxonomy(path: Path | str) -> Taxonomy:
    """Read a taxonomy TOML file; raise :class:`TaxonomyError` on any problem."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TaxonomyError(str(path), "file", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaxonomyError(str(path), "file", f"not UTF-8 (byte {exc.start})") from None
    return parse_taxonomy(text, source=str(path))


def parse_taxonomy(text: str, source: str | None = None) -> Taxonomy:
    """Parse the TOML text of a taxonomy; ``source`` names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(source, "TOML", str(exc)) from None
    return _Parser(source).taxonomy(doc)


class _Parser:
    def __init__(self, source: str | None) -> None:
        self.source = source

    def fail(self, where: str, reason: str) -> TaxonomyError:
        return TaxonomyError(self.source, where, reason)

    def taxonomy(self, doc: Mapping[str, Any]) -> Taxonomy:
        unknown = sorted(set(doc) - _TOP_KEYS)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
        version = doc.get("format_version", TAXONOMY_FORMAT_VERSION)
        if type(version) is not int:
            raise self.fail("format_version", f"must be an integer, got {version!r}")
        if version != TAXONOMY_FORMAT_VERSION:
            raise self.fail(
                "format_version",
                f"unsupported version {version} (this hpdream reads {TAXONOMY_FORMAT_VERSION})",
            )
        name = self.string(doc, "name", "name", required=True)
        if not name.strip():
            raise self.fail("name", "must not be empty")
        description = self.string(doc, "description", "description")
        raw = doc.get("categories")
        if raw is None:
            raise self.fail(
                "categories", "missing: a taxonomy needs at least one [[categories]] table"
            )
        if not isinstance(raw, list) or not raw:
            raise self.fail("categories", "must be a non-empty array of tables ([[categories]])")
        categories = tuple(self.category(c, f"categories[{i}]") for i, c in enumerate(raw))
        seen: dict[str, int] = {}
        for i, c in enumerate(categories):
            if c.key in seen:
                raise self.fail(
                    f"categories[{i}].key",
                    f"duplicate category {c.key!r} (also categories[{seen[c.key]}])",
                )
            seen[c.key] = i
        keys = tuple(seen)
        fallback_default = "other" if "other" in seen else None
        fallback = doc.get("fallback", fallback_default)
        if fallback is None:
            raise self.fail(
                "fallback",
                "missing: name the category of text that matches nothing (no category is called 'other')",
            )
        if not isinstance(fallback, str) or fallback not in seen:
            raise self.fail(
                "fallback", f"{fallback!r} is not a category (categories: {', '.join(keys)})"
            )
        baseline = doc.get("baseline", "baseline" if "baseline" in seen else None)
        if baseline is not None and (not isinstance(baseline, str) or baseline not in seen):
            raise self.fail(
                "baseline", f"{baseline!r} is not a category (categories: {', '.join(keys)})"
            )
        revert = self.revert(doc.get("revert"), categories, keys)
        neutral = self.keywords(doc, "neutral", "neutral")
        taxonomy = Taxonomy(
            name=name,
            categories=categories,
            description=description,
            fallback=fallback,
            baseline=baseline,
            revert=revert,
            neutral=neutral,
        )
        self.check_keywords(taxonomy)
        return taxonomy

    def revert(
        self, raw: object, categories: tuple[Category, ...], keys: tuple[str, ...]
    ) -> tuple[str, str | None] | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise self.fail(
                "revert", f"must be a string 'category' or 'category/subcategory', got {raw!r}"
            )
        cat, _, sub = raw.partition("/")
        if cat not in keys:
            raise self.fail("revert", f"{cat!r} is not a category (categories: {', '.join(keys)})")
        if not sub:
            return cat, None
        category = categories[keys.index(cat)]
        if sub not in category.subcategory_keys():
            raise self.fail("revert", f"category {cat!r} has no subcategory {sub!r}")
        return cat, sub

    def category(self, raw: object, where: str) -> Category:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table")
        unknown = sorted(set(raw) - _CATEGORY_KEYS)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(_CATEGORY_KEYS))})"
            )
        key = self.key(raw, where)
        priority = raw.get("priority", 0)
        if type(priority) is not int:
            raise self.fail(f"{where}.priority", f"must be an integer, got {priority!r}")
        subs_raw = raw.get("subcategories", [])
        if not isinstance(subs_raw, list):
            raise self.fail(f"{where}.subcategories", "must be an array of tables")
        subs = tuple(
            self.subcategory(s, f"{where}.subcategories[{i}]") for i, s in enumerate(subs_raw)
        )
        seen: dict[str, int] = {}
        for i, s in enumerate(subs):
            if s.key in seen:
                raise self.fail(
                    f"{where}.subcategories[{i}].key",
                    f"duplicate subcategory {s.key!r} (also subcategories[{seen[s.key]}])",
                )
            seen[s.key] = i
        return Category(
            key=key,
            description=self.string(raw, "description", f"{where}.description"),
            subcategories=subs,
            keywords=self.keywords(raw, "keywords", f"{where}.keywords"),
            weak=self.keywords(raw, "weak", f"{where}.weak"),
            parameters=self.globs(raw, "parameters", f"{where}.parameters"),
            symbols=self.globs(raw, "symbols", f"{where}.symbols"),
            code_kinds=self.globs(raw, "code_kinds", f"{where}.code_kinds"),
            priority=priority,
        )

    def subcategory(self, raw: object, where: str) -> Subcategory:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table")
        unknown = sorted(set(raw) - _SUBCATEGORY_KEYS)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}",
                f"unknown key (known: {', '.join(sorted(_SUBCATEGORY_KEYS))})",
            )
        return Subcategory(
            key=self.key(raw, where),
            description=self.string(raw, "description", f"{where}.description"),
            keywords=self.keywords(raw, "keywords", f"{where}.keywords"),
            parameters=self.globs(raw, "parameters", f"{where}.parameters"),
            symbols=self.globs(raw, "symbols", f"{where}.symbols"),
        )

    def key(self, raw: Mapping[str, Any], where: str) -> str:
        key = raw.get("key")
        if key is None:
            raise self.fail(f"{where}.key", "missing")
        if not isinstance(key, str) or not _KEY.match(key):
            raise self.fail(
                f"{where}.key",
                f"must be a lower-case identifier (letters, digits, _; a letter first), got {key!r}",
            )
        return key

    def string(
        self, raw: Mapping[str, Any], name: str, where: str, *, required: bool = False
    ) -> str:
        value = raw.get(name)
        if value is None:
            if required:
                raise self.fail(where, "missing")
            return ""
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {type(value).__name__}")
        return value

    def strings(self, raw: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
        value = raw.get(name, [])
        if not isinstance(value, list):
            raise self.fail(where, f"must be an array of strings, got {type(value).__name__}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{where}[{i}]", f"must be a string, got {item!r}")
            if not item.strip():
                raise self.fail(f"{where}[{i}]", "must not be empty")
        return tuple(item.strip() for item in value)

    def keywords(self, raw: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
        items = self.strings(raw, name, where)
        for i, item in enumerate(items):
            if "*" in item.rstrip("*") or item.count("*") > 1:
                raise self.fail(f"{where}[{i}]", f"{item!r}: '*' may only end a keyword")
            if item.endswith("*") and (len(item) < 4 or not item[-2].isalnum()):
                raise self.fail(
                    f"{where}[{i}]",
                    f"{item!r}: a prefix keyword needs at least 3 letters before '*'",
                )
            if not keyword_words(item):
                raise self.fail(f"{where}[{i}]", f"{item!r} has no word to match")
        return items

    def globs(self, raw: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
        items = self.strings(raw, name, where)
        for i, item in enumerate(items):
            if any(ch.isspace() for ch in item):
                raise self.fail(f"{where}[{i}]", f"{item!r}: a name pattern has no spaces")
        return items

    def check_keywords(self, taxonomy: Taxonomy) -> None:
        # The same phrase in two places would make the label depend on file order.
        owner: dict[tuple[str, ...], str] = {}

        def claim(words: tuple[str, ...], where: str, text: str) -> None:
            if words in owner:
                raise self.fail(
                    where, f"keyword {text!r} also appears at {owner[words]} (each phrase once)"
                )
            owner[words] = where

        for i, kw in enumerate(taxonomy.neutral):
            claim(keyword_words(kw), f"neutral[{i}]", kw)
        for ci, c in enumerate(taxonomy.categories):
            for field in ("keywords", "weak"):
                for i, kw in enumerate(getattr(c, field)):
                    claim(keyword_words(kw), f"categories[{ci}].{field}[{i}]", kw)
            for si, s in enumerate(c.subcategories):
                for i, kw in enumerate(s.keywords):
                    claim(
                        keyword_words(kw), f"categories[{ci}].subcategories[{si}].keywords[{i}]", kw
                    )
