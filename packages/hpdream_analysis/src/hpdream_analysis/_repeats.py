"""Repeats ("Groundhog Day"): an experiment that re-tries an earlier one of its trajectory.

Experiment i (after the baseline) **repeats** an earlier experiment j >= 1 of
the same trajectory by one of three rules:

* ``text``: their descriptions are near duplicates. Normalised text is the
  sequence of word and number tokens of the lower-cased description
  (punctuation and spacing dropped; numbers compared by value, so ``0.050`` is
  ``0.05``). Two descriptions are near duplicates when their **numbers are the
  same, in the same order**, and the Jaccard similarity of their word sets
  (common function words such as "the" or "to" left out) is >= ``threshold``.
  So "lr 0.04 -> 0.05" and "lr 0.04 -> 0.03" are not repeats (a number
  differs), while the same text with the same numbers is (similarity 1).
* ``diff``: their code diffs are the same after normalisation (only when the
  frame has a ``diff`` text column: file headers and hunk markers dropped,
  each line stripped, blank lines dropped).
* ``params``: they set the same parameters to the same values (the set of
  (parameter, new value) pairs is equal and not empty; see
  :func:`hpdream_analysis.param_changes`).

For each repeating experiment the earliest j it repeats is reported; when
several rules find that j, the first of text, diff, params names it.

Scaling: exact matches are grouped by hash; near duplicates are found by
prefix filtering (each word set's rarest words are joined, which finds every
pair with Jaccard >= threshold), then verified exactly, all in polars. Nothing
is an all-pairs loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import polars as pl

from hpdream_analysis._exceptions import StatisticsError
from hpdream_analysis._params import ExtractArg, Texts, index_texts, resolve_extractor
from hpdream_analysis._schema import SCHEMA, TRAJECTORY
from hpdream_analysis._trajectory import experiment_rows

Rule = Literal["text", "diff", "params"]
#: The repeat rules, in the order that names a pair when several find it.
RULES: Final[tuple[Rule, ...]] = ("text", "diff", "params")

#: Words left out of the word sets compared by the text rule.
STOP_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "from",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "as",
        "is",
        "was",
        "be",
        "it",
        "this",
        "that",
        "then",
        "than",
        "into",
        "vs",
        "via",
    ]
)
#: Tokens of normalised text: words (letters first) and numbers.
TOKEN: Final = r"[^\W\d]\w*|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_NUMBER_START: Final = r"^[0-9.]"
_DIFF_NOISE: Final = r"^(?:diff --git|index |--- |\+\+\+ |@@)"

_KEYS = list(TRAJECTORY)
#: Columns of :func:`repeats`.
REPEATS_SCHEMA: Final = pl.Schema(
    {
        **{k: SCHEMA[k] for k in TRAJECTORY},
        "index": pl.Int64(),
        "repeat_of": pl.Int64(),
        "rule": pl.String(),
        "similarity": pl.Float64(),
        "description": pl.String(),
        "repeat_of_description": pl.String(),
    }
)
_MATCH_SCHEMA: Final = pl.Schema(
    {"_row": pl.Int64(), "repeat_position": pl.Int64(), "similarity": pl.Float64()}
)


def normalize_tokens(description: pl.Expr) -> pl.Expr:
    """The word and number tokens of a description, lower-cased (a list of strings)."""
    return description.str.to_lowercase().str.extract_all(TOKEN)


def _numbers_key(tokens: pl.Expr) -> pl.Expr:
    numbers = tokens.list.eval(
        pl.element()
        .filter(pl.element().str.contains(_NUMBER_START))
        .cast(pl.Float64, strict=False)
        .cast(pl.String)
    )
    return numbers.list.join(" ")


def _word_set(tokens: pl.Expr) -> pl.Expr:
    words = tokens.list.eval(
        pl.element().filter(
            ~pl.element().str.contains(_NUMBER_START) & ~pl.element().is_in(sorted(STOP_WORDS))
        )
    )
    return words.list.unique().list.sort()


def _largest(frame: pl.DataFrame, column: str) -> int:
    """The largest value of an integer column (0 when empty)."""
    return int(frame.select(pl.col(column).max().fill_null(0).cast(pl.Int64)).item())


def _prefix_length(size: pl.Expr, threshold: float) -> pl.Expr:
    # a set of s words shares, with any set of Jaccard >= t, one of its
    # s - ceil(t * s) + 1 rarest words (prefix filtering, in one global order)
    needed = (size.cast(pl.Float64) * threshold - 1e-9).ceil().cast(pl.Int64)
    return size - needed + 1


def _text_matches(indexed: Texts, threshold: float) -> pl.DataFrame:
    """(row, earlier position, similarity) by the text rule (eager)."""
    # each distinct text is normalised once
    tokens = normalize_tokens(pl.col("description"))
    texts = (
        indexed.texts.lazy()
        .with_columns(_tokens=tokens)
        .select(
            "_text",
            _numbers_key(pl.col("_tokens")).alias("_numbers"),
            _word_set(pl.col("_tokens")).alias("_words"),
        )
        .filter((pl.col("_words").list.len() > 0) | (pl.col("_numbers").str.len_chars() > 0))
        .with_columns(_wordkey=pl.col("_words").list.join(" "))
        .collect()
    )
    # contents: distinct (numbers, word set); identical contents have similarity 1
    contents = (
        texts.lazy()
        .unique(subset=["_numbers", "_wordkey"], keep="any")
        .select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_c"),
            "_numbers",
            "_wordkey",
            "_words",
            pl.col("_numbers").rank("dense").cast(pl.Int64).alias("_n"),
            pl.col("_words").list.len().cast(pl.Int64).alias("_size"),
        )
        .collect()
    )
    text_content = texts.lazy().join(
        contents.lazy().select("_numbers", "_wordkey", "_c"), on=["_numbers", "_wordkey"]
    )
    per_row = (
        indexed.rows.lazy()
        .select("_row", "_tid", "position", "_text")
        .join(text_content.select("_text", "_c"), on="_text")
        .select("_row", "_tid", "position", "_c")
        .collect()
    )
    n_contents = max(contents.height, 1)
    n_numbers = _largest(contents, "_n") + 1
    per_row = per_row.with_columns(_d=pl.col("_tid") * n_contents + pl.col("_c"))
    docs = per_row.group_by("_d").agg(
        pl.col("_tid").first(), pl.col("_c").first(), first=pl.col("position").min()
    )
    # near duplicates: prefix filtering over each content's rarest words ...
    words = (
        contents.lazy()
        .select("_c", "_n", "_size", pl.col("_words").alias("_word"))
        .explode("_word")
        .filter(pl.col("_word").is_not_null())
    )
    frequency = (
        words.group_by("_word")
        .agg(_df=pl.len())
        .with_columns(_w=pl.int_range(pl.len(), dtype=pl.Int64))
    )
    prefixes = (
        words.join(frequency, on="_word")
        .sort(["_c", "_df", "_word"])
        .filter(
            pl.int_range(pl.len(), dtype=pl.Int64).over("_c")
            < _prefix_length(pl.col("_size"), threshold)
        )
        .select("_c", "_n", "_w")
    )
    # ... joined within a trajectory and a number sequence ...
    doc_prefixes = (
        docs.lazy()
        .join(prefixes, on="_c")
        .select("_tid", "_c", (pl.col("_tid") * n_numbers + pl.col("_n")).alias("_k"), "_w")
    )
    candidates = (
        doc_prefixes.join(doc_prefixes.select("_c", "_k", "_w"), on=["_k", "_w"], suffix="_b")
        .filter(pl.col("_c") < pl.col("_c_b"))
        .select("_tid", "_c", "_c_b")
        .unique()
        .collect()
    )
    # ... then verified exactly, once per pair of contents
    sets = contents.lazy().select("_c", "_words", "_size")
    similar = (
        candidates.lazy()
        .select("_c", "_c_b")
        .unique()
        .join(sets, on="_c")
        .join(sets, left_on="_c_b", right_on="_c", suffix="_b")
        .filter(
            pl.min_horizontal("_size", "_size_b")
            >= threshold * pl.max_horizontal("_size", "_size_b") - 1e-9
        )
        .with_columns(_common=pl.col("_words").list.set_intersection("_words_b").list.len())
        .with_columns(
            similarity=pl.col("_common") / (pl.col("_size") + pl.col("_size_b") - pl.col("_common"))
        )
        .filter(pl.col("similarity") >= threshold - 1e-12)
        .select("_c", "_c_b", "similarity")
    )
    pairs = (
        candidates.lazy()
        .join(similar, on=["_c", "_c_b"])
        .with_columns(
            _d=pl.col("_tid") * n_contents + pl.col("_c"),
            _d_b=pl.col("_tid") * n_contents + pl.col("_c_b"),
        )
    )
    first = docs.lazy().select("_d", "first")
    both_ways = pl.concat(
        [
            pairs.join(first, left_on="_d_b", right_on="_d").select(
                "_d", pl.col("first").alias("near"), "similarity"
            ),
            pairs.join(first, on="_d").select(
                pl.col("_d_b").alias("_d"), pl.col("first").alias("near"), "similarity"
            ),
        ]
    )
    nearest = (
        both_ways.sort(["_d", "near"])
        .group_by("_d", maintain_order=True)
        .agg(near=pl.col("near").first(), near_similarity=pl.col("similarity").first())
    )
    located = per_row.lazy().join(first, on="_d").join(nearest, on="_d", how="left")
    same = located.filter(pl.col("first") < pl.col("position")).select(
        "_row", pl.col("first").alias("repeat_position"), pl.lit(1.0).alias("similarity")
    )
    near = located.filter(pl.col("near") < pl.col("position")).select(
        "_row",
        pl.col("near").alias("repeat_position"),
        pl.col("near_similarity").alias("similarity"),
    )
    return pl.concat([same, near]).collect()


def _first_of_key(keyed: pl.DataFrame) -> pl.DataFrame:
    """(row, earlier position, 1.0) for rows whose ``_key`` (not null) came earlier in the trajectory."""
    keyed = keyed.filter(pl.col("_key").is_not_null())
    if keyed.schema["_key"].is_integer():
        # one integer per (trajectory, key): faster to group than two columns
        span = _largest(keyed, "_key") + 1
        group = (pl.col("_tid") * span + pl.col("_key").cast(pl.Int64)).alias("_group")
    else:
        group = pl.struct("_tid", "_key").alias("_group")
    return (
        keyed.lazy()
        .with_columns(group)
        .with_columns(repeat_position=pl.col("position").min().over("_group"))
        .filter(pl.col("repeat_position") < pl.col("position"))
        .select("_row", "repeat_position", pl.lit(1.0).alias("similarity"))
        .collect()
    )


def normalize_diff(diff: pl.Expr) -> pl.Expr:
    """A unified diff reduced to its changed lines, stripped, blank lines and headers dropped."""
    lines = diff.str.replace_all("\r", "", literal=True).str.split("\n")
    line = pl.element()
    tidy = line.str.replace_all(r"\s+", " ").str.strip_chars()
    kept = lines.list.eval(
        tidy.filter(~line.str.contains(_DIFF_NOISE) & (tidy.str.len_chars() > 0))
    )
    return kept.list.join("\n")


def _params_matches(indexed: Texts) -> pl.DataFrame:
    value = pl.coalesce(pl.col("new").cast(pl.String), pl.col("new_text"))
    keys = (
        indexed.changes.lazy()
        .filter(value.is_not_null())
        .select("_text", pl.concat_str(pl.col("parameter"), pl.lit("="), value).alias("_pair"))
        .group_by("_text")
        .agg(_key=pl.col("_pair").unique().sort().str.join("\u241f"))
        .with_columns(pl.col("_key").rank("dense"))
    )
    keyed = (
        indexed.rows.lazy().select("_row", "_tid", "position", "_text").join(keys, on="_text")
    ).collect()
    return _first_of_key(keyed)


def find_repeats(indexed: Texts, *, threshold: float, rules: tuple[Rule, ...]) -> pl.DataFrame:
    """The repeats among the rows of ``indexed`` (eager)."""
    rows = indexed.rows
    found: list[pl.DataFrame] = []
    for priority, rule in enumerate(rules):
        if rule == "text":
            matches = _text_matches(indexed, threshold)
        elif rule == "diff":
            if "diff" not in rows.columns:
                continue
            diff = normalize_diff(pl.col("diff"))
            keyed = rows.select(
                "_row",
                "_tid",
                "position",
                pl.when(diff.str.len_chars() > 0).then(diff).otherwise(None).alias("_key"),
            )
            matches = _first_of_key(keyed)
        else:
            matches = _params_matches(indexed)
        found.append(
            matches.cast(_MATCH_SCHEMA).with_columns(  # type: ignore[arg-type]
                rule=pl.lit(rule, dtype=pl.String), _priority=pl.lit(priority, dtype=pl.Int64)
            )
        )
    if not found:
        return pl.DataFrame(schema=REPEATS_SCHEMA)
    best = (
        pl.concat(found)
        .lazy()
        .sort(
            ["_row", "repeat_position", "_priority", "similarity"],
            descending=[False, False, False, True],
        )
        .group_by("_row", maintain_order=True)
        .first()
    )
    earlier = rows.lazy().select(
        "_tid",
        pl.col("position").alias("repeat_position"),
        pl.col("index").alias("repeat_of"),
        pl.col("description").alias("repeat_of_description"),
    )
    return (
        rows.lazy()
        .select(*_KEYS, "index", "description", "_row", "_tid")
        .join(best, on="_row", how="inner")
        .join(earlier, on=["_tid", "repeat_position"], how="left")
        .sort("_row")  # the rows' order: trajectory, then index
        .select(REPEATS_SCHEMA.names())
        .collect()
    )


def check_repeat_arguments(threshold: float, rules: Iterable[Rule]) -> tuple[Rule, ...]:
    chosen = tuple(dict.fromkeys(rules))
    unknown = [r for r in chosen if r not in RULES]
    if unknown:
        raise StatisticsError(f"unknown repeat rule(s) {unknown}: choose from {RULES}")
    if not 0 < threshold <= 1:
        raise StatisticsError(f"the similarity threshold must be in (0, 1], got {threshold}")
    return chosen


def repeats(
    frame: pl.LazyFrame,
    *,
    threshold: float = 0.8,
    rules: Iterable[Rule] = RULES,
    extract: ExtractArg = None,
) -> pl.LazyFrame:
    """Every experiment that repeats an earlier one of its trajectory (rules: module docs).

    One row per repeating experiment: study, agent, run, ``index``,
    ``repeat_of`` (the index of the earliest experiment it repeats), ``rule``,
    ``similarity`` (1.0 for identical text, diff or parameters), and both
    descriptions, so a reader can check the pair. The ``diff`` rule needs a
    text column named ``diff``; without it the rule finds nothing. ``extract``
    picks the parameter source (see :func:`param_changes`). Computed in one
    batch when collected.
    """
    chosen = check_repeat_arguments(threshold, rules)
    resolve_extractor(extract)
    rows = experiment_rows(frame, "repeats")

    def compute(df: pl.DataFrame) -> pl.DataFrame:
        indexed = index_texts(df, extract, with_changes="params" in chosen)
        return find_repeats(indexed, threshold=threshold, rules=chosen)

    return rows.map_batches(compute, schema=REPEATS_SCHEMA)
