"""The packing loader: same rows as the pure-Python reference, BOS-started rows, no padding."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hpdream_runner.data import DataError, PackedLoader, PreparedData, prepare
from hpdream_runner.data._loader import BestFitPacker, epoch_order, gather_rows
from hpdream_runner.data._reference import reference_batches

BOS = 7


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    return prepare(
        "builtin",
        data_dir=tmp_path_factory.mktemp("data"),
        vocab_size=300,
        num_train_docs=600,
        num_val_docs=120,
    )


def _synthetic(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Token array and document starts: document d is BOS then d*1000+1, d*1000+2, ..."""
    starts = np.zeros(len(lengths), dtype=np.int64)
    starts[1:] = np.cumsum(lengths)[:-1]
    tokens = np.concatenate(
        [
            np.array([BOS] + [d * 1000 + i for i in range(1, n)], dtype=np.int64)
            for d, n in enumerate(lengths)
        ]
    )
    return tokens, starts


def _stream(
    tokens: np.ndarray, starts: np.ndarray, lengths: list[int], seed: int, shuffle: bool
) -> Iterator[list[int]]:
    for epoch in itertools.count():
        for d in epoch_order(len(lengths), epoch, seed=seed, shuffle=shuffle).tolist():
            yield tokens[starts[d] : starts[d] + lengths[d]].tolist()


@given(
    lengths=st.lists(st.integers(1, 90), min_size=1, max_size=60),
    seq_len=st.integers(1, 120),
    batch_size=st.integers(1, 4),
    buffer_size=st.integers(1, 25),
    refill=st.integers(1, 9),
    seed=st.integers(0, 3),
    shuffle=st.booleans(),
)
def test_packer_gives_the_reference_rows(
    lengths: list[int],
    seq_len: int,
    batch_size: int,
    buffer_size: int,
    refill: int,
    seed: int,
    shuffle: bool,
) -> None:
    tokens, starts = _synthetic(lengths)

    def order(epoch: int) -> np.ndarray:
        return epoch_order(len(lengths), epoch, seed=seed, shuffle=shuffle)

    packer = BestFitPacker(
        np.array(lengths), seq_len + 1, order, buffer_size=buffer_size, refill=refill
    )
    reference = reference_batches(
        _stream(tokens, starts, lengths, seed, shuffle),
        batch_size,
        seq_len,
        buffer_size=buffer_size,
        refill=refill,
    )
    for _ in range(3):
        docs, takes = packer.rows(batch_size)
        rows = gather_rows(tokens, starts, docs, takes, (batch_size, seq_len + 1))
        np.testing.assert_array_equal(rows, next(reference).numpy())


@given(
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=80),
    seq_len=st.integers(1, 256),
    batch_size=st.integers(1, 5),
)
def test_rows_are_whole_documents_and_one_cropped_end(
    lengths: list[int], seq_len: int, batch_size: int
) -> None:
    packer = BestFitPacker(
        np.array(lengths), seq_len + 1, lambda e: epoch_order(len(lengths), e, seed=1, shuffle=True)
    )
    for _ in range(3):
        docs, takes = packer.rows(batch_size)
        assert takes.sum() == batch_size * (seq_len + 1)
        ends = np.cumsum(takes)
        row_ends = np.searchsorted(ends, np.arange(1, batch_size + 1) * (seq_len + 1))
        # Every row ends exactly at a piece end, so the next row starts at a document's start.
        assert np.array_equal(ends[row_ends], np.arange(1, batch_size + 1) * (seq_len + 1))
        assert np.all(takes >= 1) and np.all(takes <= np.array(lengths)[docs])
        cropped = np.flatnonzero(takes < np.array(lengths)[docs])
        assert set(cropped.tolist()) <= set(row_ends.tolist())


def test_loader_matches_reference_on_prepared_data(small: PreparedData) -> None:
    tokens = np.asarray(small.tokens("train"))
    offsets = np.asarray(small.doc_offsets("train"))
    lengths = np.diff(offsets).tolist()
    loader = PackedLoader(small, "train", 3, 100, seed=11)
    reference = reference_batches(_stream(tokens, offsets[:-1], lengths, 11, True), 3, 100)
    for _ in range(40):
        rows = next(reference)
        x, y = next(loader)
        assert torch.equal(x, rows[:, :-1]) and torch.equal(y, rows[:, 1:])


def test_batches_shape_dtype_bos_and_shift(small: PreparedData) -> None:
    loader = PackedLoader(small, "train", 4, 64, seed=0)
    first = next(loader)
    kept = (first[0].clone(), first[1].clone())
    for x, y in itertools.islice(loader, 20):
        assert x.shape == y.shape == (4, 64)
        assert x.dtype == y.dtype == torch.int64 and x.device.type == "cpu"
        assert x.is_contiguous() and y.is_contiguous()
        assert torch.all(x[:, 0] == small.bos_id)
        assert torch.equal(x[:, 1:], y[:, :-1])
        assert int(x.max()) < small.vocab_size and int(x.min()) >= 0
    # Later batches never overwrite one already handed out.
    assert torch.equal(first[0], kept[0]) and torch.equal(first[1], kept[1])


def test_deterministic_for_a_seed(small: PreparedData) -> None:
    def batches(seed: int) -> list[torch.Tensor]:
        loader = PackedLoader(small, "train", 2, 50, seed=seed)
        return [x for x, _ in itertools.islice(loader, 10)]

    a, b, c = batches(3), batches(3), batches(4)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a, c, strict=True))


def test_val_keeps_file_order_and_train_reshuffles_each_epoch() -> None:
    assert np.array_equal(epoch_order(5, 3, seed=9, shuffle=False), np.arange(5))
    first, second = (epoch_order(50, e, seed=9, shuffle=True) for e in (0, 1))
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(50))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, epoch_order(50, 0, seed=9, shuffle=True))


def test_loops_over_epochs_forever(small: PreparedData) -> None:
    loader = PackedLoader(small, "val", 8, 128, buffer_size=16)
    val_tokens = len(small.tokens("val"))
    batches = val_tokens // (8 * 129) * 3 + 5  # about three epochs of tokens
    for x, _ in itertools.islice(loader, batches):
        assert torch.all(x[:, 0] == small.bos_id)
    assert loader.epoch >= 2


def test_val_loader_is_the_same_whatever_the_seed(small: PreparedData) -> None:
    a = next(PackedLoader(small, "val", 2, 64, seed=0))[0]
    b = next(PackedLoader(small, "val", 2, 64, seed=5))[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("split", "batch_size", "seq_len", "message"),
    [
        ("test", 2, 8, "split must be 'train' or 'val'"),
        ("train", 0, 8, "batch_size must be a positive integer"),
        ("train", 2, -1, "seq_len must be a positive integer"),
        ("train", 2.0, 8, "batch_size must be a positive integer"),
    ],
)
def test_bad_arguments_are_clear(
    small: PreparedData, split: str, batch_size: int, seq_len: int, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        PackedLoader(small, split, batch_size, seq_len)


def test_packer_rejects_empty_and_bad_lengths() -> None:
    with pytest.raises(DataError, match="no documents"):
        BestFitPacker(np.array([], dtype=np.int64), 10, lambda e: np.arange(0))
    with pytest.raises(DataError, match="at least its BOS"):
        BestFitPacker(np.array([3, 0]), 10, lambda e: np.arange(2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu_batches(small: PreparedData, tmp_path: Path) -> None:
    cpu = PackedLoader(small, "train", 4, 64, seed=2)
    gpu = PackedLoader(small, "train", 4, 64, seed=2, device="cuda")
    held = []
    for _ in range(12):  # more than the pinned buffers, so they are reused
        x, y = next(gpu)
        assert x.device.type == "cuda" and x.dtype == torch.int64
        held.append((x, y))
    torch.cuda.synchronize()
    for x, y in held:
        cx, cy = next(cpu)
        assert torch.equal(x.cpu(), cx) and torch.equal(y.cpu(), cy)
