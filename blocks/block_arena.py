"""Reusable read buffers for one upload, in one anonymous memory mapping.

The part PUTs of a multipart upload read each block of the file into a buffer that the PUT
and the whole file's fingerprint share (:mod:`blocks.stream_digest`). Fresh memory for those
buffers costs more than the upload itself on a fast link: every 4 KiB page is faulted in and
zeroed by the kernel the first time it is written (measured on 2 cores: about 80 ms per
128 MiB, against about 0.5 s to send 1 GiB to a loopback sink). So an upload takes its
buffers from one private anonymous mapping, advised ``MADV_HUGEPAGE`` where the platform has
it (Linux ``madvise(2)``): with transparent huge pages the kernel maps it 2 MiB at a time
(about 10 ms per 128 MiB); without them it is ordinary memory. Blocks are handed out last in,
first out, so an upload touches no more of the mapping than it holds at once.
"""

from __future__ import annotations

import contextlib
import mmap

__all__ = ["BlockArena"]

_HUGE_PAGE_BYTES = 2 << 20


class BlockArena:
    """Up to ``blocks`` buffers of ``block_bytes`` each, mapped on first use.

    Args:
        block_bytes: size of each buffer in bytes.
        blocks: how many buffers at most.

    Not thread-safe: its owner calls it under its own lock.
    """

    def __init__(self, block_bytes: int, blocks: int) -> None:
        self.block_bytes = block_bytes
        self.blocks = max(blocks, 0)
        self._map: mmap.mmap | None = None
        self._whole: memoryview | None = None
        self._free: list[memoryview] = []
        self._made = 0

    def take(self) -> memoryview | None:
        """A free buffer of :attr:`block_bytes` (its contents undefined), or None when all
        ``blocks`` are taken."""
        if self._free:
            return self._free.pop()
        if self._made >= self.blocks:
            return None
        if self._whole is None:
            self._whole = memoryview(self._mapping())
        start = self._made * self.block_bytes
        self._made += 1
        return self._whole[start : start + self.block_bytes]

    def give(self, buffer: memoryview) -> None:
        """Return a buffer that :meth:`take` handed out."""
        self._free.append(buffer)

    def _mapping(self) -> mmap.mmap:
        size = -(-self.block_bytes * self.blocks // _HUGE_PAGE_BYTES) * _HUGE_PAGE_BYTES
        private = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
        self._map = mmap.mmap(-1, size, flags=private) if private else mmap.mmap(-1, size)
        advice = getattr(mmap, "MADV_HUGEPAGE", None)
        if advice is not None:
            with contextlib.suppress(OSError):  # a kernel without THP: ordinary pages
                self._map.madvise(advice)
        return self._map

    def close(self) -> None:
        """Unmap the buffers now when nothing holds one any more; else the mapping goes
        when its last buffer is dropped (idempotent)."""
        self._free.clear()
        whole, self._whole = self._whole, None
        if whole is not None:
            with contextlib.suppress(BufferError):
                whole.release()
        mapping, self._map = self._map, None
        if mapping is not None:
            with contextlib.suppress(BufferError):  # a buffer is still referenced somewhere
                mapping.close()
