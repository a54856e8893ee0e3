"""Request counters for the sandbox (GET /_sandbox/stats, `SandboxServer.stats()`).

`StatsMiddleware` sits outermost, so it also sees requests answered by injected faults. It names
each request by the Starlette route it matches (e.g. "folders.create", "upload.put_part"), or
"unmatched"; admin requests under `/_sandbox/` are not counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DROPPED_SCOPE_KEY", "Stats", "StatsMiddleware"]

# Set in the ASGI scope by the fault middleware when it drops a connection on purpose: the
# truncated "200" it starts is not an answer, so it is not counted as a status.
DROPPED_SCOPE_KEY = "postflow.sandbox.dropped"


class Stats:
    """Thread-safe counters.

    `snapshot()` shape::

        {"requests_by_route": {"folders.create": 4, ...},
         "responses_by_status": {"201": 3, "429": 1},
         "sent_429": 1,            # every 429 answered (rate limiter + injected)
         "rate_limited": 1,        # 429s from the leaky-bucket limiter
         "injected_status": 0, "injected_drops": 0, "injected_lost_responses": 0,
         "part_bytes_received": 3000,                 # body bytes of every part PUT (total)
         "part_bytes_by_file": {"<file_id>": 3000},   # the same per file ID (from the URL path)
         "part_puts_by_file": {"<file_id>": 4}}       # part PUTs that reached the part handler

    Part counters include PUTs the handler refused (expired URL, bad signature or headers,
    unknown file): their bodies are read and counted too, and a PUT cut short counts the bytes
    that arrived. PUTs answered by an injected status or drop never reach the handler and are
    not counted there (a lost_response one is).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._events: Counter[str] = Counter()
        self._part_bytes: Counter[str] = Counter()
        self._part_puts: Counter[str] = Counter()

    def record_request(self, route: str) -> None:
        """Count one request to `route`."""
        with self._lock:
            self._routes[route] += 1

    def record_status(self, status: int) -> None:
        """Count one response status."""
        with self._lock:
            self._statuses[str(status)] += 1

    def record_rate_limited(self) -> None:
        """Count one 429 produced by the rate limiter."""
        with self._lock:
            self._events["rate_limited"] += 1

    def record_injected(self, kind: str) -> None:
        """Count one injected fault; kind is "status", "drop" or "lost_response"."""
        key = {"drop": "injected_drops", "lost_response": "injected_lost_responses"}
        with self._lock:
            self._events[key.get(kind, "injected_status")] += 1

    def record_part_put(self, file_id: str) -> None:
        """Count one part PUT that reached the part handler for `file_id`."""
        with self._lock:
            self._part_puts[file_id] += 1

    def record_part_bytes(self, file_id: str, size: int) -> None:
        """Add `size` body bytes (one received chunk) of a part PUT for `file_id`."""
        with self._lock:
            self._part_bytes[file_id] += size

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every counter (see the class docstring)."""
        with self._lock:
            return {
                "requests_by_route": dict(self._routes),
                "responses_by_status": dict(self._statuses),
                "sent_429": self._statuses.get("429", 0),
                "rate_limited": self._events.get("rate_limited", 0),
                "injected_status": self._events.get("injected_status", 0),
                "injected_drops": self._events.get("injected_drops", 0),
                "injected_lost_responses": self._events.get("injected_lost_responses", 0),
                "part_bytes_received": sum(self._part_bytes.values()),
                "part_bytes_by_file": dict(self._part_bytes),
                "part_puts_by_file": dict(self._part_puts),
            }

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._routes.clear()
            self._statuses.clear()
            self._events.clear()
            self._part_bytes.clear()
            self._part_puts.clear()


class StatsMiddleware:
    """Count requests by route name and responses by status.

    Args:
        app: The wrapped ASGI app.
        stats: Where to count.
        routes: The app's routes, matched to name each request.
    """

    def __init__(self, app: ASGIApp, stats: Stats, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.stats = stats
        self.routes = list(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        self.stats.record_request(self._route_name(scope))

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope.get(DROPPED_SCOPE_KEY):
                self.stats.record_status(message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)

    def _route_name(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "name", None) or "unnamed"
        return "unmatched"
