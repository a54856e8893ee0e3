"""The whole file's XXH3-128, hashed in file order from the blocks the part PUTs read.

The part PUTs of a multipart upload read their byte ranges concurrently (part *k* and the
next few are in flight at once), but XXH3-128 is a sequential hash: its state after byte *n*
needs every byte before *n*. :class:`OrderedDigest` takes each block as a part reads it
(``feed(offset, block)``):

* a block at the hash's frontier (``offset <= position``) goes to the hash at once, then
  every buffered block that now follows on;
* a block ahead of the frontier is kept in memory until the frontier reaches it, up to
  ``buffer_bytes`` in all. Past that it is dropped, and read again from the file when the
  frontier reaches it (counted in :attr:`OrderedDigest.reread_bytes`).

Every block, at the frontier or ahead of it, is read straight into a buffer the PUT and the
digest share (:meth:`OrderedDigest.lease`), taken from one mapping per upload
(:class:`blocks.block_arena.BlockArena`): nothing is copied, and no memory is freshly
allocated per block.

No part ever waits for the hash mid-body (a PUT held open would risk S3's idle timeout,
``RequestTimeout``): the hashing runs on a thread of its own, fed in file order. Instead a
part waits, before its PUT starts, until its bytes fit in the buffer
(:meth:`OrderedDigest.wait_for_room`): when the first part in flight lags, the parts behind
it finish and the next ones would otherwise read further and further ahead, past the
buffer. So each byte is read from the source once, for both the PUT and the fingerprint (on
LucidLink a byte not in the local cache is a download from the filespace), as long as the
buffer holds what the parts in flight read ahead of the frontier: with ``c`` parts in
flight of ``P`` bytes each, ``c x P`` (``multipart.py`` gives it one part more, so a part
that finishes before the first one seldom waits). A part that is
retried reads its range again; bytes already hashed are skipped, so the digest is unchanged.

The digest is the standard XXH3-128 of the file (``xxhsum -H2``; ASC MHL's ``xxh128``), so any
tool can check it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import xxhash

from blocks.block_arena import BlockArena

__all__ = ["Lease", "OrderedDigest"]

Reader = Callable[[int, int], bytes]
"""``(offset, length) -> bytes`` read from the source (``os.pread``)."""


class Lease:
    """A buffer of the digest's arena that a part reads a block into, so the block is neither
    copied nor freshly allocated: its PUT and the digest share it, and it returns to the
    arena when both have called :meth:`release`.

    Attributes:
        view: the buffer, as long as the block asked for (``os.preadv`` into it).
    """

    __slots__ = ("_buffer", "_digest", "_refs", "frontier", "reserved", "view")

    def __init__(
        self,
        digest: OrderedDigest,
        buffer: memoryview | bytearray,
        length: int,
        refs: int,
        reserved: int,
        frontier: bool = False,
    ) -> None:
        self._digest, self._buffer, self._refs = digest, buffer, refs
        self.reserved = reserved  # bytes of the buffer's room it holds ahead of the frontier
        self.frontier = frontier  # one of the spare buffers for blocks read at the frontier
        self.view = memoryview(buffer)[:length]

    def release(self) -> None:
        """One holder is done with the block (the part's PUT sent it, or the digest hashed or
        dropped it)."""
        self._digest._release(self)


_Work = tuple[memoryview, Lease | None] | tuple[int, int]
"""A block to hash (and its lease), or an ``(offset, length)`` to read again and hash."""


class OrderedDigest:
    """XXH3-128 of ``size_bytes`` bytes fed in any order (see the module doc).

    Args:
        size_bytes: the file's size in bytes.
        buffer_bytes: the most bytes held ahead of the frontier; more are dropped and re-read.
        reader: reads a dropped range again when the frontier reaches it.
        block_bytes: the largest block a part reads (its lease size), in bytes.
        spare_blocks: leases for the blocks read at the frontier while they wait for the
            hasher thread (past them such a block is read into fresh memory).

    Attributes:
        position: bytes handed to the hash so far (the frontier), in bytes.
        reread_bytes: bytes read a second time because the buffer was full.

    Thread-safe: every part thread calls :meth:`lease` and :meth:`feed`.
    """

    def __init__(
        self,
        size_bytes: int,
        buffer_bytes: int,
        reader: Reader,
        block_bytes: int = 1 << 20,
        spare_blocks: int = 16,
    ) -> None:
        self.size_bytes = size_bytes
        self.buffer_bytes = buffer_bytes
        self.reader = reader
        self.block_bytes = block_bytes
        self.position = 0
        self.reread_bytes = 0
        self._hash = xxhash.xxh3_128()
        self._pending: dict[int, tuple[memoryview, Lease]] = {}
        # the room ahead, the blocks at the frontier, and as many again for blocks that
        # wait for the hasher thread after the room no longer counts them
        blocks = -(-min(buffer_bytes, size_bytes) // block_bytes) + 2 * spare_blocks
        self._arena = BlockArena(block_bytes, blocks)
        self._spare: list[bytearray] = []
        self.spare_blocks = spare_blocks
        self._at_frontier = 0  # leases held by blocks read at the frontier
        self._dropped: dict[int, int] = {}  # offset -> length of blocks read but not kept
        self._buffered = 0  # bytes of pending blocks and of leases not fed yet
        self._queue: queue.SimpleQueue[list[_Work] | None] = queue.SimpleQueue()
        self._hasher: threading.Thread | None = None
        self._broken = False
        self._lock = threading.Lock()
        self._moved = threading.Condition(self._lock)  # the frontier moved

    def wait_for_room(self, offset: int, end: int, stop: threading.Event) -> bool:
        """Wait until the bytes ``[offset, end)`` of a part about to start fit in the buffer
        with every byte read ahead of the frontier so far, so none is dropped and read again.

        A part at or behind the frontier, or larger than the whole buffer (it cannot fit
        however long it waits), never waits. Call it before the part's PUT starts, never in
        the middle of one.

        Returns:
            True to go on; False when ``stop`` was set meanwhile (the upload failed).
        """
        with self._moved:
            while offset > self.position and end - self.position > self.buffer_bytes:
                if end - offset > self.buffer_bytes or stop.is_set():
                    return not stop.is_set()
                self._moved.wait(0.1)
        return True

    def lease(self, offset: int, length: int) -> Lease | None:
        """A buffer of the arena to read the block at ``offset`` into; None when it is ahead
        of the frontier and the buffer has no room, or the arena has no free buffer (read it
        into fresh memory then). Hand the lease to :meth:`feed` with the block, and call
        :meth:`Lease.release` once the block is sent."""
        with self._lock:
            ahead = length if offset > self.position else 0
            if length > self.block_bytes or self._buffered + ahead > self.buffer_bytes:
                return None
            if not ahead and self._at_frontier >= self.spare_blocks:
                return None  # the hasher thread is behind: leave the arena to later parts
            buffer = self._take(length, ahead > 0)
            if buffer is None:
                return None
            self._buffered += ahead
            self._at_frontier += not ahead
            return Lease(self, buffer, length, refs=2, reserved=ahead, frontier=not ahead)

    def feed(self, offset: int, block: bytes | memoryview, lease: Lease | None = None) -> None:
        """Take ``block``, the file's bytes from ``offset`` (read into ``lease``'s buffer when
        given); never waits for other parts.

        A block at the frontier, and what follows on, go to this digest's hasher thread, so
        no part's PUT waits for the hash either.
        """
        with self._lock:
            if lease is not None:
                self._buffered -= lease.reserved  # counted again if kept
                lease.reserved = 0
            if offset + len(block) <= self.position:
                self._done(lease)  # a retried part re-read bytes already hashed
                return
            if offset > self.position:
                self._keep(offset, block, lease)
                return
            view = block if isinstance(block, memoryview) else memoryview(block)
            work: list[_Work] = [(view[self.position - offset :], lease)]
            self.position = offset + len(block)
            work += self._following()
            self._moved.notify_all()
            if self._hasher is None:
                self._hasher = threading.Thread(
                    target=self._hash_queued, name="fingerprint", daemon=True
                )
                self._hasher.start()
            self._queue.put(work)  # under the lock: the queue keeps file order

    def _hash_queued(self) -> None:
        """The hasher thread: hash each queued piece of work in order until ``None``."""
        while (work := self._queue.get()) is not None:
            try:
                self._hash_all(work)
            except OSError:
                self._broken = True  # a dropped range could not be read again

    def close(self) -> None:
        """Let the hasher thread finish what is queued and end (idempotent; :meth:`hexdigest`
        calls it; call it when an upload fails, so the thread does not wait forever)."""
        with self._lock:
            hasher, self._hasher = self._hasher, None
            if hasher is not None:
                self._queue.put(None)
        if hasher is not None:
            hasher.join()
        with self._lock:
            self._pending.clear()
            self._spare.clear()
            self._arena.close()

    def _take(self, length: int, room: bool) -> memoryview | bytearray | None:
        """A buffer of at least ``length`` bytes: the arena's, else (for a block the room
        was counted for, as a block too short for the arena's count may need) a spare one
        (lock held)."""
        buffer = self._arena.take() if length <= self.block_bytes else None
        if buffer is not None or not room:
            return buffer
        spare = self._spare.pop() if self._spare else None
        return spare if spare is not None and len(spare) >= length else bytearray(length)

    def _release(self, lease: Lease) -> None:
        with self._lock:
            self._done(lease)

    def forget(self, lease: Lease) -> None:
        """A lease whose block was never fed (its read failed): give back its room and its
        buffer."""
        with self._lock:
            self._buffered -= lease.reserved
            lease.reserved = 0
            lease._refs = 1
            self._done(lease)

    def _done(self, lease: Lease | None) -> None:
        """One holder of ``lease`` is done; its buffer returns to the pool with the last
        (lock held)."""
        if lease is not None:
            lease._refs -= 1
            if lease._refs == 0:
                self._at_frontier -= lease.frontier
                if isinstance(lease._buffer, memoryview):
                    self._arena.give(lease._buffer)
                else:
                    self._spare.append(lease._buffer)

    def _keep(self, offset: int, block: bytes | memoryview, lease: Lease | None) -> None:
        """Buffer a block ahead of the frontier, or drop it past ``buffer_bytes`` (lock held).

        A block read into a lease is kept as it is. Any other is copied into a buffer of the
        arena, so the caller's ``bytes`` lives only as long as its PUT needs it: holding
        hundreds of MiB of freshly allocated blocks made the allocator return and fault in
        that memory again on every upload (measured: about 10 % of the upload rate on the
        nginx sink)."""
        old = self._pending.pop(offset, None)
        if old is not None:
            self._buffered -= len(old[0])
            self._done(old[1])
        buffer = None
        if lease is None and self._buffered + len(block) <= self.buffer_bytes:
            buffer = self._take(len(block), True)
        if buffer is not None:
            lease = Lease(self, buffer, len(block), refs=1, reserved=0)
            lease.view[:] = block
        if lease is None or self._buffered + len(block) > self.buffer_bytes:
            self._done(lease)
            self._dropped[offset] = len(block)
            return
        self._buffered += len(block)
        self._pending[offset] = (lease.view, lease)
        self._dropped.pop(offset, None)

    def _following(self) -> list[_Work]:
        """Take, in order, the buffered blocks and dropped ranges the frontier now reaches,
        and move the frontier past them (lock held; the hasher thread hashes them)."""
        work: list[_Work] = []
        while True:
            start = self.position if self.position in self._pending else None
            if start is None:  # a retried part's block may start behind the frontier
                start = min((o for o in self._pending if o <= self.position), default=None)
            if start is not None:
                view, lease = self._pending.pop(start)
                self._buffered -= len(view)
                if start + len(view) > self.position:
                    work.append((view[self.position - start :], lease))
                    self.position = start + len(view)
                else:
                    self._done(lease)
            elif self.position in self._dropped:
                length = self._dropped.pop(self.position)
                work.append((self.position, length))
                self.position += length
            else:
                return work

    def _hash_all(self, work: list[_Work]) -> None:
        """Hash ``work`` in order; a ``(offset, length)`` item is read from the file first.
        Each leased buffer is released once hashed."""
        for item in work:
            if isinstance(item[0], int):
                offset, length = item
                data = self.reader(offset, length)
                self.reread_bytes += len(data)
                if len(data) != length:
                    self._broken = True  # the file shrank: the part's own read says so
                self._hash.update(data)
            else:
                view, lease = item
                self._hash.update(view)
                if lease is not None:
                    self._release(lease)

    def hexdigest(self) -> str:
        """The 32-hex-digit XXH3-128 of the whole file (waits for the hasher thread).

        Raises:
            RuntimeError: not every byte was fed, or a re-read came back short or failed (the
                upload did not cover the file, or the file shrank: its own read reports that).
        """
        self.close()
        with self._lock:
            if self.position != self.size_bytes or self._broken:
                raise RuntimeError(f"fingerprint covers {self.position} of {self.size_bytes} bytes")
            return str(self._hash.hexdigest())
