"""The whole file's XXH3-128, hashed in file order from the blocks the part PUTs read.

The part PUTs of a multipart upload read their byte ranges concurrently (part *k* and the
next few are in flight at once), but XXH3-128 is a sequential hash: its state after byte *n*
needs every byte before *n*. :class:`OrderedDigest` takes each block as a part reads it
(``feed(offset, block)``):

* a block at the hash's frontier (``offset <= position``) is hashed at once, then every
  buffered block that now follows on;
* a block ahead of the frontier is kept in memory until the frontier reaches it, up to
  ``buffer_bytes`` in all. Past that it is dropped, and read again from the file when the
  frontier reaches it (counted in :attr:`OrderedDigest.reread_bytes`).

No part ever waits for the hash: a PUT held open mid-body would risk S3's idle timeout
(``RequestTimeout``). So each byte is read from the source once, for both the PUT and the
fingerprint (on LucidLink a byte not in the local cache is a download from the filespace),
as long as the buffer holds what the parts read ahead of the frontier: with ``c`` parts in
flight of ``P`` bytes each, that is about ``(c - 1) x P``. A part that is retried reads its
range again; bytes already hashed are skipped, so the digest is unchanged.

The digest is the standard XXH3-128 of the file (``xxhsum -H2``; ASC MHL's ``xxh128``), so any
tool can check it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import xxhash

__all__ = ["OrderedDigest"]

_Work = memoryview | tuple[int, int]  # bytes to hash, or an (offset, length) to read again
Reader = Callable[[int, int], bytes]
"""``(offset, length) -> bytes`` read from the source (``os.pread``)."""


class OrderedDigest:
    """XXH3-128 of ``size_bytes`` bytes fed in any order (see the module doc).

    Args:
        size_bytes: the file's size in bytes.
        buffer_bytes: the most bytes held ahead of the frontier; more are dropped and re-read.
        reader: reads a dropped range again when the frontier reaches it.

    Attributes:
        position: bytes hashed so far (the frontier), in bytes.
        reread_bytes: bytes read a second time because the buffer was full.

    Thread-safe: every part thread calls :meth:`feed`.
    """

    def __init__(self, size_bytes: int, buffer_bytes: int, reader: Reader) -> None:
        self.size_bytes = size_bytes
        self.buffer_bytes = buffer_bytes
        self.reader = reader
        self.position = 0
        self.reread_bytes = 0
        self._hash = xxhash.xxh3_128()
        self._pending: dict[int, bytes] = {}
        self._dropped: dict[int, int] = {}  # offset -> length of blocks read but not kept
        self._buffered = 0
        self._hashing = False  # one thread hashes at a time, outside the lock
        self._broken = False
        self._lock = threading.Lock()

    def feed(self, offset: int, block: bytes) -> None:
        """Take ``block``, the file's bytes from ``offset``; never waits for other parts.

        The thread whose block reaches the frontier hashes it, and what follows on, outside
        the lock, so the other parts only ever wait to buffer a block.

        Raises:
            OSError: re-reading a dropped range failed (see ``reader``).
        """
        with self._lock:
            if offset + len(block) <= self.position:
                return  # a retried part re-read bytes already hashed
            if offset > self.position or self._hashing:
                self._keep(offset, block)
                return
            self._hashing = True
            work: list[_Work] = [memoryview(block)[self.position - offset :]]
            self.position = offset + len(block)
            work += self._following()
        while True:
            self._hash_all(work)
            with self._lock:
                work = self._following()
                if not work:
                    self._hashing = False
                    return

    def _keep(self, offset: int, block: bytes) -> None:
        """Buffer a block ahead of the frontier, or drop it past ``buffer_bytes`` (lock held)."""
        kept = len(self._pending.get(offset, b""))
        if self._buffered - kept + len(block) <= self.buffer_bytes:
            self._buffered += len(block) - kept
            self._pending[offset] = block
            self._dropped.pop(offset, None)
        elif offset not in self._pending:
            self._dropped[offset] = len(block)

    def _following(self) -> list[_Work]:
        """Take, in order, the buffered blocks and dropped ranges the frontier now reaches,
        and move the frontier past them (lock held; hashed by the caller after release)."""
        work: list[_Work] = []
        while True:
            later = [o for o in self._pending if o <= self.position]
            if later:
                start = min(later)
                block = self._pending.pop(start)
                self._buffered -= len(block)
                if start + len(block) > self.position:
                    work.append(memoryview(block)[self.position - start :])
                    self.position = start + len(block)
            elif self.position in self._dropped:
                length = self._dropped.pop(self.position)
                work.append((self.position, length))
                self.position += length
            else:
                return work

    def _hash_all(self, work: list[_Work]) -> None:
        """Hash ``work`` in order; a ``(offset, length)`` item is read from the file first."""
        for item in work:
            if isinstance(item, tuple):
                data = self.reader(*item)
                self.reread_bytes += len(data)
                if len(data) != item[1]:
                    self._broken = True  # the file shrank: the part's own read says so
                self._hash.update(data)
            else:
                self._hash.update(item)

    def hexdigest(self) -> str:
        """The 32-hex-digit XXH3-128 of the whole file.

        Raises:
            RuntimeError: not every byte was fed, or a re-read came back short (the upload
                did not cover the file, or the file shrank: its own read reports that).
        """
        with self._lock:
            if self.position != self.size_bytes or self._hashing or self._broken:
                raise RuntimeError(f"fingerprint covers {self.position} of {self.size_bytes} bytes")
            return str(self._hash.hexdigest())
