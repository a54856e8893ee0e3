"""The working process's metrics loop: sample, aggregate, emit ``postflow.metrics``, alert.

:class:`MetricsEmitter` runs a daemon thread next to the work (the sensor starts it around its
watch loop). Every ``interval_seconds`` it samples the process (RSS and CPU through ``psutil``),
reads the rolling figures of :func:`tasks.observe.live_metrics.live_window`, emits one
``postflow.metrics`` event, and hands the figures to an :class:`tasks.observe.alerts.AlertTracker`,
emitting ``postflow.alert.<name>`` / ``.resolved`` for what changed. Stopping it runs one last
tick, so the report sees every call made. Under ``postflow up`` (deployment mode) the ingests run
in other processes: :class:`RemoteIntervals` feeds their measurements, attached to their upload
events, into the window at the start of each tick.

``postflow.metrics`` payload: ``{"window_seconds", "interval_seconds", "figures": {...}
(:meth:`LiveWindow.figures`), "interval": {...} (:meth:`LiveWindow.drain_interval`),
"active_alerts": [name, ...]}``; resource ``postflow.metrics.<host>.<pid>``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import psutil
from prefect.events import emit_event

from blocks.settings import PostflowTuning, load_block
from blocks.store import StateStore, open_store
from config.settings import PostflowSettings
from core.logs import run_logger
from tasks.observe.alerts import AlertTracker, Transition, emit_alert
from tasks.observe.live_metrics import LiveWindow, live_window
from tasks.observe.metrics import Thresholds
from tasks.observe.telemetry import UPLOAD_EVENT_PREFIX, events_named

__all__ = ["METRICS_EVENT", "MetricsEmitter", "RemoteIntervals", "thresholds_of"]

METRICS_EVENT = "postflow.metrics"
log = run_logger("postflow.metrics")


def thresholds_of(tuning: PostflowTuning | None) -> Thresholds:
    """The alert thresholds of the tuning block (its defaults when none is saved)."""
    t = tuning or PostflowTuning()
    return Thresholds(
        error_rate=t.alert_error_rate,
        api_latency_seconds=t.alert_api_latency_seconds,
        cache_hit_rate_min=t.alert_cache_hit_rate_min,
        memory_mb=t.alert_memory_mb,
        upload_failure_rate=t.alert_upload_failure_rate,
        min_api_calls=t.alert_min_api_calls,
        min_latency_calls=t.alert_min_latency_calls,
        min_cache_lookups=t.alert_min_cache_lookups,
        min_uploads=t.alert_min_uploads,
    )


class RemoteIntervals:
    """Feeds a window with what ingest flow runs in other processes measured.

    Under ``postflow up`` each ingest is its own flow-run process, with no emitter; it attaches
    its measurements to its ``postflow.upload.*`` event (:mod:`tasks.observe.events`). :meth:`pull`
    reads those events back from the Prefect API (a look-back covers events persisted late)
    and merges each one once.

    Args:
        window: the window to feed.
        look_back_seconds: how far before the previous pull to look again (seconds).
    """

    def __init__(self, window: LiveWindow, look_back_seconds: float = 60.0) -> None:
        self.window = window
        self.look_back = timedelta(seconds=look_back_seconds)
        self.since = datetime.now(UTC)
        self._seen: dict[str, datetime] = {}

    def pull(self) -> int:
        """Merge the intervals of upload events not merged yet; returns how many.

        Raises:
            httpx.HTTPError: the Prefect API cannot be reached (the tick logs it).
        """
        now = datetime.now(UTC)
        merged = 0
        for event in events_named(self.since - self.look_back, now, [UPLOAD_EVENT_PREFIX]):
            key = str(event.id)
            interval = event.payload.get("interval")
            if key in self._seen or not isinstance(interval, dict):
                continue
            self._seen[key] = now
            self.window.merge_interval(interval)
            merged += 1
        self.since = now
        cutoff = now - 2 * self.look_back
        self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
        return merged


class MetricsEmitter:
    """Emit ``postflow.metrics`` and the live alerts at a fixed interval (a context manager).

    Attributes:
        ticks: ticks done so far.
        transitions: every alert fired or resolved, with its time (Unix seconds).

    Args:
        interval_seconds: time between two ticks (seconds).
        tracker: decides which alerts fire and resolve.
        window: the rolling window (default: this process's).
        pull: called first in each tick to feed the window from elsewhere
            (:class:`RemoteIntervals` under ``postflow up``).
        tuning: reads the tuning block at each tick, so thresholds, minimum samples and the
            cooldown edited in the Prefect UI act at the next tick (None: keep the tracker's;
            a read that fails or finds no block keeps the last ones).
        language: the alert texts' language (``discord_language``: ``"en"`` or ``"fr"``).
    """

    def __init__(
        self,
        interval_seconds: float,
        tracker: AlertTracker,
        window: LiveWindow | None = None,
        pull: Callable[[], Any] | None = None,
        tuning: Callable[[], PostflowTuning | None] | None = None,
        language: str = "en",
    ) -> None:
        self.language = language
        self.tuning = tuning
        self.pull = pull
        self.interval_seconds = interval_seconds
        self.tracker = tracker
        self.window = window or live_window()
        self.ticks = 0
        self.transitions: list[tuple[float, Transition]] = []  # (unix seconds, change)
        self._process = psutil.Process()
        self._process.cpu_percent(interval=None)  # the first call only starts the measure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.resource = {
            "prefect.resource.id": f"postflow.metrics.{socket.gethostname()}.{os.getpid()}",
            "prefect.resource.name": f"{socket.gethostname()} pid {os.getpid()}",
        }

    @classmethod
    def from_settings(cls, settings: PostflowSettings) -> MetricsEmitter:
        """An emitter for this process's window, with the settings' window and interval and
        the thresholds and cooldown of the saved tuning block."""
        tuning = load_block(PostflowTuning, settings.tuning_block)
        tuning = tuning if isinstance(tuning, PostflowTuning) else PostflowTuning()
        window = live_window()
        window.window_seconds = settings.metrics_window_seconds
        try:
            store: StateStore | None = open_store(settings)
        except OSError:  # StateStoreError: cooldowns of this process only
            store = None
        tracker = AlertTracker(thresholds_of(tuning), tuning.alert_cooldown_seconds, store=store)
        pull = RemoteIntervals(window).pull if settings.dispatch_mode == "deployment" else None

        def read_tuning() -> PostflowTuning | None:
            found = load_block(PostflowTuning, settings.tuning_block)
            return found if isinstance(found, PostflowTuning) else None

        return cls(
            settings.metrics_interval_seconds,
            tracker,
            window,
            pull,
            read_tuning,
            settings.discord_language,
        )

    def _retune(self) -> None:
        """Take the tuning block's current thresholds and cooldown (see ``tuning``)."""
        if self.tuning is None:
            return
        try:
            tuning = self.tuning()
        except Exception:  # noqa: BLE001 - the API away for a tick: keep the last thresholds
            log.debug("tuning block not read; keeping the last thresholds", exc_info=True)
            return
        if tuning is not None:
            self.tracker.thresholds = thresholds_of(tuning)
            self.tracker.cooldown_seconds = tuning.alert_cooldown_seconds

    def tick(self) -> list[Transition]:
        """Sample, emit ``postflow.metrics`` and the alert events of what changed."""
        self._retune()
        if self.pull is not None:
            self.pull()
        rss_mb = self._process.memory_info().rss / 1e6
        self.window.record_process(rss_mb, self._process.cpu_percent(interval=None))
        figures = self.window.figures()
        changes = self.tracker.evaluate(figures)
        payload: dict[str, Any] = {
            "window_seconds": self.window.window_seconds,
            "interval_seconds": self.interval_seconds,
            "figures": figures,
            "interval": self.window.drain_interval(),
            "active_alerts": self.tracker.active(),
        }
        emit_event(METRICS_EVENT, resource=dict(self.resource), payload=payload)
        for change in changes:
            self.transitions.append((time.time(), change))
            log.warning("Alert %s %s: %s", change.rule.name, change.status, change.figure)
            emit_alert(change, self.window.window_seconds, self.language)
        self.ticks += 1
        return changes

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self._safe_tick()

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # noqa: BLE001 - metrics must never stop the work
            log.warning("metrics tick failed", exc_info=True)

    def start(self) -> MetricsEmitter:
        """Start the thread; returns self."""
        self.window.emitting = True
        self._thread = threading.Thread(target=self._run, name="postflow-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and run a last tick (the calls since the previous one)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_seconds + 5)
        self._safe_tick()
        self.window.emitting = False

    def __enter__(self) -> MetricsEmitter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
