"""Transient faults in waves, and the outage, on the in-process sandbox.

:class:`FaultWaves` keeps the share of faulted requests near ``rate``: every ``period``
seconds it compares the faults injected so far with ``rate`` x the requests served (the
outage's own 503s excluded) and queues the missing ones as one wave of 503, 429, dropped
connections and lost responses (the request is applied, its answer lost), in random order.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from postflow.sandbox.server import SandboxServer

__all__ = ["FaultWaves"]

KINDS = ("503", "429", "drop", "lost_response")
WEIGHTS = (0.35, 0.25, 0.2, 0.2)


def _injected(stats: dict[str, Any]) -> int:
    return stats["injected_status"] + stats["injected_drops"] + stats["injected_lost_responses"]


def _requests(stats: dict[str, Any]) -> int:
    return sum(stats["requests_by_route"].values())


class FaultWaves(threading.Thread):
    """Queue waves of transient faults until :meth:`stop`; :meth:`outage` answers 503 to all.

    Args:
        server: the running sandbox.
        rate: share of requests to fault (0.2 = 20 %).
        rng: random source (seeded by the soak).
        period_seconds: how often a wave may be queued.
    """

    def __init__(
        self, server: SandboxServer, rate: float, rng: random.Random, period_seconds: float = 1.0
    ) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.server, self.rate, self.rng, self.period = server, rate, rng, period_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._outage_requests = 0
        self._outage_injected = 0

    def run(self) -> None:
        while not self._stop.wait(self.period):
            with self._lock:
                self._queue_wave()

    def stop(self) -> None:
        """Stop queueing and drop what is still queued."""
        self._stop.set()
        with self._lock:
            self.server.clear_faults()

    def outage(self, seconds: float) -> None:
        """Answer every API call (IMS and uploads included) with 503 for ``seconds``."""
        with self._lock:
            before = self.server.stats()
            self.server.clear_faults()
            self.server.inject_status(503, count=10**9)
            time.sleep(seconds)
            self.server.clear_faults()
            after = self.server.stats()
            self._outage_requests += _requests(after) - _requests(before)
            self._outage_injected += _injected(after) - _injected(before)

    def summary(self) -> str:
        """``faulted=N/M (P %) outage_503=K`` outside the outage."""
        stats = self.server.stats()
        requests = _requests(stats) - self._outage_requests
        injected = _injected(stats) - self._outage_injected
        share = 100.0 * injected / max(1, requests)
        return f"faulted={injected}/{requests} ({share:.0f} %) outage_503={self._outage_injected}"

    def _queue_wave(self) -> None:
        stats = self.server.stats()
        queued = sum(rule["remaining"] for rule in self.server.state.faults.snapshot()["rules"])
        requests = _requests(stats) - self._outage_requests
        injected = _injected(stats) - self._outage_injected
        missing = int(self.rate * requests) - injected - queued
        for kind in self.rng.choices(KINDS, WEIGHTS, k=max(0, missing)):
            if kind == "drop":
                self.server.inject_drop()
            elif kind == "lost_response":
                self.server.inject_lost_response()
            else:
                self.server.inject_status(int(kind))
