"""Timing of every HTTP call at our single edge to Frame.io (API calls and part PUTs).

:class:`TimedTransport` wraps an httpx transport: each request is timed from the moment httpx
hands it to the transport until the response headers arrive (for a part PUT that includes
sending the body), or until the transport raises. Every call, answered or not, is reported to
the observers registered with :func:`add_call_observer` as a :class:`CallRecord`. The Frame.io
SDK client (:meth:`blocks.frameio.FrameioCredentials.get_client`) and the part uploader
(:mod:`blocks.part_uploader`) use it, so SDK retries are timed one request at a time, as
Frame.io sees them. httpx transports: https://www.python-httpx.org/advanced/transports/

The rolling window that aggregates these records lives above this layer
(:mod:`tasks.observe.live_metrics`), which registers itself as an observer.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from blocks.pacing import RatePacer
from core.runtime import current_runtime

__all__ = ["CallRecord", "TimedTransport", "add_call_observer", "endpoint_name"]

UPLOAD_PART = "PUT upload part"
_ID_SEGMENT = re.compile(r"^(?:[0-9a-fA-F-]{16,}|\d+)$")


@dataclass(frozen=True)
class CallRecord:
    """One HTTP call.

    Attributes:
        endpoint: ``"<METHOD> <path template>"``, ids replaced by ``{id}``
            (e.g. ``"POST /v4/accounts/{id}/folders/{id}/folders"``), or ``"PUT upload part"``.
        kind: ``"api"`` (Frame.io API) or ``"upload"`` (a pre-signed part PUT).
        status: the HTTP status, or None when no answer came (network error).
        seconds: time until the response headers (or the error), seconds.
        error: None for a 1xx-3xx answer; else ``"HTTP <status>"`` or the exception's type name.
    """

    endpoint: str
    kind: str
    status: int | None
    seconds: float
    error: str | None


CallObserver = Callable[[CallRecord], None]


class _Observers:
    """The call observers of one runtime."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.observers: list[CallObserver] = []


def _registered() -> _Observers:
    return current_runtime().state("call-observers", _Observers)


def add_call_observer(observer: CallObserver) -> Callable[[], None]:
    """Report every timed call to ``observer``, while the current runtime lasts; returns a
    function that removes it.

    An observer must be quick and must not raise (an exception is swallowed).
    """
    registered = _registered()
    with registered.lock:
        registered.observers.append(observer)

    def remove() -> None:
        with registered.lock:
            if observer in registered.observers:
                registered.observers.remove(observer)

    return remove


def _notify(record: CallRecord) -> None:
    registered = _registered()
    with registered.lock:
        observers = list(registered.observers)
    for observer in observers:
        try:
            observer(record)
        except Exception:  # noqa: BLE001, S112 - timing must never break a call
            continue


def endpoint_name(method: str, path: str) -> str:
    """``"<METHOD> <template>"``: path segments that are ids (UUIDs, long hex, digits) read
    ``{id}``. Example: ``endpoint_name("get", "/v4/accounts/1a2b...")`` ->
    ``"GET /v4/accounts/{id}"``."""
    segments = ["{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/")]
    return f"{method.upper()} {'/'.join(segments)}"


class TimedTransport(httpx.BaseTransport):
    """An httpx transport that times each request and reports it (see module docstring).

    Args:
        inner: the transport doing the work (default ``httpx.HTTPTransport()``).
        kind: ``"api"`` or ``"upload"``.
        endpoint: a fixed endpoint label (part PUT URLs are pre-signed and all different);
            None derives it from the request with :func:`endpoint_name`.
        pacer: paces each request to the rate limit its endpoint announced
            (:mod:`blocks.pacing`); the wait is not part of the call's time.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        kind: str = "api",
        endpoint: str | None = None,
        pacer: RatePacer | None = None,
    ) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.kind = kind
        self.endpoint = endpoint
        self.pacer = pacer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, timing it.

        Raises:
            httpx.TransportError: as the inner transport raises it (after reporting it).
        """
        name = self.endpoint or endpoint_name(request.method, request.url.path)
        if self.pacer is not None:
            self.pacer.before(name)
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
        except Exception as exc:
            if self.pacer is not None:
                self.pacer.failed(name)
            _notify(CallRecord(name, self.kind, None, time.perf_counter() - started, _kind(exc)))
            raise
        status = response.status_code
        if self.pacer is not None:
            self.pacer.after(name, response.headers)
        error = f"HTTP {status}" if status >= 400 else None
        _notify(CallRecord(name, self.kind, status, time.perf_counter() - started, error))
        return response

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


def _kind(exc: BaseException) -> str:
    return type(exc).__name__
