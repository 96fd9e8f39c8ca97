"""``prepare`` and ``open_prepared``: the files, idempotence, recipes, local data, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hpdream_runner.data as data_api
from hpdream_runner.data import (
    BOS_TOKEN,
    DataError,
    NotPreparedError,
    PreparedData,
    default_data_dir,
    open_prepared,
    prepare,
)
from hpdream_runner.data._sources import split_text
from hpdream_runner.data._stories import story

SMALL = {"num_train_docs": 500, "num_val_docs": 80}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def small(data_dir: Path) -> PreparedData:
    return prepare("builtin", data_dir=data_dir, vocab_size=300, **SMALL)


def _files(root: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(root.iterdir())}


def test_public_api_is_sorted_and_complete() -> None:
    public = {n for n in vars(data_api) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(data_api, n)).__name__ == "module"}
    assert data_api.__all__ == sorted(data_api.__all__, key=lambda n: (not n.isupper(), n))
    assert set(data_api.__all__) == public - modules - {"annotations"}


def test_layout_and_meta(small: PreparedData, data_dir: Path) -> None:
    assert small.root == data_dir / "builtin" / "vocab300"
    assert sorted(p.name for p in small.root.iterdir()) == [
        "meta.json",
        "token_bytes.npy",
        "tokenizer.bpe",
        "train.bin",
        "train.offsets.npy",
        "val.bin",
        "val.offsets.npy",
    ]
    meta = small.meta()
    assert meta["format_version"] == 1 and meta["dataset"] == "builtin"
    assert meta["recipe"] == {**SMALL, "seed": 0, "tokenizer_chars": 1_000_000_000}
    assert meta["splits"]["train"]["docs"] == 500 and meta["splits"]["val"]["docs"] == 80
    assert small.bos_id == small.vocab_size - 1 == 299


@pytest.mark.parametrize("split", ["train", "val"])
def test_documents_start_with_bos_and_decode_to_the_stories(
    small: PreparedData, split: str
) -> None:
    tokens = small.tokens(split)  # type: ignore[arg-type]
    offsets = small.doc_offsets(split)  # type: ignore[arg-type]
    assert tokens.dtype == np.uint16 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == len(tokens)
    assert np.all(np.diff(offsets) >= 2)
    assert np.all(tokens[offsets[:-1]] == small.bos_id)
    assert int(np.count_nonzero(tokens == small.bos_id)) == len(offsets) - 1
    enc = small.encoding()
    for i in (0, 1, len(offsets) - 2):
        text = enc.decode(tokens[offsets[i] + 1 : offsets[i + 1]].tolist())
        assert text == story(0, i, split)  # type: ignore[arg-type]


def test_encoding_and_token_bytes(small: PreparedData) -> None:
    enc = small.encoding()
    assert enc.n_vocab == small.vocab_size
    assert enc.encode_single_token(BOS_TOKEN) == small.bos_id
    lengths = small.token_bytes()
    assert lengths.dtype == np.int32 and lengths.shape == (small.vocab_size,)
    assert lengths[small.bos_id] == 0 and np.all(lengths[:256] == 1)
    for split in ("train", "val"):
        tokens = np.asarray(small.tokens(split))  # type: ignore[arg-type]
        assert int(lengths[tokens].sum()) == small.meta()["splits"][split]["bytes"]


def test_second_prepare_does_nothing(small: PreparedData, data_dir: Path) -> None:
    before = _files(small.root)
    said: list[str] = []
    again = prepare("builtin", data_dir=data_dir, vocab_size=300, progress=said.append, **SMALL)
    assert again == small
    assert said[0].startswith("already prepared: builtin, vocabulary 300")
    assert _files(small.root) == before


def test_open_prepared_by_name_and_by_root(small: PreparedData, data_dir: Path) -> None:
    assert open_prepared("builtin", data_dir=data_dir, vocab_size=300) == small
    assert open_prepared(small.root) == small
    assert open_prepared(str(small.root)) == small


def test_open_prepared_tells_which_command_to_run(data_dir: Path) -> None:
    with pytest.raises(NotPreparedError) as info:
        open_prepared("tinystories", data_dir=data_dir, vocab_size=777)
    message = str(info.value)
    assert "hpdream-run prepare --dataset tinystories --vocab-size 777 --data-dir" in message
    with pytest.raises(NotPreparedError, match=r"meta\.json is missing"):
        open_prepared(data_dir / "nothing-here")
    with pytest.raises(DataError, match="unknown data set 'books'"):
        open_prepared("books", data_dir=data_dir)


def test_default_data_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HPDREAM_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("HPDREAM_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "hpdream"


def test_another_recipe_replaces_the_preparation(tmp_path: Path) -> None:
    first = prepare(
        "builtin", data_dir=tmp_path, vocab_size=280, num_train_docs=200, num_val_docs=20
    )
    said: list[str] = []
    second = prepare(
        "builtin",
        data_dir=tmp_path,
        vocab_size=280,
        num_train_docs=200,
        num_val_docs=30,
        progress=said.append,
    )
    assert second.root == first.root
    assert any("holds another recipe" in s for s in said)
    assert second.meta()["splits"]["val"]["docs"] == 30
    assert sorted(p.name for p in (tmp_path / "builtin").iterdir()) == ["vocab280"]


def test_a_failed_prepare_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="supports only"):
        prepare("builtin", data_dir=tmp_path, vocab_size=5000, num_train_docs=3, num_val_docs=1)
    assert list((tmp_path / "builtin").iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 256}, "vocab_size must be an integer from 257"),
        ({"vocab_size": "8192"}, "vocab_size must be an integer"),
        ({"num_train_docs": 0}, "num_train_docs must be an integer from 1"),
        ({"paths": ["x.txt"]}, "option paths does not apply to the builtin data set"),
        ({"base_url": "x"}, "option base_url does not apply"),
    ],
)
def test_bad_builtin_options(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        prepare("builtin", data_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_unknown_dataset_and_bad_download_options(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown data set 'wiki'; data sets: builtin, tinystories"):
        prepare("wiki", data_dir=tmp_path)
    with pytest.raises(DataError, match="num_shards must be an integer from 1 to 4"):
        prepare("tinystories", data_dir=tmp_path, num_shards=5)
    with pytest.raises(DataError, match="base_url must be an http"):
        prepare("climbmix", data_dir=tmp_path, base_url="ftp://x")


def test_corrupt_meta_is_reported(tmp_path: Path) -> None:
    data = prepare(
        "builtin", data_dir=tmp_path, vocab_size=280, num_train_docs=100, num_val_docs=10
    )
    meta = data.root / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format_version": 99}))
    with pytest.raises(DataError, match=r"meta.json: format version 99, this hpdream reads 1"):
        open_prepared(data.root)
    meta.write_text("{not json")
    with pytest.raises(DataError, match=r"meta\.json: unreadable"):
        open_prepared(data.root)


def test_importing_the_data_package_does_not_import_torch() -> None:
    code = "import sys, hpdream_runner.data; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- local data --------------------------------------------------------------------------------


def _write_parquet(path: Path, texts: list[str | None], column: str = "text") -> None:
    pq.write_table(pa.table({column: pa.array(texts, pa.string())}), path, row_group_size=7)


def test_local_parquet_and_text_files(tmp_path: Path) -> None:
    stories = [story(3, i) for i in range(60)]
    _write_parquet(tmp_path / "a.parquet", [*stories[:40], None, ""])
    (tmp_path / "b.txt").write_text("\n<|endoftext|>\n".join(stories[40:50]))
    val = tmp_path / "val"
    val.mkdir()
    (val / "v.txt").write_text("\n<|endoftext|>\n".join(stories[50:]))
    data = prepare(
        "local",
        data_dir=tmp_path / "d",
        vocab_size=300,
        paths=[tmp_path / "a.parquet", tmp_path / "b.txt"],
        val_paths=[val],
    )
    meta = data.meta()
    assert meta["splits"]["train"]["docs"] == 50 and meta["splits"]["val"]["docs"] == 10
    enc, tokens, offsets = data.encoding(), data.tokens("val"), data.doc_offsets("val")
    assert enc.decode(tokens[offsets[3] + 1 : offsets[4]].tolist()) == stories[53]
    # Touching an input prepares again; the same inputs do not.
    said: list[str] = []
    prepare(
        "local",
        data_dir=tmp_path / "d",
        vocab_size=300,
        progress=said.append,
        paths=[tmp_path / "a.parquet", tmp_path / "b.txt"],
        val_paths=[val],
    )
    assert said[0].startswith("already prepared")
    os.utime(tmp_path / "b.txt", ns=(1, 1))
    said.clear()
    prepare(
        "local",
        data_dir=tmp_path / "d",
        vocab_size=300,
        progress=said.append,
        paths=[tmp_path / "a.parquet", tmp_path / "b.txt"],
        val_paths=[val],
    )
    assert "holds another recipe" in said[0]


def test_local_val_fraction_splits_by_content(tmp_path: Path) -> None:
    stories = [story(4, i) for i in range(400)]
    (tmp_path / "all.txt").write_text("\n\n\n".join(s.replace("\n\n", " ") for s in stories))
    data = prepare(
        "local", data_dir=tmp_path / "d", vocab_size=300, paths=[tmp_path], val_fraction=0.1
    )
    splits = data.meta()["splits"]
    assert splits["train"]["docs"] + splits["val"]["docs"] == 400
    assert 15 <= splits["val"]["docs"] <= 70


def test_local_split_too_small_for_validation(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text(story(0, 0))
    with pytest.raises(DataError, match="the val split of local has no documents"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "one.txt"])


def test_local_errors_name_the_file(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "t.parquet", ["a story"], column="body")
    with pytest.raises(DataError, match=r"t.parquet: no column 'text'; its columns: body"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "t.parquet"])
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "n.parquet")
    with pytest.raises(DataError, match=r"n.parquet: column 'text' holds int64, not text"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "n.parquet"])
    (tmp_path / "bad.txt").write_bytes(b"fine\nfine\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"bad.txt, line 3: not UTF-8 text"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "bad.txt"])
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"x.csv: unsupported file type '.csv'"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "x.csv"])
    with pytest.raises(DataError, match=r"missing: no such file or folder \(option paths\)"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "missing"])
    with pytest.raises(DataError, match="the local data set needs paths"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257)
    (tmp_path / "p.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"p.parquet: not a readable parquet file"):
        prepare("local", data_dir=tmp_path / "d", vocab_size=257, paths=[tmp_path / "p.parquet"])
    with pytest.raises(DataError, match="val_fraction must be between 0 and 1"):
        prepare("local", data_dir=tmp_path / "d", paths=[tmp_path / "bad.txt"], val_fraction=1.5)


@pytest.mark.parametrize(
    ("text", "separator", "documents"),
    [
        ("a\n<|endoftext|>\nb c\n<|endoftext|>\n", None, ["a", "b c"]),
        ("one\ntwo\n\n  \nthree\n\n\n", None, ["one\ntwo", "three"]),
        ("one\n\ntwo", "", ["one\n\ntwo"]),
        ("a|||b||| |||c", "|||", ["a", "b", "c"]),
        ("   \n\n", None, []),
    ],
)
def test_split_text(text: str, separator: str | None, documents: list[str]) -> None:
    assert split_text(text, separator) == documents
