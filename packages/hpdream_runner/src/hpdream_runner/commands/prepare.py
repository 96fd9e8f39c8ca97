"""``hpdream-run prepare``: make a data set ready for training (text, tokenizer, token arrays)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Data set names (kept here so ``--help`` needs no import of numpy or tiktoken).
_DATASETS = ("builtin", "tinystories", "climbmix", "local")

#: Options passed on to ``prepare`` when given.
_OPTIONS = (
    "tokenizer_chars",
    "num_train_docs",
    "num_val_docs",
    "seed",
    "base_url",
    "num_shards",
    "retries",
    "download_workers",
    "paths",
    "val_paths",
    "val_fraction",
    "text_column",
    "separator",
    "num_threads",
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "prepare",
        help="prepare a data set: download or generate text, train the tokenizer, tokenise",
        description=(
            "Prepare a data set once in the data directory ($HPDREAM_DATA_DIR, else "
            "~/.cache/hpdream): download (tinystories, climbmix), generate (builtin) or read "
            "(local) the text, train a BPE tokenizer and tokenise both splits. A second run "
            "with the same options does nothing. See docs/data.md."
        ),
    )
    p.add_argument("--dataset", choices=_DATASETS, default="builtin", help="default: builtin")
    p.add_argument("--data-dir", type=Path, metavar="DIR", help="the data directory")
    p.add_argument("--vocab-size", type=int, default=8192, metavar="N", help="default: 8192")
    p.add_argument(
        "--tokenizer-chars", type=int, metavar="N", help="characters of text the BPE learns from"
    )
    p.add_argument(
        "--threads", dest="num_threads", type=int, metavar="N", help="tokenising threads"
    )
    p.add_argument("--json", action="store_true", help="print the prepared data's meta.json")
    g = p.add_argument_group("builtin")
    g.add_argument("--num-train-docs", type=int, metavar="N", help="default: 80000")
    g.add_argument("--num-val-docs", type=int, metavar="N", help="default: 10000")
    g.add_argument("--seed", type=int, metavar="S", help="default: 0")
    g = p.add_argument_group("tinystories and climbmix")
    g.add_argument("--base-url", metavar="URL", help="where the parquet shards are")
    g.add_argument(
        "--num-shards", type=int, metavar="N", help="train shards (tinystories 1-4, climbmix 10)"
    )
    g.add_argument("--retries", type=int, metavar="N", help="attempts without progress (5)")
    g.add_argument("--download-workers", type=int, metavar="N", help="parallel downloads (4)")
    g = p.add_argument_group("local")
    g.add_argument(
        "--path",
        dest="paths",
        nargs="+",
        type=Path,
        metavar="P",
        help="parquet or .txt files, or folders of them",
    )
    g.add_argument(
        "--val-path",
        dest="val_paths",
        nargs="+",
        type=Path,
        metavar="P",
        help="validation files (default: a share of --path's documents)",
    )
    g.add_argument("--val-fraction", type=float, metavar="F", help="default: 0.05")
    g.add_argument("--text-column", metavar="NAME", help="parquet column (default: text)")
    g.add_argument(
        "--separator",
        metavar="S",
        help=(
            "splits .txt files into documents (default: at <|endoftext|> if present, "
            "else at blank lines; '' keeps each file whole)"
        ),
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hpdream_runner.data import prepare

    options: dict[str, Any] = {
        name: getattr(args, name) for name in _OPTIONS if getattr(args, name) is not None
    }
    # With --json, stdout holds only the JSON; progress goes to stderr.
    out = sys.stderr if args.json else sys.stdout

    def progress(message: str) -> None:
        print(message, file=out, flush=True)

    data = prepare(
        args.dataset,
        data_dir=args.data_dir,
        vocab_size=args.vocab_size,
        progress=progress,
        **options,
    )
    if args.json:
        json.dump({"root": str(data.root), **data.meta()}, sys.stdout, indent=2)
        print()
    return 0
