"""The builtin stories and the tokenizer: determinism, a long tail, ranks, byte lengths."""

from __future__ import annotations

import collections
import re
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_runner.data import DataError
from hpdream_runner.data import _stories as stories_module
from hpdream_runner.data._stories import stories, story
from hpdream_runner.data._tokenizer import (
    BOS_TOKEN,
    check_vocab_size,
    make_encoding,
    read_ranks,
    token_byte_lengths,
    train_ranks,
    write_ranks,
)


@pytest.fixture(scope="module")
def sample() -> list[str]:
    return list(stories(0, 3000))


@pytest.fixture(scope="module")
def ranks(sample: list[str]) -> dict[bytes, int]:
    return train_ranks(sample[:500], 600)


def test_stories_are_deterministic_and_independent_of_the_count() -> None:
    assert list(stories(2, 5)) == list(stories(2, 12))[:5] == [story(2, i) for i in range(5)]
    assert list(stories(2, 3, start=4)) == [story(2, i) for i in range(4, 7)]
    assert story(2, 0) != story(3, 0)
    assert [story(2, i, "val") for i in range(50)] != [story(2, i) for i in range(50)]
    with pytest.raises(ValueError, match="story index"):
        story(0, -1)


def test_every_template_fills(sample: list[str]) -> None:
    slots = collections.defaultdict(lambda: "x")
    stages = [stories_module._INTRO, stories_module._SETTING, stories_module._ENDING]
    stages += [stories_module._EXTRA, *(s for plot in stories_module._PLOTS for s in plot)]
    for stage in stages:
        for template in stage:
            assert "{" not in template.format_map(slots)
    assert not any("{" in s or "}" in s for s in sample)


def test_stories_read_like_stories(sample: list[str]) -> None:
    allowed = set(string.ascii_letters + string.digits + " .,!?'\"-:\n")
    lengths = [len(s) for s in sample]
    assert 200 < np.mean(lengths) < 1500 and min(lengths) > 80
    for s in sample[:300]:
        assert set(s) <= allowed, s
        assert s[0].isupper() and s.rstrip()[-1] in '.!"', s
        assert "  " not in s


def test_a_long_tail_of_words(sample: list[str]) -> None:
    words = collections.Counter(w for s in sample for w in re.findall(r"[A-Za-z]+", s))
    assert len(words) > 3000
    once = sum(1 for c in words.values() if c == 1)
    assert once > 500  # invented names, towns and compounds
    numbers = {n for s in sample for n in re.findall(r"\d+", s)}
    assert len(numbers) > 500


def test_builtin_text_fills_a_vocabulary_of_8192() -> None:
    ranks = train_ranks(stories(0, 12_000), 8192)
    assert len(ranks) == 8191


def test_too_little_text_for_the_vocabulary() -> None:
    with pytest.raises(
        DataError, match=r"supports only \d+ token ids .* fewer than vocab_size=2000"
    ):
        train_ranks(["a tiny text", "another tiny text"], 2000)


@pytest.mark.parametrize("bad", [256, 0, -5, "512", 512.0, True, 2**31])
def test_check_vocab_size(bad: object) -> None:
    with pytest.raises(DataError, match="vocab_size must be an integer from 257"):
        check_vocab_size(bad)


def test_ranks_round_trip_through_the_file(ranks: dict[bytes, int], tmp_path: Path) -> None:
    path = tmp_path / "t.bpe"
    write_ranks(path, ranks)
    assert read_ranks(path) == ranks
    assert len(path.read_text().splitlines()) == 599


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("AA== 0\nAQ== 1\nnot-a-line\n", r"line 3: expected 'base64-token rank'"),
        ("AA== 0\nAQ== 5\n", r"line 2: rank 5 out of order or token repeated \(expected rank 1\)"),
        ("AA== 0\nAA== 1\n", r"line 2: rank 1 out of order or token repeated"),
        ("AA== x\n", r"line 1: expected"),
    ],
)
def test_bad_rank_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.bpe"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_ranks(path)


@given(st.text(max_size=200))
def test_token_bytes_add_up_to_the_utf8_length(ranks: dict[bytes, int], text: str) -> None:
    encoding = make_encoding(ranks)
    lengths = token_byte_lengths(ranks)
    ids = encoding.encode_ordinary(text)
    assert int(lengths[ids].sum()) == len(text.encode("utf-8"))
    assert encoding.decode(ids) == text


def test_bos_is_the_last_id_and_has_no_bytes(ranks: dict[bytes, int]) -> None:
    encoding = make_encoding(ranks)
    assert encoding.n_vocab == 600
    assert encoding.encode_single_token(BOS_TOKEN) == 599
    assert token_byte_lengths(ranks)[599] == 0
    # BOS text inside a document is ordinary text, never the special token.
    assert 599 not in encoding.encode_ordinary("hello <|bos|> there")
