"""Downloading shards over HTTP: retries with backoff, resume, size checks, atomic rename.

A file is downloaded into ``<name>.part``. When a connection drops, the next
attempt asks for the rest with ``Range: bytes=<size of .part>-`` and appends;
a server that ignores the range (200 instead of 206) restarts the file. The
size announced by the server (``Content-Length``, or the total of
``Content-Range``) is checked at the end, and only a complete file is renamed
to its final name, so a file under its final name is always whole. A second
download of a file that exists does nothing and needs no network.

Failures that may pass (connection errors, time-outs, an incomplete body,
HTTP 408, 429 and 5xx) are retried after ``backoff_s * 2**k`` seconds; an
attempt that brings new bytes resets the count. Other HTTP errors (404, 403)
fail at once.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import attrs
import httpx

from hpdream_runner.data._exceptions import DownloadError

#: HTTP statuses worth another try.
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@attrs.frozen
class DownloadPolicy:
    """How hard to try: attempts without progress, backoff, time-outs, parallel files."""

    #: Consecutive attempts that bring no new bytes before giving up.
    retries: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    #: First wait between attempts, doubled after each failed attempt.
    backoff_s: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    #: Longest wait between attempts.
    max_backoff_s: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    #: Seconds to wait for a connection or for the next bytes.
    timeout_s: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    #: Files downloaded at the same time.
    workers: int = attrs.field(default=4, validator=attrs.validators.ge(1))


class _Retry(Exception):
    """An attempt failed in a way worth retrying."""


def _check_magic(path: Path, magic: bytes | None) -> None:
    if magic is None:
        return
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(len(magic))
        f.seek(max(0, size - len(magic)))
        tail = f.read(len(magic))
    if size < 2 * len(magic) or head != magic or tail != magic:
        raise DownloadError(
            f"{path.name}: the downloaded file does not start and end with {magic!r}; "
            "it is not the expected format (removed; check the URL)"
        )


def _expected_total(response: httpx.Response, offset: int) -> tuple[int, int | None]:
    """(offset the body starts at, total size or None) from a 200 or 206 response."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if not match or int(match.group(1)) != offset:
            raise _Retry(
                f"bad Content-Range {response.headers.get('content-range')!r} for a request "
                f"from byte {offset}"
            )
        total = None if match.group(3) == "*" else int(match.group(3))
        return offset, total
    length = response.headers.get("content-length")
    return 0, int(length) if length is not None and length.isdigit() else None


def download_file(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    policy: DownloadPolicy | None = None,
    magic: bytes | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> bool:
    """Download ``url`` to ``dest`` (see the module docstring); False if it already existed.

    ``magic``: bytes the file must start and end with (``b"PAR1"`` for parquet).
    """
    policy = policy or DownloadPolicy()
    if dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = 0
    last_error = ""
    while True:
        offset = part.stat().st_size if part.exists() else 0
        try:
            done = _attempt(client, url, part, offset, policy)
        except _Retry as exc:
            done = False
            last_error = str(exc)
        except httpx.TransportError as exc:
            done = False
            last_error = f"{type(exc).__name__}: {exc}"
        if done:
            break
        now = part.stat().st_size if part.exists() else 0
        failures = 1 if now > offset else failures + 1
        if failures > policy.retries:
            raise DownloadError(
                f"{url}: gave up after {policy.retries} attempts without progress "
                f"({now:,} bytes in {part}); last error: {last_error}"
            )
        wait = min(policy.max_backoff_s, policy.backoff_s * 2 ** (failures - 1))
        if progress is not None:
            progress(f"  {dest.name}: {last_error}; retrying in {wait:g} s from byte {now:,}")
        sleep(wait)
    try:
        _check_magic(part, magic)
    except DownloadError:
        part.unlink()
        raise
    os.replace(part, dest)
    return True


def _attempt(
    client: httpx.Client, url: str, part: Path, offset: int, policy: DownloadPolicy
) -> bool:
    """One request; True when ``part`` holds the whole file."""
    # Identity encoding: ranges count the file's own bytes, which iter_raw writes as they come.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with client.stream(
        "GET", url, headers=headers, follow_redirects=True, timeout=policy.timeout_s
    ) as response:
        status = response.status_code
        if status == 416 and offset:
            # The .part is as long as the file or longer: start again.
            part.unlink()
            raise _Retry("the server refused the range (HTTP 416); restarting the file")
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status}")
        if status not in (200, 206):
            raise DownloadError(f"{url}: HTTP {status} {response.reason_phrase}")
        start, total = _expected_total(response, offset)
        with open(part, "r+b" if start and part.exists() else "wb") as f:
            f.seek(start)
            f.truncate()
            for chunk in response.iter_raw():
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        size = part.stat().st_size
    if total is None:
        return True
    if size < total:
        raise _Retry(f"the connection ended at byte {size:,} of {total:,}")
    if size > total:
        part.unlink()
        raise _Retry(f"got {size:,} bytes, more than the announced {total:,}; restarting")
    return True


def download_files(
    client: httpx.Client,
    files: Sequence[tuple[str, Path]],
    *,
    policy: DownloadPolicy | None = None,
    magic: bytes | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Download ``(url, dest)`` pairs, ``policy.workers`` at a time; the number downloaded.

    Every file is tried; the first error is raised once all have finished.
    """
    policy = policy or DownloadPolicy()
    lock = threading.Lock()

    def say(message: str) -> None:
        if progress is not None:
            with lock:
                progress(message)

    def one(item: tuple[str, Path]) -> bool:
        url, dest = item
        if dest.exists():
            return False
        started = time.perf_counter()
        fetched = download_file(
            client, url, dest, policy=policy, magic=magic, sleep=sleep, progress=say
        )
        if fetched:
            seconds = time.perf_counter() - started
            size = dest.stat().st_size
            say(f"  downloaded {dest.name}: {size / 1e6:,.1f} MB in {seconds:.1f} s")
        return fetched

    missing = [item for item in files if not item[1].exists()]
    if not missing:
        return 0
    say(f"downloading {len(missing)} of {len(files)} files to {missing[0][1].parent}")
    errors: list[BaseException] = []
    count = 0
    with ThreadPoolExecutor(max_workers=min(policy.workers, len(missing))) as pool:
        futures = [pool.submit(one, item) for item in missing]
        for future in futures:
            exc = future.exception()
            if exc is not None:
                errors.append(exc)
            elif future.result():
                count += 1
    if errors:
        raise errors[0]
    return count
