"""The rolling window of live figures, kept by the process that does the work.

:class:`LiveWindow` receives what happens as it happens: every timed HTTP call
(:class:`blocks.call_timing.CallRecord`), every finished upload (outcome, MB/s), every
structure-cache look-up (hit or miss) and process samples (RSS, CPU). :meth:`LiveWindow.figures`
aggregates the last ``window_seconds`` into the figures the alert thresholds talk about;
:meth:`LiveWindow.drain_interval` hands over what happened since the previous call, raw enough
for the weekly report to recompute exact totals and percentiles. Pure and thread-safe; the
clock is injected. :func:`live_window` is this process's window, fed by the Frame.io edge.

Figures (:meth:`LiveWindow.figures`; a rate is a fraction 0-1, None with nothing to divide):
``api_calls``, ``api_failures``, ``error_rate`` (failed / all Frame.io API calls),
``api_latency_seconds_mean`` / ``_p50`` / ``_p95``, ``uploads``, ``upload_failures``,
``upload_failure_rate``, ``megabytes_per_second_median`` / ``_p95``, ``cache_lookups``,
``cache_hits``, ``cache_hit_rate``, ``rss_mb`` (latest), ``rss_mb_peak``, ``cpu_percent_mean``,
``cpu_percent_peak``.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from blocks.call_timing import CallRecord, add_call_observer
from core.runtime import current_runtime

__all__ = ["LiveWindow", "live_window", "percentile"]

MAX_INTERVAL_DURATIONS = 2000  # per endpoint and interval, to bound an event's payload


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (0-1) with linear interpolation (pandas' default), or None."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class _Upload:
    ok: bool
    megabytes_per_second: float | None
    size_bytes: int


class LiveWindow:
    """Rolling window of calls, uploads, cache look-ups and process samples.

    Args:
        window_seconds: how far back :meth:`figures` looks (seconds).
        clock: monotonic clock in seconds (injected by tests).
    """

    def __init__(
        self, window_seconds: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_seconds = window_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._calls: deque[tuple[float, CallRecord]] = deque()
        self._uploads: deque[tuple[float, _Upload]] = deque()
        self._cache: deque[tuple[float, bool]] = deque()
        self._samples: deque[tuple[float, float, float]] = deque()  # (t, rss_mb, cpu_percent)
        self._interval: dict[str, Any] = _empty_interval()
        self.emitting = False  # a MetricsEmitter of this process reads this window

    # --- recording ---------------------------------------------------------------------------
    def record_call(self, call: CallRecord) -> None:
        """One timed HTTP call (an observer of :mod:`blocks.call_timing`)."""
        with self._lock:
            self._calls.append((self.clock(), call))
            calls = self._interval["calls"].setdefault(
                call.endpoint, {"kind": call.kind, "calls": 0, "errors": {}, "seconds": []}
            )
            calls["calls"] += 1
            if call.error:
                calls["errors"][call.error] = calls["errors"].get(call.error, 0) + 1
            if len(calls["seconds"]) < MAX_INTERVAL_DURATIONS:
                calls["seconds"].append(round(call.seconds, 4))

    def record_upload(
        self, ok: bool, megabytes_per_second: float | None = None, size_bytes: int = 0
    ) -> None:
        """One finished upload: ``ok`` False for a failed one (MB/s then None)."""
        with self._lock:
            self._uploads.append((self.clock(), _Upload(ok, megabytes_per_second, size_bytes)))
            counts = self._interval["uploads"]
            counts["ok" if ok else "failed"] += 1
            if ok and megabytes_per_second is not None:
                counts["megabytes_per_second"].append(round(megabytes_per_second, 3))

    def record_cache(self, hit: bool) -> None:
        """One structure-cache look-up (a shot folder resolved from the cache, or not)."""
        with self._lock:
            self._cache.append((self.clock(), hit))
            self._interval["cache"]["hits" if hit else "misses"] += 1

    def record_process(self, rss_mb: float, cpu_percent: float) -> None:
        """One process sample: resident memory (10^6 bytes) and CPU percent since the last."""
        with self._lock:
            self._samples.append((self.clock(), rss_mb, cpu_percent))
            self._interval["samples"].append([round(rss_mb, 1), round(cpu_percent, 1)])

    def merge_interval(self, interval: Mapping[str, Any]) -> None:
        """Record what another process drained (:meth:`drain_interval`'s shape), as of now.

        Error kinds are given to the first durations of their endpoint (the interval does not
        pair them); calls beyond the durations kept are recorded with the mean duration.
        """
        for endpoint, data in (interval.get("calls") or {}).items():
            seconds = [float(s) for s in data.get("seconds") or []]
            count = int(data.get("calls") or 0)
            mean = statistics.fmean(seconds) if seconds else 0.0
            seconds += [mean] * (count - len(seconds))
            errors = [k for k, n in (data.get("errors") or {}).items() for _ in range(int(n))]
            for index, duration in enumerate(seconds):
                error = errors[index] if index < len(errors) else None
                kind = str(data.get("kind") or "api")
                self.record_call(CallRecord(endpoint, kind, None, duration, error))
        uploads = interval.get("uploads") or {}
        speeds = list(uploads.get("megabytes_per_second") or [])
        for index in range(int(uploads.get("ok") or 0)):
            self.record_upload(True, float(speeds[index]) if index < len(speeds) else None)
        for _ in range(int(uploads.get("failed") or 0)):
            self.record_upload(False)
        cache = interval.get("cache") or {}
        for hit, key in ((True, "hits"), (False, "misses")):
            for _ in range(int(cache.get(key) or 0)):
                self.record_cache(hit)
        for rss_mb, cpu_percent in interval.get("samples") or []:
            self.record_process(float(rss_mb), float(cpu_percent))

    # --- reading -----------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The window's figures (keys in the module docstring)."""
        with self._lock:
            self._expire(self.clock() - self.window_seconds)
            calls = [c for _, c in self._calls if c.kind == "api"]
            uploads = [u for _, u in self._uploads]
            hits = [h for _, h in self._cache]
            rss = [s[1] for s in self._samples]
            cpu = [s[2] for s in self._samples]
        seconds = [c.seconds for c in calls]
        failures = sum(1 for c in calls if c.error)
        speeds = [u.megabytes_per_second for u in uploads if u.ok and u.megabytes_per_second]
        upload_failures = sum(1 for u in uploads if not u.ok)
        return {
            "window_seconds": self.window_seconds,
            "api_calls": len(calls),
            "api_failures": failures,
            "error_rate": _rate(failures, len(calls)),
            "api_latency_seconds_mean": statistics.fmean(seconds) if seconds else None,
            "api_latency_seconds_p50": percentile(seconds, 0.5),
            "api_latency_seconds_p95": percentile(seconds, 0.95),
            "uploads": len(uploads),
            "upload_failures": upload_failures,
            "upload_failure_rate": _rate(upload_failures, len(uploads)),
            "megabytes_per_second_median": percentile(speeds, 0.5),
            "megabytes_per_second_p95": percentile(speeds, 0.95),
            "cache_lookups": len(hits),
            "cache_hits": sum(hits),
            "cache_hit_rate": _rate(sum(hits), len(hits)),
            "rss_mb": rss[-1] if rss else None,
            "rss_mb_peak": max(rss) if rss else None,
            "cpu_percent_mean": statistics.fmean(cpu) if cpu else None,
            "cpu_percent_peak": max(cpu) if cpu else None,
        }

    def drain_interval(self) -> dict[str, Any]:
        """What was recorded since the previous call, and start afresh.

        Returns:
            ``{"calls": {endpoint: {"kind", "calls", "errors": {kind: n}, "seconds": [..]}},
            "uploads": {"ok", "failed", "megabytes_per_second": [..]},
            "cache": {"hits", "misses"}, "samples": [[rss_mb, cpu_percent], ..]}``;
            ``seconds`` keeps at most ``MAX_INTERVAL_DURATIONS`` values per endpoint.
        """
        with self._lock:
            interval, self._interval = self._interval, _empty_interval()
        return interval

    def clear(self) -> None:
        """Forget everything recorded (the window and the interval)."""
        with self._lock:
            for queue in (self._calls, self._uploads, self._cache, self._samples):
                queue.clear()
            self._interval = _empty_interval()

    def _expire(self, cutoff: float) -> None:
        queues: tuple[deque[Any], ...] = (self._calls, self._uploads, self._cache, self._samples)
        for queue in queues:
            while queue and queue[0][0] < cutoff:
                queue.popleft()


def _empty_interval() -> dict[str, Any]:
    return {
        "calls": {},
        "uploads": {"ok": 0, "failed": 0, "megabytes_per_second": []},
        "cache": {"hits": 0, "misses": 0},
        "samples": [],
    }


def _observed_window() -> LiveWindow:
    window = LiveWindow()
    add_call_observer(window.record_call)
    return window


def live_window() -> LiveWindow:
    """This process's window (one per :class:`~core.runtime.Runtime`), fed by every timed
    Frame.io call from the first :func:`tasks.clients.open_project` on and by
    :mod:`tasks.observe.events`."""
    return current_runtime().state("live-window", _observed_window)
