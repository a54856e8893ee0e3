"""Fault injection: canned error statuses, dropped connections and added latency.

`FaultPlan` is the thread-safe switchboard (driven from Python or from the `/_sandbox/faults/*`
admin endpoints); `FaultMiddleware` applies it to every request outside `/_sandbox/`, including
the `/_upload/...` part PUTs and the IMS endpoints. Rules are consumed first-match-first: each
matching request uses up one of the rule's `count`.

- status: answer `status` in the dialect of the path (Frame.io JSON, IMS JSON or S3 XML), with
  `Retry-After: <seconds>` when `retry_after_seconds` is set (429 defaults to 1 s).
- drop: read the request, send response headers and a few body bytes, then close the connection.
  Clients see a network error (httpx.RemoteProtocolError), never an HTTP status. Nothing is applied.
- lost_response: hand the request to the app, which applies it (the folder is created, the part
  stored, the file moved), throw its answer away, then close the connection as for `drop`. The
  client sees the same network error, but the server-side change happened: a blind retry of a
  create makes a duplicate.
- short_store (not a request rule): the next `count` files whose last part arrives are stored
  `missing_bytes` shorter; `files.show` reports the short `file_size` while the upload status
  says complete (applied by `uploads.put_part` through `take_short_store`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postflow.sandbox.responses import STATUS_TITLES, frameio_error, ims_error, s3_error
from postflow.sandbox.stats import DROPPED_SCOPE_KEY, Stats

__all__ = ["FaultMiddleware", "FaultPlan", "FaultRule"]

ADMIN_PREFIX = "/_sandbox/"

logger = logging.getLogger("postflow.sandbox")

# Set while a request's connection is being dropped on purpose; uvicorn then logs "ASGI callable
# returned without completing response." from the same task, which the filter below silences.
_dropping: ContextVar[bool] = ContextVar("postflow_sandbox_dropping", default=False)


class _InjectedDropLogFilter(logging.Filter):
    """Hide uvicorn's error line for connections the sandbox dropped on purpose (only those)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and "without completing response" in str(record.msg))


def _install_log_filter() -> None:
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _InjectedDropLogFilter) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_InjectedDropLogFilter())


@dataclass(frozen=True)
class FaultRule:
    """One pending fault.

    Attributes:
        kind: "status", "drop" or "lost_response".
        remaining: Requests this rule still applies to.
        path: Regular expression searched in the request path (e.g. r"/folders/[^/]+/folders$").
        method: HTTP method to match ("POST"), or None for any.
        status: HTTP status for "status" rules.
        retry_after_seconds: Value of the Retry-After header, or None for no header.
    """

    kind: str
    remaining: int
    path: str
    method: str | None = None
    status: int | None = None
    retry_after_seconds: int | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        if self.method is not None and self.method != method.upper():
            return False
        return re.search(self.path, path) is not None


class FaultPlan:
    """Thread-safe list of pending faults plus a global added latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._latency_seconds = 0.0
        self._short_store: dict[str, int] | None = None

    def add_status(
        self,
        status: int,
        count: int = 1,
        path: str = ".*",
        method: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> FaultRule:
        """Answer the next `count` matching requests with `status`.

        Raises:
            ValueError: status outside 400-599, count < 1, negative Retry-After or a bad regex.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be a 4xx or 5xx code, got {status}")
        if retry_after_seconds is None and status == 429:
            retry_after_seconds = 1
        if retry_after_seconds is not None and retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be >= 0")
        return self._add(
            FaultRule("status", count, path, _method(method), status, retry_after_seconds)
        )

    def add_drop(self, count: int = 1, path: str = ".*", method: str | None = None) -> FaultRule:
        """Drop the connection of the next `count` matching requests mid-response.

        Raises:
            ValueError: count < 1 or a bad regex.
        """
        return self._add(FaultRule("drop", count, path, _method(method)))

    def add_lost_response(
        self, count: int = 1, path: str = ".*", method: str | None = None
    ) -> FaultRule:
        """Apply the next `count` matching requests, then drop the connection instead of answering.

        Raises:
            ValueError: count < 1 or a bad regex.
        """
        return self._add(FaultRule("lost_response", count, path, _method(method)))

    def arm_short_store(self, count: int = 1, missing_bytes: int = 1) -> dict[str, int]:
        """Store the next `count` files that become complete `missing_bytes` bytes short.

        Replaces an earlier arming. Returns `{"remaining": count, "missing_bytes": bytes}`.

        Raises:
            ValueError: count < 1 or missing_bytes < 1.
        """
        if count < 1 or missing_bytes < 1:
            raise ValueError("count and missing_bytes must be >= 1")
        with self._lock:
            self._short_store = {"remaining": count, "missing_bytes": missing_bytes}
            return dict(self._short_store)

    def take_short_store(self) -> int:
        """Use one short-store arming: bytes to leave out of the file just completed (0: none)."""
        with self._lock:
            if self._short_store is None:
                return 0
            missing = self._short_store["missing_bytes"]
            self._short_store["remaining"] -= 1
            if self._short_store["remaining"] < 1:
                self._short_store = None
            return missing

    @property
    def latency_seconds(self) -> float:
        """Seconds added before every non-admin request is handled."""
        return self._latency_seconds

    def set_latency(self, seconds: float) -> None:
        """Set the added latency in seconds (0 disables it).

        Raises:
            ValueError: Negative seconds.
        """
        if seconds < 0:
            raise ValueError("latency must be >= 0 seconds")
        with self._lock:
            self._latency_seconds = float(seconds)

    def take(self, method: str, path: str) -> FaultRule | None:
        """Consume one use of the first rule matching the request, if any."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(method, path):
                    if rule.remaining <= 1:
                        del self._rules[index]
                    else:
                        self._rules[index] = replace(rule, remaining=rule.remaining - 1)
                    return rule
        return None

    def clear(self) -> None:
        """Remove every pending rule and the short-store arming; reset latency to 0."""
        with self._lock:
            self._rules.clear()
            self._short_store = None
            self._latency_seconds = 0.0

    def snapshot(self) -> dict[str, Any]:
        """`{"latency_seconds": float, "rules": [FaultRule as dict, ...],
        "short_store": null | {"remaining": int, "missing_bytes": int}}`."""
        with self._lock:
            short = None if self._short_store is None else dict(self._short_store)
            return {
                "latency_seconds": self._latency_seconds,
                "rules": [asdict(rule) for rule in self._rules],
                "short_store": short,
            }

    def _add(self, rule: FaultRule) -> FaultRule:
        if rule.remaining < 1:
            raise ValueError("count must be >= 1")
        try:
            re.compile(rule.path)
        except re.error as exc:
            raise ValueError(f"invalid path regex {rule.path!r}: {exc}") from exc
        with self._lock:
            self._rules.append(rule)
        return rule


def _method(method: str | None) -> str | None:
    return method.upper() if method else None


class FaultMiddleware:
    """ASGI middleware applying a `FaultPlan` to every request outside `/_sandbox/`.

    Args:
        app: The wrapped ASGI app.
        plan: The fault switchboard.
        stats: Counters; injected statuses and drops are recorded there.
    """

    def __init__(self, app: ASGIApp, plan: FaultPlan, stats: Stats) -> None:
        self.app = app
        self.plan = plan
        self.stats = stats
        _install_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.plan.latency_seconds:
            await asyncio.sleep(self.plan.latency_seconds)
        rule = self.plan.take(scope["method"], path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "lost_response":
            await self.app(scope, receive, _discard)
        else:
            await _drain(receive)
        if rule.kind in ("drop", "lost_response"):
            self.stats.record_injected(rule.kind)
            logger.info("injected %s: %s %s", rule.kind, scope["method"], path)
            scope[DROPPED_SCOPE_KEY] = True
            _dropping.set(True)
            await _send_truncated(send)
            return
        self.stats.record_injected("status")
        assert rule.status is not None
        headers = {}
        if rule.retry_after_seconds is not None:
            headers["Retry-After"] = str(rule.retry_after_seconds)
        response = _fault_response(path, rule.status, headers)
        await response(scope, receive, send)


def _fault_response(path: str, status: int, headers: dict[str, str]) -> Response:
    detail = f"injected fault: {status} {STATUS_TITLES.get(status, '')}".strip()
    if path.startswith("/_upload/"):
        return s3_error(status, detail, headers=headers)
    if path.startswith("/ims/"):
        return ims_error(
            status, "server_error" if status >= 500 else "injected_fault", detail, headers=headers
        )
    return frameio_error(status, detail, headers=headers)


async def _discard(message: Message) -> None:
    """An ASGI `send` that throws the app's answer away (the lost response)."""


async def _drain(receive: Receive) -> None:
    """Read and discard the request body, one ASGI message at a time (bounded memory)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _send_truncated(send: Send) -> None:
    """Promise 1 KiB of JSON, send 16 bytes and return: uvicorn then closes the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"data": {"id": ', "more_body": True})
