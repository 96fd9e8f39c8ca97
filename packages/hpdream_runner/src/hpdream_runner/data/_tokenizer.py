"""The tokenizer: a byte-level BPE trained with rustbpe and used through tiktoken.

The vocabulary has ``vocab_size`` ids: ``vocab_size - 1`` byte-level tokens
(the 256 single bytes and the merges learned from the training text, in
rank order) and one special token, ``<|bos|>``, with the last id, which
starts every document.

The trained merges are saved in the data directory in tiktoken's plain
format (one ``base64(token) rank`` line per token, ``tokenizer.bpe``); the
split pattern and the special token are in ``meta.json``. Loading needs
neither rustbpe nor a retraining.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import numpy as np
import tiktoken

from hpdream_runner.data._exceptions import DataError

#: The special token that starts every document.
BOS_TOKEN: Final = "<|bos|>"

#: How text is split into words before BPE: GPT-4's pattern, with numbers in
#: groups of at most two digits (as autoresearch), so no merge crosses a word.
SPLIT_PATTERN: Final = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}"
    r"| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"
)

#: The smallest vocabulary: the 256 bytes and BOS.
MIN_VOCAB_SIZE: Final = 257

#: The largest vocabulary (token ids are stored as uint32 above 65,536).
MAX_VOCAB_SIZE: Final = 2**31 - 1


def check_vocab_size(vocab_size: object) -> int:
    """``vocab_size`` as an int, or a :class:`DataError` saying what is allowed."""
    if (
        isinstance(vocab_size, bool)
        or not isinstance(vocab_size, int)
        or not MIN_VOCAB_SIZE <= vocab_size <= MAX_VOCAB_SIZE
    ):
        raise DataError(
            f"vocab_size must be an integer from {MIN_VOCAB_SIZE} (the 256 bytes and BOS) "
            f"to {MAX_VOCAB_SIZE}, got {vocab_size!r}"
        )
    return vocab_size


def train_ranks(texts: Iterable[str], vocab_size: int) -> dict[bytes, int]:
    """Train a BPE of ``vocab_size`` ids (BOS included) on ``texts``; its mergeable ranks.

    Raises :class:`DataError` when the text holds too few distinct words to
    learn ``vocab_size - 257`` merges.
    """
    import rustbpe

    check_vocab_size(vocab_size)
    wanted = vocab_size - 1
    tokenizer = rustbpe.Tokenizer()
    tokenizer.train_from_iterator(iter(texts), wanted, pattern=SPLIT_PATTERN)
    ranks = {bytes(token): int(rank) for token, rank in tokenizer.get_mergeable_ranks()}
    if len(ranks) != wanted:
        raise DataError(
            f"the training text supports only {len(ranks) + 1} token ids ({len(ranks) - 256} "
            f"merges), fewer than vocab_size={vocab_size}: use a smaller vocabulary or more text"
        )
    if sorted(ranks.values()) != list(range(wanted)):
        raise DataError("rustbpe returned ranks that are not 0..n-1; cannot build the encoding")
    return ranks


def make_encoding(ranks: Mapping[bytes, int], *, name: str = "hpdream") -> tiktoken.Encoding:
    """The tiktoken encoding of these ranks, with BOS as the id after the last rank."""
    return tiktoken.Encoding(
        name=name,
        pat_str=SPLIT_PATTERN,
        mergeable_ranks=dict(ranks),
        special_tokens={BOS_TOKEN: len(ranks)},
    )


def write_ranks(path: Path, ranks: Mapping[bytes, int]) -> None:
    """Save ranks as ``base64(token) rank`` lines, in rank order."""
    lines = [
        f"{base64.b64encode(token).decode('ascii')} {rank}\n"
        for token, rank in sorted(ranks.items(), key=lambda item: item[1])
    ]
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.writelines(lines)
        f.flush()
        os.fsync(f.fileno())


def read_ranks(path: Path) -> dict[bytes, int]:
    """Ranks saved by :func:`write_ranks`; a :class:`DataError` names the bad line."""
    ranks: dict[bytes, int] = {}
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, start=1):
            parts = line.split()
            try:
                token_b64, rank_text = parts
                token = base64.b64decode(token_b64, validate=True)
                rank = int(rank_text)
            except ValueError:
                raise DataError(
                    f"{path}, line {number}: expected 'base64-token rank', got {line.strip()!r}"
                ) from None
            if rank != len(ranks) or token in ranks:
                raise DataError(
                    f"{path}, line {number}: rank {rank} out of order or token repeated "
                    f"(expected rank {len(ranks)})"
                )
            ranks[token] = rank
    return ranks


def token_byte_lengths(ranks: Mapping[bytes, int]) -> np.ndarray:
    """int32 [len(ranks) + 1]: the byte length of each token; 0 for BOS (the last id).

    The length is that of the token's raw bytes, so for any text the lengths
    of its tokens sum to its UTF-8 length, even where a token holds part of
    a multi-byte character.
    """
    lengths = np.zeros(len(ranks) + 1, dtype=np.int32)
    for token, rank in ranks.items():
        lengths[rank] = len(token)
    return lengths
