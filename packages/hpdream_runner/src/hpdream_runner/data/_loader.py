"""The packing loader: best-fit packing of BOS-started documents into rows, no padding.

Semantics (the same as autoresearch's ``make_dataloader``, documented in ``docs/data.md``):

- The documents of a split form an endless stream: epoch after epoch, each
  epoch every document once, in a seeded random order for ``train`` (a new
  order each epoch) and in file order for ``val``.
- A buffer holds at least ``buffer_size`` (1,000) documents: before each
  choice, while it holds fewer, the next ``refill`` (128) documents of the
  stream are added.
- A row of ``seq_len + 1`` tokens is filled from position 0: each time, the
  longest buffered document that fits in the space left is placed whole
  (the earliest in stream order among equally long ones). When none fits,
  the shortest buffered document (again the earliest) is cropped to the
  space left, and the rest of it is dropped. So every row starts with a
  document's BOS, rows hold no padding, and only row ends crop.
- ``inputs = row[:-1]``, ``targets = row[1:]``.

Speed: the reference does this in Python over token lists, scanning the
whole buffer for each document and copying tokens one list at a time. Here
the documents are token arrays prepared once; choosing a document is a
binary search over the sorted distinct lengths in the buffer (one bucket of
document ids per length, in stream order), and the tokens of a whole batch
are moved with a single vectorised gather (numpy fancy indexing with
``np.repeat`` of the piece offsets). The choice loop runs once per document,
never per token.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from hpdream_runner.data._exceptions import DataError
from hpdream_runner.data._prepare import PreparedData, _check_split

if TYPE_CHECKING:
    import torch

#: Documents buffered for choosing (autoresearch's ``buffer_size``).
BUFFER_SIZE: Final = 1000
#: Documents added per refill (autoresearch tokenises batches of 128).
REFILL: Final = 128
#: Pinned host buffers in flight on CUDA (a buffer is reused only after its copy finished).
_PINNED_SLOTS: Final = 3


def epoch_order(num_docs: int, epoch: int, *, seed: int, shuffle: bool) -> np.ndarray:
    """The document ids of ``epoch``: a permutation seeded by (seed, epoch), or 0..n-1."""
    if not shuffle:
        return np.arange(num_docs, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(num_docs)


class BestFitPacker:
    """Chooses which documents (and how much of each) fill each row; moves no tokens.

    ``lengths[d]`` is the length of document ``d`` (BOS included);
    ``order(epoch)`` gives the ids of each epoch.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        row_len: int,
        order: Callable[[int], np.ndarray],
        *,
        buffer_size: int = BUFFER_SIZE,
        refill: int = REFILL,
    ) -> None:
        if len(lengths) == 0:
            raise DataError("cannot pack an empty split: it holds no documents")
        if row_len < 1 or buffer_size < 1 or refill < 1:
            raise DataError(
                f"row length, buffer size and refill must be >= 1, got {row_len}, "
                f"{buffer_size}, {refill}"
            )
        if int(np.min(lengths)) < 1:
            raise DataError("every document must hold at least its BOS token")
        self._lengths = np.asarray(lengths, dtype=np.int64)
        self._row_len = row_len
        self._order_of = order
        self._buffer_size = buffer_size
        self._refill = refill
        self._epoch = 0
        self._order = np.asarray(order(0), dtype=np.int64)
        self._pos = 0
        # The buffer: for each length present, its document ids in stream order.
        self._buckets: dict[int, deque[int]] = {}
        self._present: list[int] = []  # sorted distinct lengths with a non-empty bucket
        self._count = 0

    @property
    def epoch(self) -> int:
        """The epoch (from 0) of the document last taken into the buffer."""
        return self._epoch

    def _next_ids(self, n: int) -> np.ndarray:
        parts = []
        while n > 0:
            if self._pos == len(self._order):
                self._epoch += 1
                self._order = np.asarray(self._order_of(self._epoch), dtype=np.int64)
                self._pos = 0
            chunk = self._order[self._pos : self._pos + n]
            self._pos += len(chunk)
            n -= len(chunk)
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _fill(self) -> None:
        buckets, present = self._buckets, self._present
        while self._count < self._buffer_size:
            ids = self._next_ids(self._refill)
            for doc, length in zip(ids.tolist(), self._lengths[ids].tolist(), strict=True):
                bucket = buckets.get(length)
                if bucket is None:
                    bucket = buckets[length] = deque()
                    bisect.insort(present, length)
                bucket.append(doc)
            self._count += len(ids)

    def rows(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``count`` rows: (document ids, tokens taken from each), in order.

        The takes add up to ``count * row_len``; each row begins at a document's start.
        """
        docs: list[int] = []
        takes: list[int] = []
        buckets, present = self._buckets, self._present
        row_len, buffer_size = self._row_len, self._buffer_size
        for _ in range(count):
            left = row_len
            while left:
                if self._count < buffer_size:
                    self._fill()
                i = bisect.bisect_right(present, left) - 1
                if i >= 0:
                    length = take = present[i]
                else:  # nothing fits: crop the shortest
                    i = 0
                    length, take = present[0], left
                bucket = buckets[length]
                docs.append(bucket.popleft())
                if not bucket:
                    del buckets[length]
                    del present[i]
                self._count -= 1
                takes.append(take)
                left -= take
        return np.array(docs, dtype=np.int64), np.array(takes, dtype=np.int64)


def gather_rows(
    tokens: np.ndarray,
    starts: np.ndarray,
    docs: np.ndarray,
    takes: np.ndarray,
    shape: tuple[int, int],
) -> np.ndarray:
    """The rows: for each piece, ``takes`` tokens from the start of its document, in one gather."""
    offsets = np.cumsum(takes) - takes  # where each piece goes in the flat batch
    index = np.arange(shape[0] * shape[1], dtype=np.int64)
    index += np.repeat(starts[docs] - offsets, takes)
    return np.asarray(tokens[index]).reshape(shape)


class PackedLoader:
    """Endless batches ``(inputs, targets)``, each (B, T) int64 on ``device``, packed best-fit.

    Every row is ``seq_len + 1`` tokens of whole documents (the last one
    possibly cropped), starting with BOS, without padding (see the module
    docstring). Deterministic for a seed; ``train`` is shuffled each epoch,
    ``val`` keeps file order (``shuffle`` overrides). On CUDA the batch goes
    through pinned memory with a non-blocking copy. Each batch is a fresh
    tensor pair: holding on to one is safe.
    """

    def __init__(
        self,
        data: PreparedData,
        split: str,
        batch_size: int,
        seq_len: int,
        *,
        device: torch.device | str = "cpu",
        seed: int = 0,
        shuffle: bool | None = None,
        buffer_size: int = BUFFER_SIZE,
    ) -> None:
        import torch

        split = _check_split(split)
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"{name} must be a positive integer, got {value!r}")
        self.data = data
        self.split = split
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.seed = seed
        self.shuffle = split == "train" if shuffle is None else shuffle
        self.device = torch.device(device)
        self._tokens = data.tokens(split)
        offsets = np.asarray(data.doc_offsets(split), dtype=np.int64)
        self._starts = offsets[:-1].copy()
        num_docs = len(self._starts)
        shuffled = self.shuffle

        def order(epoch: int) -> np.ndarray:
            return epoch_order(num_docs, epoch, seed=seed, shuffle=shuffled)

        self._packer = BestFitPacker(np.diff(offsets), seq_len + 1, order, buffer_size=buffer_size)
        self._pin = self.device.type == "cuda"
        self._slots: list[tuple[torch.Tensor, Any]] = []
        self._next_slot = 0

    @property
    def epoch(self) -> int:
        """The epoch (from 0) of the newest document taken into the buffer."""
        return self._packer.epoch

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.seq_len

    def __iter__(self) -> PackedLoader:
        return self

    def next_rows(self) -> np.ndarray:
        """The next batch as packed rows, (B, T + 1) token ids (what ``__next__`` splits)."""
        docs, takes = self._packer.rows(self.batch_size)
        return gather_rows(
            self._tokens, self._starts, docs, takes, (self.batch_size, self.seq_len + 1)
        )

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        rows = self.next_rows()
        shape = (2, self.batch_size, self.seq_len)
        if not self._pin:
            host = torch.empty(shape, dtype=torch.int64)
            _split_rows(rows, host.numpy())
            if self.device.type != "cpu":
                host = host.to(self.device)
            return host[0], host[1]
        host, done = self._pinned(shape)
        _split_rows(rows, host.numpy())
        batch = host.to(self.device, non_blocking=True)
        done.record(torch.cuda.current_stream(self.device))
        return batch[0], batch[1]

    def _pinned(self, shape: tuple[int, int, int]) -> tuple[torch.Tensor, Any]:
        """A pinned host buffer whose previous copy to the device has finished."""
        import torch

        if len(self._slots) < _PINNED_SLOTS:
            slot = (torch.empty(shape, dtype=torch.int64, pin_memory=True), torch.cuda.Event())
            self._slots.append(slot)
            return slot
        slot = self._slots[self._next_slot]
        self._next_slot = (self._next_slot + 1) % _PINNED_SLOTS
        slot[1].synchronize()
        return slot


def _split_rows(rows: np.ndarray, out: np.ndarray) -> None:
    out[0] = rows[:, :-1]
    out[1] = rows[:, 1:]
