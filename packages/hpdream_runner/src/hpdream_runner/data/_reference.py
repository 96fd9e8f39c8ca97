"""A plain pure-Python best-fit packer, written to the reference's description.

This is what autoresearch's loader does, per batch, once its documents are
token lists: a list as the buffer, a scan of the whole buffer for each
document, tokens copied one document at a time into a ``(B, T + 1)`` tensor.
hpdream's :class:`~hpdream_runner.data.PackedLoader` must give the same rows
for the same document stream (the tests check this), and
``benchmarks/bench_loader.py`` measures both in one run for the speed ratio.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def reference_batches(
    documents: Iterator[Sequence[int]],
    batch_size: int,
    seq_len: int,
    *,
    buffer_size: int = 1000,
    refill: int = 128,
) -> Iterator[torch.Tensor]:
    """Endless packed rows, (B, T + 1) int64, from an endless stream of BOS-started documents."""
    import torch

    row_len = seq_len + 1
    buffer: list[Sequence[int]] = []
    while True:
        rows = torch.empty((batch_size, row_len), dtype=torch.long)
        for r in range(batch_size):
            pos = 0
            while pos < row_len:
                while len(buffer) < buffer_size:
                    for _ in range(refill):
                        buffer.append(next(documents))
                left = row_len - pos
                best, best_len = -1, 0
                for i, doc in enumerate(buffer):
                    if best_len < len(doc) <= left:
                        best, best_len = i, len(doc)
                if best >= 0:
                    doc = buffer.pop(best)
                    rows[r, pos : pos + len(doc)] = torch.tensor(doc, dtype=torch.long)
                    pos += len(doc)
                else:
                    shortest = min(range(len(buffer)), key=lambda i: len(buffer[i]))
                    doc = buffer.pop(shortest)
                    rows[r, pos : pos + left] = torch.tensor(doc[:left], dtype=torch.long)
                    pos += left
        yield rows
