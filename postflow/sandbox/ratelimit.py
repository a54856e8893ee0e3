"""Leaky-bucket rate limits per Frame.io operation, with Frame.io's `x-ratelimit-*` headers.

Frame.io refills "gradually" (a leaky bucket, no fixed window). Each operation gets a bucket of
`calls` capacity that drains at `calls / window_seconds` per second; a request is admitted when the
bucket has room for one more unit. The sandbox has a single account user, so buckets are keyed by
operation only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Decision", "LeakyBucket", "RateLimiter"]


@dataclass(frozen=True)
class Decision:
    """Outcome of one admission check.

    Attributes:
        allowed: Whether the request may proceed.
        limit: Calls allowed per window.
        remaining: Whole calls still admissible right now.
        window_seconds: Window length in seconds (headers carry it in milliseconds).
        retry_after_seconds: When refused, whole seconds until one call fits (>= 1); else 0.
    """

    allowed: bool
    limit: int
    remaining: int
    window_seconds: float
    retry_after_seconds: int = 0

    def headers(self) -> dict[str, str]:
        """`x-ratelimit-limit`/`-remaining`/`-window` (ms), plus `Retry-After` when refused."""
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-window": str(round(self.window_seconds * 1000)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class LeakyBucket:
    """A bucket of `calls` units draining continuously over `window_seconds`.

    Args:
        calls: Capacity, i.e. the burst size and the calls allowed per window.
        window_seconds: Time for a full bucket to drain.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self, calls: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.calls = calls
        self.window_seconds = window_seconds
        self._rate = calls / window_seconds
        self._clock = clock
        self._level = 0.0
        self._last = clock()

    def acquire(self) -> Decision:
        """Try to add one unit; not thread-safe on its own (see `RateLimiter`)."""
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._last) * self._rate)
        self._last = now
        if self._level + 1.0 <= self.calls + 1e-9:
            self._level += 1.0
            remaining = max(0, math.floor(self.calls - self._level + 1e-9))
            return Decision(True, self.calls, remaining, self.window_seconds)
        wait = (self._level + 1.0 - self.calls) / self._rate
        return Decision(False, self.calls, 0, self.window_seconds, max(1, math.ceil(wait)))


class RateLimiter:
    """Thread-safe per-operation leaky buckets.

    Args:
        limits: operation -> (calls, window seconds), e.g. `defaults.RATE_LIMITS`.
        enabled: When False every call is admitted (headers still report the limits).
        clock: Monotonic clock in seconds.
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[int, float]],
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._limits = dict(limits)
        self._clock = clock
        self._buckets: dict[str, LeakyBucket] = {}
        self._lock = threading.Lock()

    def check(self, operation: str) -> Decision | None:
        """Admit or refuse one call of `operation`; None for operations without a limit."""
        limit = self._limits.get(operation)
        if limit is None:
            return None
        calls, window = limit
        if not self.enabled:
            return Decision(True, calls, calls, window)
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                bucket = self._buckets[operation] = LeakyBucket(calls, window, self._clock)
            return bucket.acquire()

    def reset(self) -> None:
        """Empty every bucket."""
        with self._lock:
            self._buckets.clear()
