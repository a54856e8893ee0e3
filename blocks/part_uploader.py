"""Our streaming uploader for the part PUTs of a Frame.io local (multipart) upload.

Why not the SDK's ``FrameioUploader``: measured here it buffers each whole part in memory
(0.6-1.6 GB RSS for a 1 GiB file, measured with ``benchmarks/upload_benchmark.py``) and
ignores each URL's own ``size``. This uploader:

* PUTs each part's byte range straight from the file (``os.preadv`` in ``block_bytes``
  blocks, into buffers shared with the fingerprint), so memory is about ``concurrency x
  block_bytes`` whatever the file size, plus the fingerprint's read-ahead buffer;
* writes each block to the socket as it was read (:mod:`blocks.put_transport`; httpx's own
  transport copies every chunk once more);
* uses ``upload_urls[i].size`` as part *i*'s length, with an explicit ``Content-Length``
  (pre-signed S3 PUTs refuse chunked transfer encoding);
* sends ``x-amz-acl: private`` and ``Content-Type: <media_type from the create answer>`` on
  every part, and no Authorization header (the URL is pre-signed); Frame.io "How to: Upload":
  https://developer.adobe.com/frameio/guides/Authorization%20to%20File%20Upload;
* retries a failed part on its own (network errors, 429, 5xx; exponential backoff with jitter,
  honouring ``Retry-After`` read by :func:`blocks.retry_after.parse_retry_after`); a 4xx such
  as 403 (expired or mismatched signature) fails fast;
* reports progress in bytes through a callback (rolled back if a part is retried);
* hashes what it reads, in the same read: each part's XXH3-128 (handed to ``on_part_done``,
  for the upload's checkpoint) and, through :class:`blocks.stream_digest.OrderedDigest`, the
  whole file's XXH3-128; a part starts only once its bytes fit in that digest's read-ahead
  buffer (:meth:`~blocks.stream_digest.OrderedDigest.wait_for_room`), so a lagging first
  part never makes the later ones read past it and a byte read twice;
* on a resumed upload, skips the PUTs of the parts already stored (``done``): their ranges are
  read once for the whole file's hash, and must still hash to the recorded part digest.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, cast

import httpx
import xxhash

from blocks.call_timing import UPLOAD_PART, TimedTransport
from blocks.put_transport import StreamingPutTransport
from blocks.retry_after import parse_retry_after
from blocks.stream_digest import OrderedDigest
from core.errors import PartUploadError, SourceFileError, UploadError

ProgressCallback = Callable[[int], None]
PartDone = Callable[[int, str], None]
"""Called with (part number, the part's XXH3-128 hex) once storage accepted the part."""


@dataclass(frozen=True)
class Part:
    """One part of a multipart upload.

    Attributes:
        number: 1-based part number.
        offset: first byte of the part in the file.
        size: length in bytes (the URL's own ``size``).
        url: the pre-signed PUT URL (never logged: it is a credential).
    """

    number: int
    offset: int
    size: int
    url: str


def plan_parts(upload_urls: Sequence[Any], file_size: int) -> list[Part]:
    """Lay the ``upload_urls`` (objects or dicts with ``size`` and ``url``) over the file.

    Raises:
        UploadError: no URLs, or their sizes do not add up to ``file_size``.
    """
    parts: list[Part] = []
    offset = 0
    for number, item in enumerate(upload_urls, start=1):
        size = int(item["size"] if isinstance(item, dict) else item.size)
        url = str(item["url"] if isinstance(item, dict) else item.url)
        parts.append(Part(number, offset, size, url))
        offset += size
    if not parts or offset != file_size:
        raise UploadError(
            f"Frame.io returned {len(parts)} upload URLs covering {offset} bytes for a "
            f"{file_size}-byte file; cannot upload"
        )
    return parts


class _Stopped(Exception):
    """Another part failed; stop streaming this one."""


class PartUploader:
    """Upload the parts of one file concurrently with bounded memory.

    Args:
        concurrency: part PUTs in flight.
        block_bytes: read size per ``pread``; memory is about ``concurrency x block_bytes``.
        retries: retries per part for transient failures.
        backoff_seconds: first retry delay; doubles per retry, +-25 % jitter.
        max_retry_after_seconds: cap on a ``Retry-After`` we wait for.
        timeout_seconds: connect/read/write timeout per request.
        progress: called with a byte delta as blocks are sent (negative when a part restarts).
        sleep: injected for tests.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).

    Attributes:
        retried_parts: part PUTs that had to be retried.
        bytes_read: bytes read from the source by the parts (a retried part's twice).
    """

    def __init__(
        self,
        *,
        concurrency: int = 4,
        block_bytes: int = 1 << 20,
        retries: int = 5,
        backoff_seconds: float = 1.0,
        max_retry_after_seconds: float = 120.0,
        timeout_seconds: float = 120.0,
        progress: ProgressCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.transport = transport
        self.concurrency = concurrency
        self.block_bytes = block_bytes
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.timeout = httpx.Timeout(timeout_seconds, connect=min(30.0, timeout_seconds))
        self.progress = progress or (lambda _delta: None)
        self.sleep = sleep
        self.retried_parts = 0
        self.bytes_read = 0
        self._count_lock = threading.Lock()
        self._cancel = threading.Event()
        self._path = ""

    def upload(
        self,
        path: str,
        parts: Sequence[Part],
        content_type: str,
        *,
        digest: OrderedDigest | None = None,
        done: Mapping[int, str] | None = None,
        on_part_done: PartDone | None = None,
    ) -> None:
        """PUT every part of ``path`` not in ``done``; returns when all are stored.

        Args:
            path: the source file.
            parts: the parts as laid over the file (:func:`plan_parts`), in file order.
            content_type: the ``Content-Type`` of every PUT (Frame.io's ``media_type``).
            digest: fed every byte read, in file order, for the whole file's XXH3-128.
            done: part number -> XXH3-128 hex of the parts already stored (a resumed upload):
                not sent again, only read for ``digest`` when it is given.
            on_part_done: called from a worker thread with (part number, XXH3-128 hex) as each
                part is stored.

        Raises:
            PartUploadError: a part failed permanently, ran out of retries, or its URL expired.
            SourceFileError: the file became shorter than the planned parts, or a stored
                part's bytes no longer hash to the recorded digest.
        """
        self._path = path
        done = done or {}
        fd = os.open(path, os.O_RDONLY)
        try:
            with (
                httpx.Client(
                    timeout=self.timeout,
                    transport=TimedTransport(self._inner_transport(), "upload", UPLOAD_PART),
                ) as client,
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="part-put") as pool,
            ):
                futures: list[Future[Any]] = []
                for part in parts:  # in file order: the digest's frontier part always runs
                    if part.number in done:
                        if digest is not None:
                            futures.append(
                                pool.submit(self._reread, fd, part, done[part.number], digest)
                            )
                        continue
                    futures.append(
                        pool.submit(self._put, client, fd, part, content_type, digest, on_part_done)
                    )
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in finished if f.exception() is not None]
                if failed:
                    self._cancel.set()
                    for future in futures:
                        future.cancel()
                    errors = [f.exception() for f in failed]
                    raise next((e for e in errors if not isinstance(e, _Stopped)), errors[0])  # type: ignore[misc]
        finally:
            os.close(fd)

    def _inner_transport(self) -> httpx.BaseTransport:
        """The injected transport, else ours, which writes each block as it was read
        (:mod:`blocks.put_transport`); a connection per part in flight."""
        return self.transport or StreamingPutTransport()

    def _blocks(
        self,
        fd: int,
        part: Part,
        sent: list[int],
        part_hash: Any,
        digest: OrderedDigest | None,
        progress: ProgressCallback,
    ) -> Iterator[bytes | memoryview]:
        """Read ``part``'s range in ``block_bytes`` blocks, hashing each as it goes."""
        offset, remaining = part.offset, part.size
        while remaining:
            if self._cancel.is_set():
                raise _Stopped()
            want = min(self.block_bytes, remaining)
            lease = digest.lease(offset, want) if digest is not None else None
            fed = False
            try:
                chunk: bytes | memoryview
                if lease is not None:  # read into the buffer it shares with the fingerprint
                    chunk = lease.view[: os.preadv(fd, [lease.view], offset)]
                else:
                    chunk = os.pread(fd, want, offset)
                if not chunk:
                    raise SourceFileError(
                        self._path,
                        f"file ended at byte {offset}, expected {part.offset + part.size}",
                    )
                part_hash.update(chunk)
                if digest is not None:
                    digest.feed(offset, chunk, lease)  # the digest's hold on the lease
                    fed = True
                offset += len(chunk)
                remaining -= len(chunk)
                sent[0] += len(chunk)
                with self._count_lock:
                    self.bytes_read += len(chunk)
                progress(len(chunk))
                # Valid until the next block is asked for: the transport writes each chunk
                # (or, httpx's own, copies it) before it asks for the next.
                yield chunk
            finally:
                if lease is not None and digest is not None:
                    if fed:
                        lease.release()  # the PUT's hold (the digest releases its own)
                    else:
                        digest.forget(lease)  # never fed: the read failed

    def _reread(self, fd: int, part: Part, recorded: str, digest: OrderedDigest) -> None:
        """Read a part stored by an earlier attempt, for the whole file's digest only.

        Raises:
            SourceFileError: its bytes no longer hash to ``recorded`` ("" when unknown), or
                the file is short.
        """
        if not digest.wait_for_room(part.offset, part.offset + part.size, self._cancel):
            raise _Stopped()
        part_hash = xxhash.xxh3_128()
        for _ in self._blocks(fd, part, [0], part_hash, digest, lambda _delta: None):
            pass
        if recorded and part_hash.hexdigest() != recorded:
            raise SourceFileError(
                self._path, f"part {part.number} differs from the one already sent"
            )

    def _put(
        self,
        client: httpx.Client,
        fd: int,
        part: Part,
        content_type: str,
        digest: OrderedDigest | None,
        on_part_done: PartDone | None,
    ) -> str:
        headers = {
            "Content-Length": str(part.size),
            "Content-Type": content_type,
            "x-amz-acl": "private",
        }
        end = part.offset + part.size
        if digest is not None and not digest.wait_for_room(part.offset, end, self._cancel):
            raise _Stopped()  # the upload failed while this part waited to start
        for attempt in range(self.retries + 1):
            sent = [0]
            part_hash = xxhash.xxh3_128()
            blocks = self._blocks(fd, part, sent, part_hash, digest, self.progress)
            try:
                # memoryview chunks are bytes-like: the transport writes them as they come
                body = cast(Iterator[bytes], blocks)
                response = client.put(part.url, content=body, headers=headers)
            except _Stopped:
                self.progress(-sent[0])
                raise
            except httpx.TransportError as exc:
                error = PartUploadError(part.number, f"network error: {type(exc).__name__}")
            else:
                if response.status_code < 300:
                    if on_part_done is not None:
                        on_part_done(part.number, part_hash.hexdigest())
                    return str(response.headers.get("etag", ""))
                error = _refusal(part.number, response)
            self.progress(-sent[0])
            if not error.transient or error.expired or attempt == self.retries:
                raise error
            if self._cancel.is_set():
                raise _Stopped()
            self.retried_parts += 1
            delay = self.backoff_seconds * 2**attempt * (1 + random.uniform(-0.25, 0.25))
            if error.retry_after_seconds is not None:
                delay = max(delay, min(error.retry_after_seconds, self.max_retry_after_seconds))
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _refusal(part_number: int, response: httpx.Response) -> PartUploadError:
    """The error for a part PUT storage refused; S3's expired-URL answer is told apart by its
    XML (403, ``<Code>AccessDenied</Code>``, ``<Message>Request has expired</Message>``),
    never by the status alone: a 403 also means a bad signature or a missing permission."""
    body = response.text[:2000]
    expired = (
        response.status_code == 403
        and "<Code>AccessDenied</Code>" in body
        and "Request has expired" in body
    )
    reason = "its pre-signed URL expired" if expired else body[:200]
    return PartUploadError(
        part_number,
        f"storage answered HTTP {response.status_code}: {reason}",
        status_code=response.status_code,
        retry_after_seconds=parse_retry_after(response.headers),
        expired=expired,
    )
