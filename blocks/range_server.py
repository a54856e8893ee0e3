"""Serve registered local files over HTTP with Range support, for Frame.io to pull them.

Frame.io's remote upload fetches a URL ("Remote Upload" in
https://next.developer.frame.io/platform/docs/guides/how-to-upload). :class:`RangeServer` is that
URL's origin: Starlette's ``FileResponse`` (Range, HEAD, If-Range, 206/416, ETag and
Last-Modified are all Starlette's) under uvicorn on loopback, reached from outside through the
tunnel (:mod:`blocks.tunnel`).

* One file per URL, ``/f/<token>/<filename>``. The token is an HMAC-signed, expiring
  (``ttl_seconds``) random id (itsdangerous); it maps to an absolute path held in memory, so
  nothing from the request path ever reaches the filesystem and nothing is listed.
  Forged, tampered or expired token -> 403; validly signed but unknown or revoked -> 404.
* Only the file that was signed is served: registration records its device, inode, size and
  mtime (ns); each request opens the path with ``O_NOFOLLOW`` (a path swapped for a symlink
  fails to open) and ``fstat`` s the open file: another file at that path (a new inode), or
  the same file rewritten (size or mtime changed), answers 404. The response then reads from
  that very descriptor, so a swap between the check and the read changes nothing.
* Reads ``chunk_bytes`` at a time (1 MiB serves ~0.9x nginx; Starlette's 64 KiB ~0.2x) after a
  first read of 64 KiB, so the first byte of a cold file is not held up by a 1 MiB read;
  uvicorn waits for the socket to drain between chunks, so memory stays bounded per connection.
* A client that goes away mid-body is logged at INFO; every ``progress_log_bytes`` served
  per file gives one INFO line.
* ``/canary/<token>`` answers a named tunnel's start-up self-check (:mod:`blocks.tunnel_canary`):
  :meth:`RangeServer.canary_path` signs a token with the same key under its own salt (so it
  never opens a file, nor a file token a canary) and a short expiry (``CANARY_TTL_SECONDS``);
  a valid one is answered with this server's random :attr:`RangeServer.nonce`. Every canary
  answer, refusals included, carries the ``X-Postflow-Range-Server`` header, so the checker
  can tell "another PostFlow process answered" from "something else answered".

Example:
    >>> with RangeServer() as server:                                  # doctest: +SKIP
    ...     shared = server.share("/renders/SC01_UNDLM_00412_V002.mov")
    ...     httpx.get(shared.local_url, headers={"Range": "bytes=0-99"}).status_code
    206
"""

from __future__ import annotations

import errno
import mimetypes
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from urllib.parse import quote

import anyio
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from blocks.range_response import RangeFileResponse
from config.settings import PostflowSettings
from core.errors import SourceFileError
from core.logs import run_logger
from core.loopback import UvicornThread

__all__ = ["CANARY_HEADER", "CANARY_TTL_SECONDS", "RangeServer", "SharedFile"]

logger = run_logger("postflow.range_server")

_SALT = "postflow.range-server.v1"
_CANARY_SALT = "postflow.range-server.canary.v1"
CANARY_HEADER = "X-Postflow-Range-Server"  # on every canary answer, refusals included
CANARY_TTL_SECONDS = 30  # lifetime of a canary URL: a self-check fetches it at once
_NO_STORE = MappingProxyType(
    {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
)


@dataclass(frozen=True)
class SharedFile:
    """One registered file.

    Attributes:
        token: the signed token in its URL (pass it to :meth:`RangeServer.revoke`).
        path: absolute path of the served file.
        url_path: ``/f/<token>/<quoted filename>``; append it to a tunnel's public base URL.
        local_url: the loopback URL, e.g. ``http://127.0.0.1:54321/f/<token>/clip.mov``.
        expires_at: Unix time (seconds) after which the token is refused with 403.
    """

    token: str
    path: Path
    url_path: str
    local_url: str
    expires_at: float


@dataclass
class _Entry:
    path: Path
    name: str
    expires_at: float
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns at share()
    bytes_served: int = 0
    next_log_mark: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class RangeServer:
    """Serve registered files over HTTP on loopback (a context manager; see the module doc).

    Args:
        host: interface to bind (keep it loopback; the tunnel reaches it there).
        port: TCP port; 0 picks a free one.
        chunk_bytes: read size when serving, in bytes.
        secret: HMAC key for tokens; random per instance when None.
        ttl_seconds: lifetime of a token, in seconds.
        progress_log_bytes: log one INFO line per file every this many bytes served.
        clock: Unix time in seconds (injected for tests).

    Attributes:
        nonce: random text made for this instance (one Range server per process), given in
            the answer to a valid canary URL: it tells this process's server from another's.

    Raises:
        ValueError: ``chunk_bytes`` or ``ttl_seconds`` below 1.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        chunk_bytes: int = 1 << 20,
        secret: str | bytes | None = None,
        ttl_seconds: float = 4 * 3600,
        progress_log_bytes: int = 100 * 10**6,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if chunk_bytes < 1 or ttl_seconds < 1:
            raise ValueError("chunk_bytes and ttl_seconds must be >= 1")
        self.chunk_bytes = chunk_bytes
        self.ttl_seconds = ttl_seconds
        self.progress_log_bytes = progress_log_bytes
        self._clock = clock
        key, signer = secret or secrets.token_bytes(32), _clock_signer(clock)
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT, signer=signer)
        self._canary_serializer = URLSafeTimedSerializer(key, salt=_CANARY_SALT, signer=signer)
        self.nonce = secrets.token_urlsafe(16)
        self._shares: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._counters = {"requests": 0, "partial_responses": 0, "refused": 0, "bytes_served": 0}
        routes = [
            Route("/f/{token}/{filename}", self._serve, methods=["GET"]),
            Route("/canary/{token}", self._canary, methods=["GET"]),
        ]
        app = Starlette(routes=routes)
        self._thread = UvicornThread(app, host, port)

    @classmethod
    def from_settings(cls, settings: PostflowSettings) -> RangeServer:
        """A server configured from ``range_server_*``, ``range_chunk_bytes``, ``share_*``."""
        secret = settings.share_secret.get_secret_value() if settings.share_secret else None
        return cls(
            settings.range_server_host,
            settings.range_server_port,
            chunk_bytes=settings.range_chunk_bytes,
            secret=secret,
            ttl_seconds=settings.share_token_ttl_seconds,
            progress_log_bytes=settings.upload_progress_log_bytes,
        )

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> RangeServer:
        """Start serving in a background thread; returns self.

        Raises:
            OSError: the address cannot be bound.
        """
        self._thread.start()
        logger.info("range server listening on %s (chunk %d bytes)", self.url, self.chunk_bytes)
        return self

    def stop(self) -> None:
        """Stop serving and forget every share. Idempotent."""
        self._thread.stop()
        with self._lock:
            self._shares.clear()

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return self._thread.url

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._thread.port

    # --- registration --------------------------------------------------------------------------
    def share(self, path: str | os.PathLike[str]) -> SharedFile:
        """Register one regular file and return its URL.

        The file's identity (device, inode, size, mtime) is recorded: its URL serves that file
        only, never whatever later takes its path (see the module docstring).

        Raises:
            SourceFileError: the path is not an existing regular file.
        """
        absolute = Path(path).resolve()
        try:
            fd, info = _open_regular(absolute)
        except OSError as exc:
            raise SourceFileError(str(path), "not a regular file; cannot share it") from exc
        os.close(fd)
        token = self._serializer.dumps(secrets.token_urlsafe(12))
        now = self._clock()
        entry = _Entry(absolute, absolute.name, now + self.ttl_seconds, _identity(info))
        entry.next_log_mark = self.progress_log_bytes
        with self._lock:
            for old in [t for t, e in self._shares.items() if e.expires_at < now]:
                del self._shares[old]
            self._shares[token] = entry
        url_path = f"/f/{token}/{quote(absolute.name)}"
        return SharedFile(token, absolute, url_path, self.url + url_path, entry.expires_at)

    def revoke(self, token: str) -> None:
        """Forget a share: its URL answers 404 from now on. Unknown tokens are ignored."""
        with self._lock:
            entry = self._shares.pop(token, None)
        if entry is not None:
            logger.debug("revoked %s after %d bytes served", entry.name, entry.bytes_served)

    def bytes_served(self, token: str) -> int:
        """Body bytes sent so far for one share (0 when unknown)."""
        with self._lock:
            entry = self._shares.get(token)
        return entry.bytes_served if entry is not None else 0

    def stats(self) -> dict[str, int]:
        """Counters: ``requests``, ``partial_responses`` (206), ``refused`` (403/404),
        ``bytes_served`` (body bytes, all files) and ``active_shares``."""
        with self._lock:
            return {**self._counters, "active_shares": len(self._shares)}

    def canary_path(self) -> str:
        """A fresh ``/canary/<token>`` path, valid ``CANARY_TTL_SECONDS``: fetched through the
        tunnel, it must answer ``{"nonce": <this server's nonce>}``."""
        return f"/canary/{self._canary_serializer.dumps(secrets.token_urlsafe(8))}"

    # --- serving ---------------------------------------------------------------------------------
    async def _canary(self, request: Request) -> Response:
        headers = {**_NO_STORE, CANARY_HEADER: "canary"}
        try:
            self._canary_serializer.loads(request.path_params["token"], max_age=CANARY_TTL_SECONDS)
        except BadSignature:  # SignatureExpired included
            return PlainTextResponse("invalid canary", status_code=403, headers=headers)
        return JSONResponse({"nonce": self.nonce}, headers=headers)

    def _lookup(self, token: str, filename: str) -> _Entry | Response:
        try:
            # itsdangerous ages are whole seconds, so `age > 1.5` is `age > 1`
            self._serializer.loads(token, max_age=int(self.ttl_seconds))
        except SignatureExpired:
            return self._refuse(403, "link expired")
        except BadSignature:
            return self._refuse(403, "invalid link")
        with self._lock:
            entry = self._shares.get(token)
        if entry is None or entry.name != filename:
            return self._refuse(404, "not found")
        return entry

    def _refuse(self, status: int, text: str) -> Response:
        self._counters["refused"] += 1
        return PlainTextResponse(text, status_code=status, headers=_NO_STORE)

    async def _serve(self, request: Request) -> Response:
        self._counters["requests"] += 1
        found = self._lookup(request.path_params["token"], request.path_params["filename"])
        if isinstance(found, Response):
            return found
        try:
            fd, stat_result = await anyio.to_thread.run_sync(_open_regular, found.path)
        except OSError:
            return self._refuse(404, "file no longer exists")
        if _identity(stat_result) != found.identity:
            os.close(fd)
            logger.warning("not serving %s: it is not the file that was shared", found.name)
            return self._refuse(404, "file changed since it was shared")
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return RangeFileResponse(
            found.path,
            file_descriptor=fd,
            chunk_bytes=self.chunk_bytes,
            on_bytes=lambda n: self._count(found, n),
            on_status=self._count_status,
            stat_result=stat_result,
            media_type=media_type,
            headers=_NO_STORE,
        )

    def _count_status(self, status: int) -> None:
        if status == 206:
            self._counters["partial_responses"] += 1

    def _count(self, entry: _Entry, size: int) -> None:
        self._counters["bytes_served"] += size
        with entry.lock:
            entry.bytes_served += size
            served = entry.bytes_served
            crossed = served >= entry.next_log_mark
            if crossed:
                every = self.progress_log_bytes
                entry.next_log_mark = (served // every + 1) * every
        if crossed:
            logger.info("served %d MB of %s", served // 10**6, entry.name)


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only without following a final symlink; return the fd and its fstat.

    ``O_NONBLOCK`` keeps a FIFO swapped in from blocking the open.

    Raises:
        OSError: missing, a symlink (``ELOOP``), or not a regular file (``EINVAL``).
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _clock_signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    """A ``TimestampSigner`` whose notion of now is ``clock`` (signing and max_age checks)."""

    class _Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return _Signer
