"""The sandbox's movable clock: wall-clock time plus an offset that tests push forward.

Only the part-URL logic reads it (the `X-Amz-Date` a URL is signed with, and whether a PUT
arrived after that URL's expiry). Tokens, rate limits, timestamps in API bodies and the
transcode delay keep using the real clock. `POST /_sandbox/clock {"advance_seconds": N}` moves it
(cumulative); `/_sandbox/reset` sets the offset back to 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["SandboxClock", "iso_z"]


def iso_z(unix_seconds: float) -> str:
    """Unix seconds as S3 writes instants in its XML: "2017-07-20T04:18:45Z" (UTC, whole s)."""
    return datetime.fromtimestamp(int(unix_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxClock:
    """Thread-safe "now" = `wall()` + an offset in seconds that only grows until `reset()`.

    Args:
        wall: The real clock, Unix seconds (injectable for unit tests).
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._offset_seconds = 0.0

    @property
    def offset_seconds(self) -> float:
        """How far ahead of the wall clock the sandbox is, in seconds (>= 0)."""
        with self._lock:
            return self._offset_seconds

    def now(self) -> float:
        """The sandbox's current time in Unix seconds."""
        return self._wall() + self.offset_seconds

    def advance(self, seconds: float) -> float:
        """Move "now" forward by `seconds` (cumulative); returns the new offset in seconds.

        Raises:
            ValueError: Negative seconds (the clock never goes back, except by `reset()`).
        """
        if seconds < 0:
            raise ValueError("advance_seconds must be >= 0")
        with self._lock:
            self._offset_seconds += float(seconds)
            return self._offset_seconds

    def reset(self) -> None:
        """Back to the wall clock (offset 0)."""
        with self._lock:
            self._offset_seconds = 0.0

    def snapshot(self) -> dict[str, Any]:
        """`{"offset_seconds": float, "now": "2026-01-02T03:04:05Z"}` (now is UTC, whole s)."""
        offset = self.offset_seconds
        return {"offset_seconds": offset, "now": iso_z(self._wall() + offset)}
