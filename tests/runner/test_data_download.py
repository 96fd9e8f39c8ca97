"""Downloads against a loopback HTTP server: resume after a dropped connection, retries, checks.

The server (``http.server`` in a thread on 127.0.0.1) serves parquet files made
here with pyarrow, answers ``Range`` requests, and follows a per-file plan of
misbehaviour: drop the connection after some bytes, answer 503, ignore ranges.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hpdream_runner.data import DownloadError, prepare
from hpdream_runner.data._download import DownloadPolicy, download_file
from hpdream_runner.data._sources import CLIMBMIX_VAL_SHARD, TINYSTORIES_TRAIN, TINYSTORIES_VAL
from hpdream_runner.data._stories import stories


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        #: Per path, what to do on each next request: "drop:N", "status:N", "ignore-range".
        self.plans: dict[str, list[str]] = {}
        self.ignore_range: set[str] = set()
        self.log: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test reads server.log instead

    def do_GET(self) -> None:
        srv = self.server
        path = self.path.split("?")[0]
        range_header = self.headers.get("Range")
        with srv.lock:
            srv.log.append((path, range_header))
            plan = srv.plans.get(path, [])
            action = plan.pop(0) if plan else ""
        body = srv.files.get(path)
        if action.startswith("status:"):
            self._reply(int(action.split(":")[1]), b"try later")
            return
        if body is None:
            self._reply(404, b"not found")
            return
        start = 0
        status = 200
        if range_header and path not in srv.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match, range_header
            start = int(match.group(1))
            if start >= len(body):
                self._reply(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
            status = 206
        part = body[start:]
        headers = {"Content-Type": "application/octet-stream"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        if action.startswith("drop:"):
            # Announce the whole body, send some of it, then cut the connection.
            self._headers(status, len(part), headers)
            self.wfile.write(part[: int(action.split(":")[1])])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._reply(status, part, headers)

    def _headers(self, status: int, length: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._headers(status, len(body), headers or {})
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def parquet_bytes(texts: list[str]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": texts}), sink, row_group_size=50)
    return sink.getvalue()


@pytest.fixture(scope="module")
def shard() -> bytes:
    return parquet_bytes(list(stories(1, 120)))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_clean_download(
    server: FileServer, client: httpx.Client, shard: bytes, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = shard
    dest = tmp_path / "a.parquet"
    assert download_file(client, f"{server.url}/a.parquet", dest, magic=b"PAR1")
    assert dest.read_bytes() == shard
    assert not (tmp_path / "a.parquet.part").exists()
    # Present: no request at all.
    assert not download_file(client, f"{server.url}/a.parquet", dest)
    assert server.log == [("/a.parquet", None)]


def test_dropped_connection_resumes_with_a_range(
    server: FileServer, client: httpx.Client, shard: bytes, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = shard
    server.plans["/a.parquet"] = ["drop:5000", "drop:3000"]
    sleeps, said = Sleeps(), []
    dest = tmp_path / "a.parquet"
    download_file(
        client, f"{server.url}/a.parquet", dest, magic=b"PAR1", sleep=sleeps, progress=said.append
    )
    assert dest.read_bytes() == shard
    assert server.log == [
        ("/a.parquet", None),
        ("/a.parquet", "bytes=5000-"),
        ("/a.parquet", "bytes=8000-"),
    ]
    assert sleeps == [1.0, 1.0]  # each attempt made progress: no growing backoff
    assert "retrying in 1 s from byte 5,000" in said[0]


def test_server_ignoring_ranges_restarts_the_file(
    server: FileServer, client: httpx.Client, shard: bytes, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = shard
    server.plans["/a.parquet"] = ["drop:4000"]
    server.ignore_range.add("/a.parquet")
    dest = tmp_path / "a.parquet"
    download_file(client, f"{server.url}/a.parquet", dest, sleep=Sleeps())
    assert dest.read_bytes() == shard
    assert server.log[1] == ("/a.parquet", "bytes=4000-")


def test_stale_part_longer_than_the_file_starts_again(
    server: FileServer, client: httpx.Client, shard: bytes, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = shard
    dest = tmp_path / "a.parquet"
    (tmp_path / "a.parquet.part").write_bytes(b"x" * (len(shard) + 10))
    download_file(client, f"{server.url}/a.parquet", dest, sleep=Sleeps())
    assert dest.read_bytes() == shard
    assert server.log == [("/a.parquet", f"bytes={len(shard) + 10}-"), ("/a.parquet", None)]


def test_retries_with_backoff_then_succeeds(
    server: FileServer, client: httpx.Client, shard: bytes, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = shard
    server.plans["/a.parquet"] = ["status:503", "status:429", "status:500"]
    sleeps = Sleeps()
    dest = tmp_path / "a.parquet"
    policy = DownloadPolicy(retries=5, backoff_s=0.5)
    download_file(client, f"{server.url}/a.parquet", dest, policy=policy, sleep=sleeps)
    assert dest.read_bytes() == shard
    assert sleeps == [0.5, 1.0, 2.0]


def test_gives_up_after_the_retries(
    server: FileServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = b"PAR1" + b"x" * 100 + b"PAR1"
    server.plans["/a.parquet"] = ["drop:0"] * 10
    sleeps = Sleeps()
    with pytest.raises(
        DownloadError, match=r"a.parquet: gave up after 3 attempts without progress"
    ):
        download_file(
            client,
            f"{server.url}/a.parquet",
            tmp_path / "a.parquet",
            policy=DownloadPolicy(retries=3, backoff_s=1, max_backoff_s=3),
            sleep=sleeps,
        )
    assert sleeps == [1, 2, 3]
    assert len(server.log) == 4
    assert not (tmp_path / "a.parquet").exists()


def test_not_found_fails_at_once(server: FileServer, client: httpx.Client, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"/missing.parquet: HTTP 404 Not Found"):
        download_file(
            client, f"{server.url}/missing.parquet", tmp_path / "m.parquet", sleep=Sleeps()
        )
    assert len(server.log) == 1


def test_a_file_that_is_not_parquet_is_refused(
    server: FileServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.files["/a.parquet"] = b"<html>rate limited</html>"
    with pytest.raises(DownloadError, match="not the expected format"):
        download_file(client, f"{server.url}/a.parquet", tmp_path / "a.parquet", magic=b"PAR1")
    assert list(tmp_path.iterdir()) == []


def _serve_tinystories(server: FileServer, shards: dict[str, bytes]) -> None:
    for name, body in shards.items():
        server.files[f"/data/{name}"] = body


@pytest.fixture(scope="module")
def tinystories_shards() -> dict[str, bytes]:
    return {
        TINYSTORIES_TRAIN[0]: parquet_bytes(list(stories(5, 150))),
        TINYSTORIES_TRAIN[1]: parquet_bytes(list(stories(6, 150))),
        TINYSTORIES_VAL: parquet_bytes(list(stories(5, 40, "val"))),
    }


def _tree(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes()
    meta = json.loads(out.pop("tinystories/vocab300/meta.json"))
    for key in ("seconds", "tokenizer_seconds", "created_at"):
        meta.pop(key)
    meta["source"].pop("base_url")
    out["meta"] = json.dumps(meta, sort_keys=True).encode()
    return out


def test_tinystories_with_dropped_connections_equals_a_clean_download(
    server: FileServer, client: httpx.Client, tinystories_shards: dict[str, bytes], tmp_path: Path
) -> None:
    _serve_tinystories(server, tinystories_shards)
    options = {"vocab_size": 300, "num_shards": 2, "base_url": f"{server.url}/data/"}
    clean = prepare("tinystories", data_dir=tmp_path / "clean", client=client, **options)
    assert len(server.log) == 3 and all(r is None for _, r in server.log)

    server.log.clear()
    for name in (TINYSTORIES_TRAIN[1], TINYSTORIES_VAL):
        server.plans[f"/data/{name}"] = ["drop:2500"]
    said: list[str] = []
    sleeps = Sleeps()
    flaky = prepare(
        "tinystories",
        data_dir=tmp_path / "flaky",
        client=client,
        sleep=sleeps,
        progress=said.append,
        **options,
    )
    assert sorted(r for _, r in server.log if r) == ["bytes=2500-", "bytes=2500-"]
    assert sleeps == [1.0, 1.0]
    assert sum("retrying in 1 s from byte 2,500" in s for s in said) == 2
    assert _tree(tmp_path / "clean") == _tree(tmp_path / "flaky")
    download = tmp_path / "flaky" / "tinystories" / "download"
    assert {p.name: p.read_bytes() for p in download.iterdir()} == tinystories_shards
    assert flaky.meta()["splits"] == clean.meta()["splits"]
    assert flaky.meta()["splits"]["train"]["docs"] == 300

    # A second prepare needs no network.
    server.log.clear()
    said.clear()
    prepare(
        "tinystories", data_dir=tmp_path / "flaky", client=client, progress=said.append, **options
    )
    assert server.log == [] and said[0].startswith("already prepared")


def test_climbmix_fetches_its_train_shards_and_the_pinned_val_shard(
    server: FileServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.files["/shard_00000.parquet"] = parquet_bytes(list(stories(8, 100)))
    server.files[f"/shard_{CLIMBMIX_VAL_SHARD:05d}.parquet"] = parquet_bytes(
        list(stories(8, 30, "val"))
    )
    data = prepare(
        "climbmix",
        data_dir=tmp_path,
        vocab_size=280,
        num_shards=1,
        base_url=server.url,
        client=client,
    )
    assert sorted(p for p, _ in server.log) == ["/shard_00000.parquet", "/shard_06542.parquet"]
    assert data.meta()["splits"]["val"]["docs"] == 30


def test_a_missing_shard_fails_prepare_cleanly(
    server: FileServer, client: httpx.Client, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        prepare("climbmix", data_dir=tmp_path, num_shards=1, base_url=server.url, client=client)
    assert not (tmp_path / "climbmix" / "vocab8192").exists()
