"""Loader speed: hpdream's PackedLoader against a pure-Python reference, in the same run.

    uv run python benchmarks/bench_loader.py [--dataset builtin] [--data-dir DIR]
        [--vocab-size 8192] [--repeat 5] [--device cpu]

Prepares the data set first if needed (builtin: about 15 s on 2 cores, once).
For batch 16 x 2048 and 64 x 2048 it prints the median tokens/s over
``--repeat`` runs of:

- ``hpdream``: ``PackedLoader`` (best-fit packing over prepared token arrays),
  batches as int64 tensors on ``--device`` (CUDA: synchronised after each run);
- ``reference``: a plain pure-Python best-fit packer written to the
  reference's description (``hpdream_runner.data._reference``), from documents
  already tokenised into Python lists (its tokenising is not counted);
- ``reference + tokenising``: the same, tokenising each refill of 128
  documents with tiktoken as it goes, as autoresearch's loader does.

The first batches of hpdream and the reference are checked to be identical
(same document stream), and the ratios are computed from this run's medians.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpdream_runner.data import PackedLoader, PreparedData, prepare
from hpdream_runner.data._loader import epoch_order
from hpdream_runner.data._reference import reference_batches

SEED = 0


def document_order(data: PreparedData) -> Iterator[int]:
    """The document ids in the order the train loader reads them (seeded, per epoch)."""
    n = len(data.doc_offsets("train")) - 1
    for epoch in itertools.count():
        yield from epoch_order(n, epoch, seed=SEED, shuffle=True).tolist()


def token_lists(data: PreparedData, count: int) -> list[list[int]]:
    tokens = np.asarray(data.tokens("train"))
    offsets = np.asarray(data.doc_offsets("train"))
    return [
        tokens[offsets[d] : offsets[d + 1]].tolist()
        for d in itertools.islice(document_order(data), count)
    ]


def tokenising_stream(data: PreparedData, texts: list[str]) -> Iterator[list[int]]:
    """Documents tokenised 128 at a time on the fly, BOS first (autoresearch's refill)."""
    enc = data.encoding()
    while True:
        for i in range(0, len(texts), 128):
            for ids in enc.encode_ordinary_batch(texts[i : i + 128], num_threads=1):
                yield [data.bos_id, *ids]


def median_rate(run: Callable[[], int], repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        tokens = run()
        rates.append(tokens / (time.perf_counter() - started))
    return statistics.median(rates)


def bench_shape(
    data: PreparedData, batch: int, seq_len: int, repeat: int, device: str
) -> dict[str, Any]:
    per_batch = batch * seq_len
    loader = PackedLoader(data, "train", batch, seq_len, device=device, seed=SEED)
    # Same stream for the reference: check the first batch is identical.
    docs_needed = 20_000  # the reference streams cycle over these
    lists = token_lists(data, docs_needed)
    first_ref = next(reference_batches(iter(lists), batch, seq_len))
    x, y = next(loader)
    if not (torch.equal(x.cpu(), first_ref[:, :-1]) and torch.equal(y.cpu(), first_ref[:, 1:])):
        raise SystemExit("hpdream and the reference gave different first batches")

    hp_batches = max(4, 2_000_000 // per_batch)

    def run_hpdream() -> int:
        for _ in range(hp_batches):
            next(loader)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return hp_batches * per_batch

    ref = reference_batches(itertools.cycle(lists), batch, seq_len)
    next(ref)  # fill its buffer outside the timing

    def run_reference() -> int:
        next(ref)
        next(ref)
        return 2 * per_batch

    enc = data.encoding()
    texts = [enc.decode(doc[1:]) for doc in lists]
    tok = reference_batches(tokenising_stream(data, texts), batch, seq_len)
    next(tok)

    def run_tokenising() -> int:
        next(tok)
        return per_batch

    hp = median_rate(run_hpdream, repeat)
    rf = median_rate(run_reference, repeat)
    tk = median_rate(run_tokenising, repeat)
    return {"hpdream": hp, "reference": rf, "reference + tokenising": tk}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", default="builtin")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = prepare(args.dataset, data_dir=args.data_dir, vocab_size=args.vocab_size, progress=print)
    meta = data.meta()["splits"]["train"]
    print(
        f"data: {data.dataset}, vocab {data.vocab_size}, {meta['docs']:,} train documents, "
        f"{meta['tokens'] / meta['docs']:.0f} tokens per document on average"
    )
    print(f"loader tokens/s, median of {args.repeat} runs; hpdream on {args.device}")
    print(
        f"{'batch':>10} {'hpdream':>14} {'reference':>14} {'ref+tokenise':>14} {'ratio':>8} {'ratio2':>8}"
    )
    for batch in (16, 64):
        r = bench_shape(data, batch, 2048, args.repeat, args.device)
        print(
            f"{batch:>4} x 2048 {r['hpdream'] / 1e6:>12.2f} M {r['reference'] / 1e6:>12.2f} M "
            f"{r['reference + tokenising'] / 1e6:>12.2f} M {r['hpdream'] / r['reference']:>7.1f}x "
            f"{r['hpdream'] / r['reference + tokenising']:>7.1f}x"
        )
    print("ratio: hpdream / reference; ratio2: hpdream / (reference + tokenising)")


if __name__ == "__main__":
    main()
