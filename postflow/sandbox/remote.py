"""Remote upload: the sandbox pulls `source_url` itself, as Frame.io does (notes §3b).

`POST .../files/remote_upload` creates a file with no upload parts (status "created",
`file_size` 0 until the source's size is known) and hands `(file_id, source_url)` to
`RemotePuller`, which fetches it in a background thread like a resuming HTTP puller:

1. `HEAD` for `Content-Length`, `Accept-Ranges` and a validator (`ETag`, else `Last-Modified`);
   a source above the 50 GB remote-upload cap, or a HEAD that is not 200, fails the upload;
2. ranged `GET`s of `chunk_bytes` each (`Range` + `If-Range`), streamed to the file's blob at
   their offsets; a source without `Accept-Ranges: bytes` gets one plain GET;
3. a dropped connection, a timeout, a 429 or a 5xx resumes with a `Range` from the byte where it
   stopped, at most `resume_attempts` times in all (backoff doubling from `backoff_seconds`);
   another 4xx, or a 200 to a resumed request (the source changed), fails at once;
4. then the file is complete (`upload_complete: true`); on failure `upload_failed: true`.

A file deleted while it is being pulled stops its pull quietly. State is in memory: after a
sandbox restart, a remote file that never completed reports `upload_failed`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

import httpx

from postflow.sandbox.records import AssetNotFound, StoreError

if TYPE_CHECKING:
    from postflow.sandbox.store import Asset, AssetStore

__all__ = ["REMOTE_UPLOAD_MAX_BYTES", "RemotePullConfig", "RemotePuller", "valid_source_url"]

logger = logging.getLogger("postflow.sandbox.remote")

REMOTE_UPLOAD_MAX_BYTES = 50 * 10**9  # Frame.io's remote-upload cap
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class PullFailed(Exception):
    """The source cannot be pulled; the message is the reason."""


class _Resumable(Exception):
    """A failure worth resuming from `offset`, the first byte not yet stored."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def valid_source_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL with a host."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass
class RemotePullConfig:
    """How the sandbox pulls (mutable at runtime: `sandbox.state.remote.config`).

    Attributes:
        chunk_bytes: bytes per ranged GET.
        resume_attempts: resumes allowed per file after drops, timeouts, 429s and 5xx.
        backoff_seconds: delay before the first resume; doubles each time.
        timeout_seconds: connect/read timeout of each request.
    """

    chunk_bytes: int = 8 * 1024 * 1024
    resume_attempts: int = 3
    backoff_seconds: float = 0.25
    timeout_seconds: float = 30.0


class RemotePuller:
    """Background pulls of remote uploads, one thread per file.

    Args:
        assets: the asset store (file rows and blobs).
        config: pull tunables.
    """

    def __init__(self, assets: AssetStore, config: RemotePullConfig | None = None) -> None:
        self.assets = assets
        self.config = config or RemotePullConfig()
        self._lock = threading.Lock()
        self._active: dict[str, threading.Thread] = {}
        self._failed: dict[str, str] = {}
        self._stop = threading.Event()
        self._counters = {"pulls": 0, "requests": 0, "resumes": 0, "completed": 0, "failed": 0}

    @property
    def counters(self) -> dict[str, int]:
        """Copy of the counters: pulls, requests (HEAD + GET), resumes, completed, failed."""
        with self._lock:
            return dict(self._counters)

    def _bump(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def forget(self) -> None:
        """Zero the counters and forget failure reasons (sandbox reset)."""
        with self._lock:
            self._failed.clear()
            self._counters = dict.fromkeys(self._counters, 0)

    def start(self, file_id: str, source_url: str) -> None:
        """Begin pulling `source_url` into file `file_id` (returns at once)."""
        thread = threading.Thread(
            target=self._run, args=(file_id, source_url), name=f"pull-{file_id[:8]}", daemon=True
        )
        with self._lock:
            self._active[file_id] = thread
            self._counters["pulls"] += 1
        thread.start()

    def upload_failed(self, asset: Asset) -> bool:
        """Frame.io's `upload_failed` for a file: its pull failed, or a remote file (no parts)
        is incomplete and nobody is pulling it any more."""
        if asset.upload_completed_at is not None:
            return False
        with self._lock:
            if asset.id in self._failed:
                return True
            if asset.id in self._active:
                return False
        return not self.assets.parts(asset.id)

    def failure_reason(self, file_id: str) -> str | None:
        """Why the pull of a file failed, or None."""
        with self._lock:
            return self._failed.get(file_id)

    def close(self, timeout_seconds: float = 2.0) -> None:
        """Ask every pull to stop and wait briefly for them."""
        self._stop.set()
        with self._lock:
            threads = list(self._active.values())
        for thread in threads:
            thread.join(timeout_seconds)

    # --- the pull ------------------------------------------------------------------------------
    def _run(self, file_id: str, url: str) -> None:
        try:
            self._pull(file_id, url)
            self.assets.complete_upload(file_id)
            self._bump("completed")
        except PullFailed as exc:
            with self._lock:
                self._failed[file_id] = str(exc)
            self._bump("failed")
            logger.info("remote upload of %s failed: %s", file_id, exc)
        except (AssetNotFound, StoreError):
            logger.info("remote upload of %s stopped: the file was deleted", file_id)
        except Exception as exc:  # noqa: BLE001 - a dying sandbox (closed db) or a bug
            with self._lock:
                self._failed[file_id] = f"internal error: {exc}"
            logger.debug("remote upload of %s aborted", file_id, exc_info=True)
        finally:
            with self._lock:
                self._active.pop(file_id, None)

    def _pull(self, file_id: str, url: str) -> None:
        config = self.config
        timeout = httpx.Timeout(config.timeout_seconds)
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=True) as client:
            size, ranged, validator = self._probe(client, url)
            self.assets.set_file_size(file_id, size)
            offset, resumes = 0, 0
            with self.assets.blob_path(file_id).open("r+b") as blob:
                while offset < size:
                    if self._stop.is_set():
                        raise PullFailed("sandbox shutting down")
                    self.assets.require(file_id, "file")  # deleted meanwhile -> AssetNotFound
                    end = min(offset + config.chunk_bytes, size) if ranged else size
                    try:
                        offset = self._fetch(client, url, blob, offset, end, size, validator)
                    except _Resumable as exc:
                        resumes += 1
                        self._bump("resumes")
                        if resumes > config.resume_attempts:
                            raise PullFailed(f"gave up after {resumes - 1} resumes: {exc}") from exc
                        offset = exc.offset if ranged else 0
                        if self._stop.wait(config.backoff_seconds * 2 ** (resumes - 1)):
                            raise PullFailed("sandbox shutting down") from exc

    def _probe(self, client: httpx.Client, url: str) -> tuple[int, bool, str | None]:
        try:
            head = client.head(url)
        except httpx.HTTPError as exc:
            raise PullFailed(f"HEAD {url} failed: {exc!r}") from exc
        self._bump("requests")
        length = head.headers.get("content-length", "")
        if head.status_code != 200 or not length.isdigit():
            raise PullFailed(f"HEAD answered {head.status_code} without a usable Content-Length")
        size = int(length)
        if size > REMOTE_UPLOAD_MAX_BYTES:
            raise PullFailed(f"{size} bytes exceeds the 50 GB remote upload limit")
        ranged = head.headers.get("accept-ranges", "").lower() == "bytes"
        etag = head.headers.get("etag")
        strong = etag if etag and not etag.startswith("W/") else None
        validator = strong or head.headers.get("last-modified")
        return size, ranged, validator

    def _fetch(
        self,
        client: httpx.Client,
        url: str,
        blob: BinaryIO,
        offset: int,
        end: int,
        size: int,
        validator: str | None,
    ) -> int:
        """GET bytes [offset, end) into the blob; returns the new offset.

        Raises:
            _Resumable: drops, timeouts, 429 and 5xx (with the offset reached).
            PullFailed: any other answer.
        """
        headers = {}
        if end - offset < size:
            headers["Range"] = f"bytes={offset}-{end - 1}"
            if validator:
                headers["If-Range"] = validator
        self._bump("requests")
        try:
            with client.stream("GET", url, headers=headers) as response:
                self._check(response, offset, headers)
                blob.seek(offset)
                for chunk in response.iter_bytes(1 << 20):
                    blob.write(chunk)
                    offset += len(chunk)
        except httpx.TransportError as exc:
            raise _Resumable(f"{type(exc).__name__}: {exc}", offset) from exc
        if offset != end:
            raise _Resumable(f"short body: got to byte {offset} of {end}", offset)
        return offset

    @staticmethod
    def _check(response: httpx.Response, offset: int, headers: dict[str, str]) -> None:
        status = response.status_code
        if status in _RETRY_STATUSES:
            raise _Resumable(f"source answered {status}", offset)
        if "Range" in headers and status == 200:
            raise PullFailed("source changed while pulling (If-Range answered 200)")
        expected = 206 if "Range" in headers else 200
        if status != expected:
            raise PullFailed(f"source answered {status} to GET")
        if expected == 206:
            content_range = response.headers.get("content-range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                raise PullFailed(f"unexpected Content-Range {content_range!r} for offset {offset}")
