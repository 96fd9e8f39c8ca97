"""The data sets: where their documents come from, their options, their train/val split.

=============  ================================================================================
``builtin``    the generated children's stories (:mod:`._stories`), offline, the default
``tinystories`` TinyStories (Eldan and Li, 2023), four train shards and the validation shard
               of ``roneneldan/TinyStories`` on Hugging Face, as parquet
``climbmix``   autoresearch's default: shards of ``karpathy/climbmix-400b-shuffle`` on
               Hugging Face; ``shard_06542`` is the validation shard, as in autoresearch
``local``      your own parquet (a text column) and text files
=============  ================================================================================

Each data set has *recipe* options, which decide the prepared files and are
recorded in ``meta.json`` (a change prepares again), and *runtime* options
(HTTP client, retries, threads), which do not.
"""

from __future__ import annotations

import abc
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from hpdream_runner.data import _stories
from hpdream_runner.data._download import DownloadPolicy, download_files
from hpdream_runner.data._exceptions import DataError

Split = Literal["train", "val"]
SPLITS: Final[tuple[Split, ...]] = ("train", "val")

#: Where TinyStories' parquet shards are (``--base-url`` replaces it).
TINYSTORIES_URL: Final = "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/data"
TINYSTORIES_TRAIN: Final = (
    "train-00000-of-00004-2d5a1467fff1081b.parquet",
    "train-00001-of-00004-5852b56a2bd28fd9.parquet",
    "train-00002-of-00004-a26307300439e943.parquet",
    "train-00003-of-00004-d243063613e5a057.parquet",
)
TINYSTORIES_VAL: Final = "validation-00000-of-00001-869c898b519ad725.parquet"

#: Where autoresearch's climbmix shards are (``--base-url`` replaces it).
CLIMBMIX_URL: Final = "https://huggingface.co/datasets/karpathy/climbmix-400b-shuffle/resolve/main"
#: The last shard, kept for validation (as autoresearch does).
CLIMBMIX_VAL_SHARD: Final = 6542

#: At most this many characters of each document go into tokenizer training.
TOKENIZER_DOC_CHARS: Final = 10_000

#: Runtime options: they change how files are fetched or tokenised, never the result.
RUNTIME_OPTIONS: Final = frozenset(
    {"client", "retries", "backoff_s", "timeout_s", "download_workers", "sleep", "num_threads"}
)

#: Recipe options every data set has.
COMMON_OPTIONS: Final[Mapping[str, Any]] = {"tokenizer_chars": 1_000_000_000}

#: Recipe options of each data set and their defaults (None: required or unset).
DATASET_OPTIONS: Final[Mapping[str, Mapping[str, Any]]] = {
    "builtin": {"num_train_docs": 80_000, "num_val_docs": 10_000, "seed": 0},
    "tinystories": {"num_shards": len(TINYSTORIES_TRAIN), "base_url": TINYSTORIES_URL},
    "climbmix": {"num_shards": 10, "base_url": CLIMBMIX_URL},
    "local": {
        "paths": None,
        "val_paths": None,
        "val_fraction": 0.05,
        "text_column": "text",
        "separator": None,
    },
}

DATASETS: Final = tuple(DATASET_OPTIONS)

#: Options left out of the recipe although they are not runtime options: a mirror
#: serves the same files, so changing ``base_url`` does not prepare again.
SOURCE_ONLY_OPTIONS: Final = frozenset({"base_url"})


@attrs.frozen
class Runtime:
    """Runtime options: the HTTP client (None: one made and closed here), retries, threads."""

    client: Any = None
    policy: DownloadPolicy = DownloadPolicy()
    sleep: Callable[[float], None] | None = None
    num_threads: int = 2


def _int_option(name: str, value: Any, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise DataError(f"option {name} must be an integer {bound}, got {value!r}")
    return value


def resolve_options(dataset: str, options: Mapping[str, Any]) -> tuple[dict[str, Any], Runtime]:
    """(recipe options with defaults filled in, runtime options); errors name the option."""
    if dataset not in DATASET_OPTIONS:
        raise DataError(f"unknown data set {dataset!r}; data sets: {', '.join(DATASETS)}")
    allowed = {**COMMON_OPTIONS, **DATASET_OPTIONS[dataset]}
    unknown = sorted(set(options) - set(allowed) - RUNTIME_OPTIONS)
    if unknown:
        raise DataError(
            f"option {', '.join(unknown)} does not apply to the {dataset} data set; its options: "
            f"{', '.join(sorted(allowed))} (and {', '.join(sorted(RUNTIME_OPTIONS))})"
        )
    recipe = {name: options.get(name, default) for name, default in allowed.items()}
    recipe = {k: (allowed[k] if v is None else v) for k, v in recipe.items()}
    _int_option("tokenizer_chars", recipe["tokenizer_chars"], 1)

    if dataset == "builtin":
        _int_option("num_train_docs", recipe["num_train_docs"], 1, 2**32)
        _int_option("num_val_docs", recipe["num_val_docs"], 1, 2**32)
        _int_option("seed", recipe["seed"], 0, 2**30)
    elif dataset == "tinystories":
        _int_option("num_shards", recipe["num_shards"], 1, len(TINYSTORIES_TRAIN))
    elif dataset == "climbmix":
        _int_option("num_shards", recipe["num_shards"], 1, CLIMBMIX_VAL_SHARD)
    elif dataset == "local":
        recipe.update(_local_recipe(recipe))
    if "base_url" in recipe:
        url = recipe["base_url"]
        if not isinstance(url, str) or not re.match(r"https?://", url):
            raise DataError(f"option base_url must be an http(s) URL, got {url!r}")
        recipe["base_url"] = url.rstrip("/")

    policy_fields = {
        "retries": options.get("retries"),
        "backoff_s": options.get("backoff_s"),
        "timeout_s": options.get("timeout_s"),
        "workers": options.get("download_workers"),
    }
    try:
        policy = DownloadPolicy(**{k: v for k, v in policy_fields.items() if v is not None})
    except (ValueError, TypeError) as exc:
        raise DataError(f"bad download option: {exc}") from None
    num_threads = options.get("num_threads")
    num_threads = 2 if num_threads is None else _int_option("num_threads", num_threads, 1)
    runtime = Runtime(
        client=options.get("client"),
        policy=policy,
        sleep=options.get("sleep"),
        num_threads=num_threads,
    )
    return recipe, runtime


def recipe_key(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the recipe that decides the prepared files (what ``meta.json`` compares)."""
    return {k: v for k, v in recipe.items() if k not in SOURCE_ONLY_OPTIONS}


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


class Source(abc.ABC):
    """Where a data set's documents come from: ``fetch`` what is missing, then read."""

    def fetch(self, runtime: Runtime, progress: Callable[[str], None]) -> None:  # noqa: B027
        """Make the documents available locally (downloads); nothing for local sources."""

    @abc.abstractmethod
    def documents(self, split: Split) -> Iterator[str]:
        """The documents of ``split``, in a fixed order; empty documents are skipped."""

    def describe(self) -> dict[str, Any]:
        """Where the documents came from, for ``meta.json``."""
        return {}


class BuiltinSource(Source):
    def __init__(self, recipe: Mapping[str, Any]) -> None:
        self.seed = int(recipe["seed"])
        self.counts = {"train": int(recipe["num_train_docs"]), "val": int(recipe["num_val_docs"])}
        self._cache: dict[str, list[str]] = {}

    def documents(self, split: Split) -> Iterator[str]:
        # Generated once per split and kept: tokenizer training and tokenising both read it.
        if split not in self._cache:
            self._cache[split] = list(_stories.stories(self.seed, self.counts[split], split))
        return iter(self._cache[split])

    def describe(self) -> dict[str, Any]:
        return {"generator": "hpdream builtin stories", "seed": self.seed, **self.counts}


def _parquet_texts(path: Path, column: str) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    with pf:
        names = pf.schema_arrow.names
        if column not in names:
            raise DataError(
                f"{path}: no column {column!r}; its columns: {', '.join(names)} "
                "(choose one with --text-column)"
            )
        kind = pf.schema_arrow.field(column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise DataError(f"{path}: column {column!r} holds {kind}, not text")
        for group in range(pf.num_row_groups):
            for text in pf.read_row_group(group, columns=[column]).column(0).to_pylist():
                if text:
                    yield text


class ParquetShards(Source):
    """Shards downloaded from ``base_url`` into ``folder``: train shards and one val shard."""

    def __init__(
        self,
        base_url: str,
        folder: Path,
        train: Sequence[str],
        val: str,
        column: str = "text",
    ) -> None:
        self.base_url = base_url
        self.folder = folder
        self.files: dict[Split, tuple[str, ...]] = {"train": tuple(train), "val": (val,)}
        self.column = column

    def fetch(self, runtime: Runtime, progress: Callable[[str], None]) -> None:
        import time

        import httpx

        wanted = [
            (f"{self.base_url}/{name}", self.folder / name)
            for split in SPLITS
            for name in self.files[split]
        ]
        client = runtime.client
        own = client is None
        if own:
            client = httpx.Client(
                headers={"User-Agent": "hpdream-prepare"},
                timeout=runtime.policy.timeout_s,
            )
        try:
            download_files(
                client,
                wanted,
                policy=runtime.policy,
                magic=b"PAR1",
                sleep=time.sleep if runtime.sleep is None else runtime.sleep,
                progress=progress,
            )
        finally:
            if own:
                client.close()

    def documents(self, split: Split) -> Iterator[str]:
        for name in self.files[split]:
            yield from _parquet_texts(self.folder / name, self.column)

    def describe(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "files": {
                split: [
                    {"name": n, "bytes": (self.folder / n).stat().st_size}
                    for n in self.files[split]
                ]
                for split in SPLITS
            },
        }


# --- local files -----------------------------------------------------------------------------

LOCAL_SUFFIXES: Final = (".parquet", ".txt")
ENDOFTEXT: Final = "<|endoftext|>"


def _expand(paths: Any, option: str) -> list[Path]:
    if isinstance(paths, str | Path):
        paths = [paths]
    if not isinstance(paths, Sequence) or not paths:
        raise DataError(f"option {option} must list files or folders, got {paths!r}")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOCAL_SUFFIXES
            )
            if not found:
                raise DataError(f"{path}: the folder holds no {' or '.join(LOCAL_SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in LOCAL_SUFFIXES:
                raise DataError(
                    f"{path}: unsupported file type {path.suffix!r}; use "
                    f"{' or '.join(LOCAL_SUFFIXES)} files"
                )
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or folder (option {option})")
    return files


def _fingerprint(files: Sequence[Path]) -> list[dict[str, Any]]:
    out = []
    for p in files:
        st = p.stat()
        out.append({"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def _local_recipe(recipe: Mapping[str, Any]) -> dict[str, Any]:
    if recipe["paths"] is None:
        raise DataError("the local data set needs paths: parquet or text files, or folders")
    out: dict[str, Any] = {"paths": _fingerprint(_expand(recipe["paths"], "paths"))}
    if recipe["val_paths"] is not None:
        out["val_paths"] = _fingerprint(_expand(recipe["val_paths"], "val_paths"))
        out["val_fraction"] = 0.0
    else:
        fraction = recipe["val_fraction"]
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not (0 < fraction < 1)
        ):
            raise DataError(f"option val_fraction must be between 0 and 1, got {fraction!r}")
        out["val_fraction"] = float(fraction)
    column = recipe["text_column"]
    if not isinstance(column, str) or not column:
        raise DataError(f"option text_column must be a column name, got {column!r}")
    separator = recipe["separator"]
    if separator is not None and not isinstance(separator, str):
        raise DataError(f"option separator must be a string, got {separator!r}")
    return out


_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def split_text(text: str, separator: str | None) -> list[str]:
    """The documents of a text file.

    ``separator`` None: split at lines of ``<|endoftext|>`` if the file holds
    that marker, else at blank lines. ``""``: the whole file is one document.
    Another string: split at it. Documents are stripped; empty ones dropped.
    """
    if separator == "":
        parts = [text]
    elif separator is not None:
        parts = text.split(separator)
    elif ENDOFTEXT in text:
        parts = text.split(ENDOFTEXT)
    else:
        parts = _BLANK_LINES.split(text)
    return [p for p in (part.strip() for part in parts) if p]


def _is_val(text: str, fraction: float) -> bool:
    """Deterministic split by content: the same document always lands in the same split."""
    return zlib.crc32(text.encode("utf-8")) < fraction * 2**32


class LocalSource(Source):
    def __init__(self, recipe: Mapping[str, Any]) -> None:
        self.paths = [Path(f["path"]) for f in recipe["paths"]]
        self.val_paths = (
            [Path(f["path"]) for f in recipe["val_paths"]] if recipe.get("val_paths") else None
        )
        self.fraction = float(recipe["val_fraction"])
        self.column = str(recipe["text_column"])
        self.separator: str | None = recipe["separator"]

    def _read(self, files: Sequence[Path]) -> Iterator[str]:
        for path in files:
            if path.suffix.lower() == ".parquet":
                yield from _parquet_texts(path, self.column)
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                line = path.read_bytes()[: exc.start].count(b"\n") + 1
                raise DataError(
                    f"{path}, line {line}: not UTF-8 text (byte {exc.start}: {exc.reason})"
                ) from None
            yield from split_text(text, self.separator)

    def documents(self, split: Split) -> Iterator[str]:
        if self.val_paths is not None:
            yield from self._read(self.paths if split == "train" else self.val_paths)
            return
        want_val = split == "val"
        for text in self._read(self.paths):
            if _is_val(text, self.fraction) == want_val:
                yield text

    def describe(self) -> dict[str, Any]:
        return {
            "paths": [str(p) for p in self.paths],
            "val_paths": None if self.val_paths is None else [str(p) for p in self.val_paths],
        }


def make_source(dataset: str, recipe: Mapping[str, Any], download_dir: Path) -> Source:
    """The source of a data set, from its resolved recipe."""
    if dataset == "builtin":
        return BuiltinSource(recipe)
    if dataset == "tinystories":
        return ParquetShards(
            recipe["base_url"],
            download_dir,
            TINYSTORIES_TRAIN[: recipe["num_shards"]],
            TINYSTORIES_VAL,
        )
    if dataset == "climbmix":
        return ParquetShards(
            recipe["base_url"],
            download_dir,
            [f"shard_{i:05d}.parquet" for i in range(recipe["num_shards"])],
            f"shard_{CLIMBMIX_VAL_SHARD:05d}.parquet",
        )
    return LocalSource(recipe)
