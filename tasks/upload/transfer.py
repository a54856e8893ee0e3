"""The contract between the upload path (:func:`tasks.upload.run.run_upload`) and a transfer.

A transfer only moves bytes. :meth:`Transfer.send` is a context manager: on entry it creates
the file in Frame.io and sends (or has Frame.io pull) the bytes, and yields a :class:`Sent`;
the caller then checks the source did not change and calls :meth:`Transfer.wait_complete`
inside the block. On exit the transfer cleans up what is its own (a remote share is revoked;
a file that will never be right is deleted). Idempotency, locks, the version stack and the
result belong to the caller, once.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Sent", "Transfer"]


@dataclass(frozen=True)
class Sent:
    """What a transfer created and how.

    Attributes:
        file_id: the Frame.io file it created.
        started: ``time.monotonic()`` (seconds) when the bytes started moving.
        parts: part PUTs (0 for a remote upload).
        retried_parts: part PUTs that had to be retried.
        fingerprint: the whole file's XXH3-128 hex, hashed from the bytes that were sent;
            None when the transfer does not read the file itself (remote upload).
        resumed_parts: parts an earlier attempt had stored (not sent again).
    """

    file_id: str
    started: float
    parts: int = 0
    retried_parts: int = 0
    fingerprint: str | None = None
    resumed_parts: int = 0


class Transfer(Protocol):
    """One way of getting a file's bytes into Frame.io (multipart or remote)."""

    strategy: str
    """The :attr:`tasks.upload.UploadResult.strategy` it produces."""

    hashes_source: bool
    """True when :attr:`Sent.fingerprint` comes from the transfer's own read of the file;
    False when the caller must read the file for it (Frame.io pulls it: remote upload)."""

    def send(
        self, folder_id: str, name: str, path: str, source: os.stat_result
    ) -> AbstractContextManager[Sent]:
        """Create file ``name`` in ``folder_id`` and send ``path`` (``source``: its stat as
        the upload began: ``st_size`` bytes, ``st_mtime_ns``)."""
        ...

    def wait_complete(self, file_id: str) -> None:
        """Return once Frame.io reports the file ``upload_complete``."""
        ...
