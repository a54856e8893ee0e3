"""Pace Frame.io API calls to the rate limits Frame.io announces, instead of running into 429s.

Every v4 answer carries ``x-ratelimit-limit`` (calls per window), ``x-ratelimit-remaining``
and ``x-ratelimit-window`` (milliseconds), and the limits refill "gradually", as a leaky
bucket (Frame.io "Rate Limits" guide; ``shared/notes/frameio-v4.md`` section 5). A 429 costs
at least a second: the guide asks for 1 s then exponential backoff, and Retry-After, when
sent, is whole seconds. Folder creation (3/s) is what a burst of new shots runs into.

:class:`RatePacer` mirrors each endpoint's bucket in this process: the last answer's headers
set how full it is and how fast it drains; each call takes one unit, waiting first until one
fits. Calls of other processes or machines are seen through the next answer's
``remaining``, so the pacing is best effort and a 429 stays possible (and is still retried,
:meth:`blocks.frameio_project.FrameioProject._call`). An endpoint whose answers carry no
headers is not paced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.runtime import current_runtime

__all__ = ["RatePacer", "api_pacer"]


@dataclass
class _Bucket:
    limit: int
    drain_per_second: float
    level: float  # units in use
    at: float  # clock() when ``level`` was last brought up to date
    in_flight: int = 0  # our calls sent and not answered yet


class RatePacer:
    """Per-endpoint leaky buckets learnt from ``x-ratelimit-*`` headers.

    Args:
        clock: monotonic seconds (injectable for tests).
        sleep: waits a number of seconds (injectable for tests).
        max_wait_seconds: the longest single wait; a longer one means the headers and our
            mirror disagree, and the call goes ahead (the server decides).

    Thread-safe: a wait happens outside the lock, after the unit is reserved, so concurrent
    callers queue up one drain interval apart.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_seconds: float = 60.0,
    ) -> None:
        self.clock, self.sleep, self.max_wait_seconds = clock, sleep, max_wait_seconds
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def _drained(self, bucket: _Bucket, now: float) -> None:
        bucket.level = max(0.0, bucket.level - (now - bucket.at) * bucket.drain_per_second)
        bucket.at = now

    def before(self, endpoint: str) -> float:
        """Take a unit of ``endpoint``'s bucket, waiting until one fits; returns the seconds
        waited (0 for an endpoint not seen yet)."""
        with self._lock:
            bucket = self._buckets.get(endpoint)
            if bucket is None:
                return 0.0
            now = self.clock()
            self._drained(bucket, now)
            over = bucket.level + 1 - bucket.limit
            wait = max(0.0, over / bucket.drain_per_second)
            bucket.level += 1
            bucket.in_flight += 1
            if wait > self.max_wait_seconds:
                return 0.0
            self.waited_seconds += wait
        if wait > 0:
            self.sleep(wait)
        return wait

    def failed(self, endpoint: str) -> None:
        """A call taken by :meth:`before` got no answer (a network error)."""
        with self._lock:
            bucket = self._buckets.get(endpoint)
            if bucket is not None and bucket.in_flight:
                bucket.in_flight -= 1

    def after(self, endpoint: str, headers: Mapping[str, str]) -> None:
        """Learn ``endpoint``'s limit and level from an answer's headers (ignored when they
        are missing or not numbers): the server's count, which includes this call and the
        calls of other processes, plus our calls still in flight."""
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
            window_seconds = int(headers["x-ratelimit-window"]) / 1000
        except (KeyError, ValueError):
            return
        if limit <= 0 or window_seconds <= 0:
            return
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(endpoint)
            if bucket is None:
                bucket = _Bucket(limit, limit / window_seconds, 0.0, now)
                self._buckets[endpoint] = bucket
            else:
                bucket.in_flight = max(0, bucket.in_flight - 1)
            bucket.limit, bucket.drain_per_second = limit, limit / window_seconds
            bucket.level, bucket.at = float(limit - remaining + bucket.in_flight), now


def api_pacer() -> RatePacer:
    """The process's pacer of Frame.io API calls (one per runtime, as the buckets are the
    account's), kept by :func:`core.runtime.current_runtime`."""
    return current_runtime().state("api-pacer", RatePacer)
