"""The taxonomy as data: the default one, user TOML files, validation errors, round trips."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import (
    Category,
    Subcategory,
    Taxonomy,
    TaxonomyError,
    classify,
    default_taxonomy,
    load_taxonomy,
    parse_taxonomy,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "taxonomy-custom.toml"

# taxonomy.md: the categories and their typical subcategories
DOC_CATEGORIES = (
    "hyperparameters",
    "architecture",
    "optimizer",
    "schedule",
    "tokenizer",
    "other",
    "baseline",
)
DOC_SUBCATEGORIES = {
    "hyperparameters": {"learning_rate", "batch_size", "weight_decay", "dropout"},
    "architecture": {
        "depth",
        "width",
        "attention",
        "activation",
        "normalization",
        "embedding",
        "initialization",
    },
    "optimizer": {"adam_betas", "muon", "gradient_clipping", "optimizer_choice"},
    "schedule": {"warmup", "warmdown", "lr_decay", "momentum_schedule"},
    "tokenizer": {"vocab_size", "packing", "data"},
    "other": {"systems", "seed", "revert", "fix", "loss"},
    "baseline": set(),
}

MINIMAL = """
name = "tiny"
[[categories]]
key = "speed"
keywords = ["faster", "throughput"]
[[categories]]
key = "other"
"""


def test_default_taxonomy_has_the_documented_categories_in_order() -> None:
    tax = default_taxonomy()
    assert tax.keys() == DOC_CATEGORIES
    assert tax.fallback == "other"
    assert tax.baseline == "baseline"
    assert tax.revert == ("other", "revert")
    for key, subs in DOC_SUBCATEGORIES.items():
        category = tax[key]
        assert subs <= set(category.subcategory_keys()), key
        assert category.description
    assert all(s.description for c in tax for s in c.subcategories)


def test_default_taxonomy_is_cached_and_shipped_as_package_data() -> None:
    from importlib import resources

    assert default_taxonomy() is default_taxonomy()
    data = resources.files("hpdream_core").joinpath("data", "taxonomy.toml")
    assert parse_taxonomy(data.read_text(encoding="utf-8")) == default_taxonomy()


def test_mapping_protocol() -> None:
    tax = default_taxonomy()
    assert "optimizer" in tax and "nonsense" not in tax and 3 not in tax
    assert tax["schedule"].subcategory("warmup").key == "warmup"
    assert len(tax) == len(tax.keys()) == len(list(tax))
    with pytest.raises(KeyError, match="no category 'nonsense'"):
        tax["nonsense"]
    with pytest.raises(KeyError, match="no subcategory"):
        tax["schedule"].subcategory("nonsense")


def test_minimal_taxonomy_defaults() -> None:
    tax = parse_taxonomy(MINIMAL)
    assert tax.name == "tiny"
    assert tax.keys() == ("speed", "other")
    assert tax.fallback == "other"  # a category called other is the fallback by default
    assert tax.baseline is None and tax.revert is None
    assert tax["speed"].keywords == ("faster", "throughput")
    assert tax["speed"].subcategories == ()


def test_example_custom_taxonomy_loads_and_classifies_with_its_own_categories() -> None:
    tax = load_taxonomy(EXAMPLE)
    keys = set(tax.keys())
    cases = {
        "double the model depth to 16 layers": "capacity",
        "MATRIX_LR 0.04 -> 0.06": "optimisation",
        "longer warmup, 200 steps": "optimisation",
        "shuffle the training shards": "data",
        "torch.compile with max-autotune": "engineering",
        "rerun baseline": "baseline",
        "zzz qqq": tax.fallback,
    }
    for text, expected in cases.items():
        label = classify(text, taxonomy=tax)
        assert label.category == expected, (text, label)
        assert label.category in keys


def test_to_toml_round_trips_the_default_taxonomy() -> None:
    tax = default_taxonomy()
    assert parse_taxonomy(tax.to_toml()) == tax


_keys = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)
_words = st.text(alphabet=string.ascii_letters + " -_", min_size=1, max_size=12).filter(
    lambda s: any(c.isalpha() for c in s)
)
_free = st.text(max_size=30)  # descriptions: any characters, quotes and newlines included


@st.composite
def taxonomies(draw: st.DrawFn) -> Taxonomy:
    keys = draw(st.lists(_keys, min_size=1, max_size=5, unique=True))
    used: set[str] = set()

    def fresh_keywords() -> tuple[str, ...]:
        from hpdream_core._params import keyword_words

        out = []
        for w in draw(st.lists(_words, max_size=3)):
            words = keyword_words(w)
            if words and " ".join(words) not in used:
                used.add(" ".join(words))
                out.append(w.strip())
        return tuple(out)

    categories = []
    for key in keys:
        subs = tuple(
            Subcategory(
                key=s, description=draw(_free), keywords=fresh_keywords(), parameters=("*_x",)
            )
            for s in draw(st.lists(_keys, max_size=3, unique=True))
        )
        categories.append(
            Category(
                key=key,
                description=draw(_free),
                subcategories=subs,
                keywords=fresh_keywords(),
                weak=fresh_keywords(),
                parameters=tuple(
                    draw(st.lists(st.sampled_from(["*_lr", "depth", "n_*"]), max_size=2))
                ),
                symbols=tuple(draw(st.lists(st.sampled_from(["GPT*", "*attn*"]), max_size=2))),
                code_kinds=tuple(
                    draw(st.lists(st.sampled_from(["model", "data"]), max_size=2, unique=True))
                ),
                priority=draw(st.integers(-5, 5)),
            )
        )
    fallback = draw(st.sampled_from(keys))
    return Taxonomy(
        name=draw(_free.filter(lambda s: s.strip())),
        categories=tuple(categories),
        description=draw(_free),
        fallback=fallback,
        baseline=draw(st.none() | st.sampled_from(keys)),
        revert=draw(st.none() | st.sampled_from(keys).map(lambda k: (k, None))),
    )


@given(taxonomies())
def test_to_toml_round_trip_property(tax: Taxonomy) -> None:
    assert parse_taxonomy(tax.to_toml()) == tax


@given(taxonomies(), st.text(max_size=60))
def test_classify_never_leaves_the_taxonomy(tax: Taxonomy, text: str) -> None:
    assert classify(text, taxonomy=tax).category in set(tax.keys())


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("name = 'x'\n[[categories]\n", "TOML", "line 2"),
        ("[[categories]]\nkey = 'other'\n", "name", "missing"),
        ("name = 'x'\n", "categories", "missing"),
        ("name = 'x'\ncategories = 3\n", "categories", "array of tables"),
        ("name = 'x'\ncolour = 'red'\n[[categories]]\nkey = 'other'\n", "colour", "unknown key"),
        (
            "name = 'x'\nformat_version = 2\n[[categories]]\nkey = 'other'\n",
            "format_version",
            "unsupported version 2",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'Other'\n",
            "categories[0].key",
            "lower-case identifier",
        ),
        ("name = 'x'\n[[categories]]\ndescription = 'no key'\n", "categories[0].key", "missing"),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\n[[categories]]\nkey = 'other'\n",
            "categories[1].key",
            "duplicate category 'other'",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nkeywords = 'lr'\n",
            "categories[0].keywords",
            "array of strings",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nkeywords = ['lr', 3]\n",
            "categories[0].keywords[1]",
            "must be a string",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nkeywords = ['  ']\n",
            "categories[0].keywords[0]",
            "must not be empty",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nkeywords = ['a*b']\n",
            "categories[0].keywords[0]",
            "may only end",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nkeywords = ['ab*']\n",
            "categories[0].keywords[0]",
            "3 letters",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nkeywords = ['->']\n",
            "categories[0].keywords[0]",
            "no word",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\npriority = 'high'\n",
            "categories[0].priority",
            "integer",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nsymbols = ['get lr']\n",
            "categories[0].symbols[0]",
            "no spaces",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'other'\nsize = 1\n",
            "categories[0].size",
            "unknown key",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'a'\nkeywords = ['learning rate']\n[[categories]]\nkey = 'other'\nkeywords = ['Learning-Rate']\n",
            "categories[1].keywords[0]",
            "also appears at categories[0].keywords[0]",
        ),
        (
            "name = 'x'\n[[categories]]\nkey = 'a'\n[[categories.subcategories]]\nkey = 's'\n[[categories.subcategories]]\nkey = 's'\n",
            "categories[0].subcategories[1].key",
            "duplicate subcategory 's'",
        ),
        ("name = 'x'\n[[categories]]\nkey = 'a'\n", "fallback", "no category is called 'other'"),
        (
            "name = 'x'\nfallback = 'b'\n[[categories]]\nkey = 'a'\n",
            "fallback",
            "'b' is not a category",
        ),
        (
            "name = 'x'\nbaseline = 'b'\n[[categories]]\nkey = 'other'\n",
            "baseline",
            "'b' is not a category",
        ),
        (
            "name = 'x'\nrevert = 'other/undo'\n[[categories]]\nkey = 'other'\n",
            "revert",
            "no subcategory 'undo'",
        ),
        ("name = 'x'\nrevert = 7\n[[categories]]\nkey = 'other'\n", "revert", "must be a string"),
        (
            "name = 'x'\nneutral = ['loss']\n[[categories]]\nkey = 'other'\nkeywords = ['loss']\n",
            "categories[0].keywords[0]",
            "also appears at neutral[0]",
        ),
    ],
)
def test_invalid_taxonomies_say_where_and_why(text: str, where: str, reason: str) -> None:
    with pytest.raises(TaxonomyError) as info:
        parse_taxonomy(text, source="my.toml")
    err = info.value
    assert err.source == "my.toml"
    assert where in err.where or where in str(err)
    assert reason in str(err)
    assert str(err).startswith("my.toml: ")


def test_load_taxonomy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"name = '\xe9'\n")
    with pytest.raises(TaxonomyError, match="not UTF-8"):
        load_taxonomy(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(broken)
    assert str(broken) in str(info.value)


def test_keywords_match_whole_words_after_identifier_split() -> None:
    tax = parse_taxonomy(
        """
        name = "t"
        [[categories]]
        key = "lr"
        keywords = ["learning rate", "lr"]
        [[categories]]
        key = "norms"
        keywords = ["normali*"]
        [[categories]]
        key = "other"
        """
    )
    assert classify("MATRIX_LR 0.04 -> 0.05", taxonomy=tax).category == "lr"
    assert classify("learning-rate up", taxonomy=tax).category == "lr"
    assert classify("normalise the embeddings", taxonomy=tax).category == "norms"
    assert classify("Normalization after attention", taxonomy=tax).category == "norms"
    # whole words only: "clr" and "learning" alone are not keywords
    assert classify("clr schedule", taxonomy=tax).category == "other"
    assert classify("learning faster", taxonomy=tax).category == "other"
