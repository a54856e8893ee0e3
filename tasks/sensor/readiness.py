"""Readiness: when is a file in the watch folder complete enough to ingest?

LucidLink shows other machines' files first as 0-byte placeholders, then as growing files,
and may report the final size before the last bytes are readable locally. A file is *ready*
when all of these hold:

1. its size is non-zero;
2. its size and mtime (ns) have not changed for ``settle_seconds``;
3. the digest of its last ``tail_check_bytes`` is the same on two successive checks;
4. when a ``completeness`` check is given (:func:`tasks.sensor.completeness.container_incomplete`),
   the container is finished: a settled QuickTime file without its ``moov`` atom or an MXF
   without its footer is a writer that paused, not a finished render (verdict INCOMPLETE;
   checked again on the next poll).

:class:`ReadinessTracker` is pure bookkeeping: the caller feeds it ``stat`` results and a
clock, and a ``read_tail`` callable; nothing here touches Prefect, so memory stays flat over
hours (one small record per file not yet ready).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    """What the tracker thinks of a file after one observation."""

    EMPTY = "empty"  # 0 bytes: placeholder or not written yet
    CHANGING = "changing"  # size or mtime moved since the last look
    SETTLING = "settling"  # unchanged, but not yet for settle_seconds
    VERIFYING = "verifying"  # settled; tail read once, waiting for the second read
    INCOMPLETE = "incomplete"  # settled, but its container is unfinished (no moov / footer)
    READY = "ready"


@dataclass(frozen=True)
class FileVersion:
    """One version of a file: the identity the sensor dispatches exactly once.

    Attributes:
        path: absolute path as a string.
        size_bytes: size in bytes.
        mtime_ns: modification time in nanoseconds.
    """

    path: str
    size_bytes: int
    mtime_ns: int

    def key(self, root: str = "") -> str:
        """Deterministic run key ``"<path relative to root>:<size>:<mtime_ns>"``."""
        rel = os.path.relpath(self.path, root) if root else self.path
        return f"{rel}:{self.size_bytes}:{self.mtime_ns}"


@dataclass(frozen=True)
class Observation:
    """What the tracker remembers about a file that is not ready yet.

    Attributes:
        size_bytes: last size seen.
        mtime_ns: last mtime seen.
        stable_since: clock value (seconds) when size/mtime last changed.
        tail_digest: digest of the tail read at the previous check, once settled.
    """

    size_bytes: int
    mtime_ns: int
    stable_since: float
    tail_digest: str | None = None


def assess(
    previous: Observation | None,
    size_bytes: int,
    mtime_ns: int,
    now: float,
    settle_seconds: float,
    read_tail: Callable[[], str],
) -> tuple[Observation, Verdict]:
    """Decide readiness from the previous observation and a fresh ``stat``.

    Args:
        previous: what was seen last time, or None for a new file.
        size_bytes: current size in bytes.
        mtime_ns: current mtime in nanoseconds.
        now: current clock value in seconds (monotonic).
        settle_seconds: how long size and mtime must stay unchanged.
        read_tail: returns a digest of the file's last bytes; called only once settled.

    Returns:
        The observation to remember and the verdict.

    Raises:
        OSError: from ``read_tail`` when the file cannot be read (caller decides).
    """
    if previous is None or (previous.size_bytes, previous.mtime_ns) != (size_bytes, mtime_ns):
        verdict = Verdict.EMPTY if size_bytes == 0 else Verdict.CHANGING
        return Observation(size_bytes, mtime_ns, now), verdict
    if size_bytes == 0:
        return previous, Verdict.EMPTY
    if now - previous.stable_since < settle_seconds:
        return previous, Verdict.SETTLING
    digest = read_tail()
    if previous.tail_digest is not None and previous.tail_digest == digest:
        return previous, Verdict.READY
    return Observation(size_bytes, mtime_ns, previous.stable_since, digest), Verdict.VERIFYING


def tail_digest(path: str, size_bytes: int, tail_bytes: int) -> str:
    """Return the sha256 hex digest of the last ``tail_bytes`` of ``path`` (whole file if smaller).

    Raises:
        OSError: the file cannot be opened or read.
    """
    count = min(tail_bytes, size_bytes)
    with open(path, "rb") as handle:
        handle.seek(size_bytes - count)
        data = handle.read(count)
    return hashlib.sha256(data).hexdigest() + f":{len(data)}"


class ReadinessTracker:
    """Track candidate files across polls and report those that became ready.

    Args:
        settle_seconds: see :func:`assess`.
        tail_check_bytes: bytes at the end read on each check (0 disables the tail check).
        clock: a monotonic clock in seconds (injected in tests).
        completeness: called with the path once a file would be READY; returns why its
            container is unfinished, or None. A reason makes the verdict INCOMPLETE and the
            file is asked again on the next check. None (default) skips the step.
    """

    def __init__(
        self,
        settle_seconds: float,
        tail_check_bytes: int,
        clock: Callable[[], float],
        completeness: Callable[[str], str | None] | None = None,
    ) -> None:
        self.settle_seconds = settle_seconds
        self.tail_check_bytes = tail_check_bytes
        self.clock = clock
        self.completeness = completeness
        self._seen: dict[str, Observation] = {}
        self._incomplete: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, path: str) -> tuple[Verdict, FileVersion | None]:
        """Stat ``path`` and update its record.

        Returns:
            ``(verdict, version)``; ``version`` is set only when the verdict is READY, and the
            file is then forgotten (the caller owns it from here).

        Raises:
            FileNotFoundError: the file disappeared; its record is dropped.
            OSError: the file cannot be read (from the tail read or the completeness check).
        """
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self.forget(path)
            raise
        size, mtime_ns = stat.st_size, stat.st_mtime_ns

        def read_tail() -> str:
            if self.tail_check_bytes == 0:
                return "tail-check-disabled"
            return tail_digest(path, size, self.tail_check_bytes)

        observation, verdict = assess(
            self._seen.get(path), size, mtime_ns, self.clock(), self.settle_seconds, read_tail
        )
        self._incomplete.pop(path, None)
        if verdict is Verdict.READY and self.completeness is not None:
            reason = self.completeness(path)
            if reason is not None:
                self._incomplete[path] = reason
                verdict = Verdict.INCOMPLETE
        if verdict is Verdict.READY:
            self._seen.pop(path, None)
            return verdict, FileVersion(path, size, mtime_ns)
        self._seen[path] = observation
        return verdict, None

    def incomplete_reason(self, path: str) -> str | None:
        """Why ``path`` was INCOMPLETE at its last check, or None."""
        return self._incomplete.get(path)

    def forget(self, path: str) -> None:
        """Drop any record of ``path`` (e.g. it was deleted or renamed away)."""
        self._seen.pop(path, None)
        self._incomplete.pop(path, None)
