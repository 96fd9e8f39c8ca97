"""Preparing a data set once: documents, tokenizer, token arrays, all in the data directory.

Layout (``docs/data.md``)::

    <data dir>/                        $HPDREAM_DATA_DIR, else ~/.cache/hpdream
      <dataset>/
        download/                      downloaded shards (tinystories, climbmix); .part while partial
        vocab<N>/                      one prepared vocabulary size
          meta.json                    format version, recipe, counts, tokenizer settings
          tokenizer.bpe                BPE ranks, one "base64(token) rank" line per token
          token_bytes.npy              int32 [N]: UTF-8 bytes of each token id, 0 for BOS
          train.bin, val.bin           all documents' token ids back to back, each from BOS
          train.offsets.npy, val.offsets.npy   int64 [docs + 1]: where each document starts

A prepared folder is built beside its final place and renamed into it, so a
folder with ``meta.json`` is always complete. ``prepare`` with the same recipe
finds it and returns at once.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, cast

import attrs
import numpy as np

from hpdream_runner.data._exceptions import DataError, NotPreparedError
from hpdream_runner.data._sources import (
    DATASETS,
    SPLITS,
    TOKENIZER_DOC_CHARS,
    Runtime,
    Source,
    Split,
    make_source,
    recipe_key,
    resolve_options,
)
from hpdream_runner.data._tokenizer import (
    BOS_TOKEN,
    SPLIT_PATTERN,
    check_vocab_size,
    make_encoding,
    read_ranks,
    token_byte_lengths,
    train_ranks,
    write_ranks,
)

#: Version of the prepared folder's layout (``meta.json`` ``format_version``).
FORMAT_VERSION: Final = 1

#: Environment variable naming the data directory.
DATA_DIR_ENV: Final = "HPDREAM_DATA_DIR"

META_FILE: Final = "meta.json"
TOKENIZER_FILE: Final = "tokenizer.bpe"
TOKEN_BYTES_FILE: Final = "token_bytes.npy"

#: Documents tokenised per batch while preparing.
_BATCH_DOCS: Final = 4096


def default_data_dir() -> Path:
    """The data directory: ``$HPDREAM_DATA_DIR`` if set, else ``~/.cache/hpdream``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hpdream"


#: The data directory when this module was imported (``default_data_dir()`` reads it anew).
DEFAULT_DATA_DIR: Final = default_data_dir()


def _tokens_file(split: str) -> str:
    return f"{split}.bin"


def _offsets_file(split: str) -> str:
    return f"{split}.offsets.npy"


def token_dtype(vocab_size: int) -> np.dtype[Any]:
    """uint16 when every id fits (vocab_size <= 65,536), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def prepared_root(dataset: str, data_dir: Path, vocab_size: int) -> Path:
    """The folder of a prepared data set: ``<data_dir>/<dataset>/vocab<vocab_size>``."""
    return Path(data_dir) / dataset / f"vocab{vocab_size}"


def _check_split(split: object) -> Split:
    if split not in SPLITS:
        raise DataError(f"split must be 'train' or 'val', got {split!r}")
    return cast(Split, split)


@functools.lru_cache(maxsize=8)
def _load_encoding(path: str, mtime_ns: int, name: str) -> Any:
    del mtime_ns  # part of the cache key only
    return make_encoding(read_ranks(Path(path)), name=name)


@attrs.frozen
class PreparedData:
    """A prepared data set: its folder, vocabulary and BOS id; the arrays are read on demand."""

    root: Path
    dataset: str
    vocab_size: int
    bos_id: int

    @classmethod
    def from_root(cls, root: Path | str) -> PreparedData:
        """The prepared data set in ``root`` (a folder holding ``meta.json``)."""
        root = Path(root)
        meta = _read_meta(root)
        return cls(
            root=root,
            dataset=str(meta["dataset"]),
            vocab_size=int(meta["vocab_size"]),
            bos_id=int(meta["bos_id"]),
        )

    def meta(self) -> dict[str, Any]:
        """``meta.json``: recipe, source, per-split counts, tokenizer settings."""
        return _read_meta(self.root)

    def encoding(self) -> Any:
        """The ``tiktoken.Encoding`` (``<|bos|>`` is its only special token)."""
        path = self.root / TOKENIZER_FILE
        return _load_encoding(
            str(path), path.stat().st_mtime_ns, f"hpdream-{self.dataset}-{self.vocab_size}"
        )

    def token_bytes(self) -> np.ndarray:
        """int32 [vocab_size]: the UTF-8 byte length of each token id, 0 for BOS."""
        lengths = np.load(self.root / TOKEN_BYTES_FILE)
        if lengths.shape != (self.vocab_size,) or lengths.dtype != np.int32:
            raise DataError(
                f"{self.root / TOKEN_BYTES_FILE}: expected int32 [{self.vocab_size}], "
                f"got {lengths.dtype} {list(lengths.shape)}; prepare the data set again"
            )
        return lengths

    def tokens(self, split: Split) -> np.ndarray:
        """All documents of ``split`` back to back, each starting with BOS (read-only memmap)."""
        path = self.root / _tokens_file(_check_split(split))
        return np.memmap(path, dtype=token_dtype(self.vocab_size), mode="r")

    def doc_offsets(self, split: Split) -> np.ndarray:
        """int64 [docs + 1]: where each document starts in ``tokens(split)``, then the end."""
        return np.load(self.root / _offsets_file(_check_split(split)), mmap_mode="r")

    def describe(self) -> str:
        """One line per split: documents, tokens, bytes per token."""
        meta = self.meta()
        lines = [f"{self.dataset}, vocabulary {self.vocab_size:,}, at {self.root}"]
        for split in SPLITS:
            s = meta["splits"][split]
            lines.append(
                f"  {split}: {s['docs']:,} documents, {s['tokens']:,} tokens, "
                f"{s['bytes'] / 1e6:,.1f} MB of text, {s['bytes'] / max(1, s['tokens']):.2f} bytes/token"
            )
        return "\n".join(lines)


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotPreparedError(
            f"{root}: no prepared data set here ({META_FILE} is missing)"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); prepare the data set again") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise DataError(
            f"{path}: format version {version!r}, this hpdream reads {FORMAT_VERSION}; "
            "prepare the data set again"
        )
    for key in ("dataset", "vocab_size", "bos_id", "splits", "recipe"):
        if key not in meta:
            raise DataError(f"{path}: the key {key!r} is missing; prepare the data set again")
    return meta


def _is_dataset_name(dataset: str | Path) -> bool:
    return isinstance(dataset, str) and "/" not in dataset and os.sep not in dataset


def open_prepared(
    dataset: str | Path = "builtin", *, data_dir: Path | None = None, vocab_size: int = 8192
) -> PreparedData:
    """The prepared data set, without preparing anything.

    ``dataset`` is a data set name (looked up in ``data_dir`` with
    ``vocab_size``) or the folder of a prepared data set
    (``PreparedData.root``), as the training harness passes it.
    Raises :class:`NotPreparedError` saying which ``hpdream-run prepare`` to run.
    """
    if not _is_dataset_name(dataset):
        return PreparedData.from_root(Path(dataset))
    name = str(dataset)
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; data sets: {', '.join(DATASETS)}")
    vocab_size = check_vocab_size(vocab_size)
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    root = prepared_root(name, base, vocab_size)
    if not (root / META_FILE).exists():
        data_dir_arg = "" if data_dir is None else f" --data-dir {base}"
        raise NotPreparedError(
            f"the {name} data set with vocabulary {vocab_size} is not prepared in {base}; "
            f"run: hpdream-run prepare --dataset {name} --vocab-size {vocab_size}{data_dir_arg}"
        )
    return PreparedData.from_root(root)


# ---------------------------------------------------------------------------------------------
# Preparing
# ---------------------------------------------------------------------------------------------


def _current(root: Path, dataset: str, vocab_size: int, key: Mapping[str, Any]) -> bool:
    """True when ``root`` holds a complete preparation of exactly this recipe."""
    try:
        meta = _read_meta(root)
    except DataError:
        return False
    if (
        meta["dataset"] != dataset
        or meta["vocab_size"] != vocab_size
        or meta["recipe"] != json.loads(json.dumps(dict(key)))
    ):
        return False
    itemsize = token_dtype(vocab_size).itemsize
    for split in SPLITS:
        tokens = root / _tokens_file(split)
        if (
            not tokens.exists()
            or tokens.stat().st_size != meta["splits"][split]["tokens"] * itemsize
        ):
            return False
        if not (root / _offsets_file(split)).exists():
            return False
    return (root / TOKENIZER_FILE).exists() and (root / TOKEN_BYTES_FILE).exists()


def _tokenizer_texts(documents: Iterable[str], max_chars: int) -> Iterator[str]:
    total = 0
    for text in documents:
        doc = text[:TOKENIZER_DOC_CHARS]
        yield doc
        total += len(doc)
        if total >= max_chars:
            return


def _write_split(
    encoding: Any,
    documents: Iterable[str],
    bos_id: int,
    dtype: np.dtype[Any],
    folder: Path,
    split: Split,
    num_threads: int,
) -> dict[str, int]:
    """Tokenise ``documents`` into ``<split>.bin`` and ``<split>.offsets.npy``; the counts."""
    lengths: list[np.ndarray] = []
    nbytes = 0
    ndocs = 0
    with open(folder / _tokens_file(split), "wb") as f:
        it = iter(documents)
        while batch := list(itertools.islice(it, _BATCH_DOCS)):
            ids = encoding.encode_ordinary_batch(batch, num_threads=num_threads)
            sizes = np.fromiter((len(x) + 1 for x in ids), dtype=np.int64, count=len(ids))
            starts = np.cumsum(sizes) - sizes
            flat = np.empty(int(sizes.sum()), dtype=dtype)
            flat[starts] = bos_id
            for start, doc in zip(starts.tolist(), ids, strict=True):
                flat[start + 1 : start + 1 + len(doc)] = doc
            f.write(flat.tobytes())
            lengths.append(sizes)
            nbytes += sum(len(text.encode("utf-8")) for text in batch)
            ndocs += len(batch)
        f.flush()
        os.fsync(f.fileno())
    offsets = np.zeros(ndocs + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    np.save(folder / _offsets_file(split), offsets)
    return {"docs": ndocs, "tokens": int(offsets[-1]), "bytes": nbytes}


def _check_bytes(
    folder: Path, split: Split, dtype: np.dtype[Any], token_bytes: np.ndarray, nbytes: int
) -> None:
    """The token byte lengths of a split must add up to its text's UTF-8 length."""
    tokens = np.memmap(folder / _tokens_file(split), dtype=dtype, mode="r")
    total = 0
    step = 1 << 24
    for start in range(0, len(tokens), step):
        total += int(token_bytes[tokens[start : start + step]].sum(dtype=np.int64))
    del tokens
    if total != nbytes:
        raise DataError(
            f"{folder / _tokens_file(split)}: the tokens decode to {total:,} bytes but the text "
            f"holds {nbytes:,}; the tokenizer does not round-trip this text"
        )


def prepare(
    dataset: str = "builtin",
    *,
    data_dir: Path | None = None,
    vocab_size: int = 8192,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> PreparedData:
    """Prepare ``dataset`` once: fetch or generate the text, train the tokenizer, tokenise.

    Options (recipe options decide the result; see ``docs/data.md``):

    - every data set: ``tokenizer_chars`` (characters of training text the
      BPE learns from, default 10**9; each document contributes at most 10,000)
    - ``builtin``: ``num_train_docs`` (80,000), ``num_val_docs`` (10,000), ``seed`` (0)
    - ``tinystories``: ``num_shards`` (1-4 train shards, default 4), ``base_url``
    - ``climbmix``: ``num_shards`` (default 10), ``base_url``
    - ``local``: ``paths`` (parquet or ``.txt`` files, or folders), ``val_paths``,
      ``val_fraction`` (0.05), ``text_column`` ("text"), ``separator`` (None)
    - runtime: ``client`` (an ``httpx.Client``), ``retries``, ``backoff_s``,
      ``timeout_s``, ``download_workers``, ``sleep``, ``num_threads``

    A second call with the same recipe does nothing and returns the prepared
    data; a different recipe for the same data set and vocabulary replaces it.
    """
    say = progress if progress is not None else (lambda message: None)
    vocab_size = check_vocab_size(vocab_size)
    recipe, runtime = resolve_options(dataset, options)
    key = recipe_key(recipe)
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    root = prepared_root(dataset, base, vocab_size)
    if _current(root, dataset, vocab_size, key):
        data = PreparedData.from_root(root)
        say("already prepared: " + data.describe())
        return data
    if (root / META_FILE).exists():
        say(f"{root} holds another recipe of {dataset}; preparing it again")

    source = make_source(dataset, recipe, base / dataset / "download")
    source.fetch(runtime, say)
    root.parent.mkdir(parents=True, exist_ok=True)
    building = root.with_name(f".{root.name}.building-{os.getpid()}-{time.time_ns()}")
    building.mkdir()
    try:
        meta = _build(building, dataset, vocab_size, recipe, key, source, runtime, say)
        _replace(building, root)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    data = PreparedData.from_root(root)
    say(f"prepared in {meta['seconds']:.1f} s: " + data.describe())
    return data


def _build(
    folder: Path,
    dataset: str,
    vocab_size: int,
    recipe: Mapping[str, Any],
    key: Mapping[str, Any],
    source: Source,
    runtime: Runtime,
    say: Callable[[str], None],
) -> dict[str, Any]:
    started = time.perf_counter()
    say(f"training a BPE tokenizer of {vocab_size:,} ids on the train split")
    t0 = time.perf_counter()
    ranks = train_ranks(
        _tokenizer_texts(source.documents("train"), int(recipe["tokenizer_chars"])), vocab_size
    )
    tokenizer_seconds = time.perf_counter() - t0
    write_ranks(folder / TOKENIZER_FILE, ranks)
    token_bytes = token_byte_lengths(ranks)
    np.save(folder / TOKEN_BYTES_FILE, token_bytes)
    encoding = make_encoding(ranks)
    bos_id = encoding.encode_single_token(BOS_TOKEN)
    dtype = token_dtype(vocab_size)

    splits: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        t0 = time.perf_counter()
        counts = _write_split(
            encoding, source.documents(split), bos_id, dtype, folder, split, runtime.num_threads
        )
        if counts["docs"] == 0:
            raise DataError(
                f"the {split} split of {dataset} has no documents; give it some text "
                "(for local data: more documents, another val_fraction, or val_paths)"
            )
        _check_bytes(folder, split, dtype, token_bytes, counts["bytes"])
        splits[split] = counts
        say(
            f"  {split}: {counts['docs']:,} documents, {counts['tokens']:,} tokens "
            f"({time.perf_counter() - t0:.1f} s)"
        )

    meta = {
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "vocab_size": vocab_size,
        "bos_id": int(bos_id),
        "bos_token": BOS_TOKEN,
        "split_pattern": SPLIT_PATTERN,
        "token_dtype": dtype.name,
        "recipe": dict(key),
        "source": source.describe(),
        "splits": splits,
        "tokenizer_seconds": round(tokenizer_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = folder / META_FILE
    with open(path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return meta


def _replace(building: Path, root: Path) -> None:
    """Move the finished folder into place, replacing an older preparation."""
    old = None
    if root.exists():
        old = root.with_name(f".{root.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(root, old)
    os.replace(building, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
