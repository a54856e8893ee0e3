"""The Frame.io webhook receiver: verify, answer at once, do the work on a queue.

``POST /frameio/webhook`` (:data:`RECEIVER_PATH`), served by uvicorn on loopback like the Range
server (:mod:`blocks.range_server`) and reached from Frame.io through the tunnel's hostname or
a public URL the user gives (``settings.review_webhook_url``). Per delivery:

1. the raw body is read (at most :data:`MAX_BODY_BYTES`; more -> 413);
2. timestamp and signature are checked (:func:`blocks.webhook_signature.verify_signature`):
   a forged, stale or replayed-after-5-minutes delivery -> 401, nothing done;
3. the delivery's key is claimed (``claim``, the state store's ``review_deliveries``): a
   duplicate -> 200 ``{"status": "duplicate"}``, nothing done (a 4xx would make Frame.io
   send it again);
4. a state store that cannot be written -> 503, nothing done (Frame.io sends it again);
5. the delivery is queued and answered 200 ``{"status": "queued"}`` at once: Frame.io retries
   anything not answered 2xx within 5 s ("Retries and Logging" in its webhooks guide). One
   worker thread runs ``handle`` on each, in arrival order; a failure is logged (the poll,
   :mod:`tasks.review.poll`, catches up what a failed handler missed).

Example:
    >>> receiver = WebhookReceiver(lambda: secret, claim, handle)    # doctest: +SKIP
    >>> with receiver: ...  # POST to receiver.url                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from blocks.webhook_signature import Delivery, parse_delivery, verify_signature
from core.errors import WebhookRefused
from core.loopback import UvicornThread

__all__ = ["MAX_BODY_BYTES", "RECEIVER_PATH", "WebhookReceiver"]

RECEIVER_PATH = "/frameio/webhook"
MAX_BODY_BYTES = 1024 * 1024  # a delivery is a few hundred bytes; the frameio relay caps 1 MiB
_log = logging.getLogger("postflow.review")


class WebhookReceiver:
    """Receive Frame.io webhook deliveries and hand each verified, new one to ``handle``.

    Args:
        secret: returns the webhook's signing secret ("" when none is saved: all refused).
        claim: ``claim(delivery)`` records the delivery's key; True when it was new (handle
            it), False for a duplicate.
        handle: called in the worker thread with each new :class:`Delivery`.
        host: interface to bind.
        port: TCP port (0 picks one).
        clock: Unix seconds (injected in tests).
        path: the route's path.

    Raises:
        OSError: from :meth:`start` when the port cannot be bound.
    """

    def __init__(
        self,
        secret: Callable[[], str],
        claim: Callable[[Delivery], bool],
        handle: Callable[[Delivery], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        path: str = RECEIVER_PATH,
    ) -> None:
        self._secret, self._claim, self._handle, self._clock = secret, claim, handle, clock
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self.counts = {"queued": 0, "duplicate": 0, "refused": 0, "unavailable": 0, "failed": 0}
        self.routes = [Route(path, self._receive, methods=["POST"])]
        self._server = UvicornThread(Starlette(routes=self.routes), host, port)
        self.path = path

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        """Start the worker and the server; returns self."""
        self.start_worker()
        self._server.start()
        return self

    def start_worker(self) -> None:
        """Start only the worker (when :attr:`routes` are served by another app)."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="frameio-webhooks", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        """Stop the server, then the worker once the queue is done. Idempotent."""
        self._server.stop()
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The local URL of the route, e.g. ``http://127.0.0.1:54321/frameio/webhook``."""
        return f"{self._server.url}{self.path}"

    def wait_idle(self) -> None:
        """Block until every queued delivery has been handled."""
        self._queue.join()

    # --- the route ------------------------------------------------------------------------------
    async def _receive(self, request: Request) -> Response:
        body = await _read_capped(request)
        if body is None:
            return self._answer("refused", 413, "body too large")
        try:  # the secret may be read from Prefect, the claim is a store write: off the loop
            delivery = await anyio.to_thread.run_sync(self._verify, request.headers, body)
        except WebhookRefused as refused:
            _log.warning("Frame.io webhook refused: %s", refused.reason)
            return self._answer("refused", 401, refused.reason)
        try:
            new = await anyio.to_thread.run_sync(self._claim, delivery)
        except OSError as exc:  # StateStoreError: Frame.io sends it again (non-2xx)
            _log.warning("Frame.io webhook not taken, the state store failed: %s", exc)
            return self._answer("unavailable", 503, "state store unavailable")
        if not new:
            return self._answer("duplicate", 200)
        self._queue.put(delivery)
        return self._answer("queued", 200)

    def _verify(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        timestamp = verify_signature(headers, body, self._secret(), self._clock())
        return parse_delivery(body, timestamp)

    def _answer(self, status: str, code: int, reason: str = "") -> Response:
        self.counts[status] += 1
        body = {"status": status, **({"reason": reason} if reason else {})}
        return JSONResponse(body, status_code=code)

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                if delivery is None:
                    return
                self._handle(delivery)
            except Exception as exc:  # noqa: BLE001 - one bad delivery never stops the worker
                self.counts["failed"] += 1
                _log.warning(
                    "Frame.io %s for %s not handled (the poll will catch up): %s",
                    delivery.event if delivery else "?",
                    delivery.resource_id if delivery else "?",
                    exc,
                )
            finally:
                self._queue.task_done()


async def _read_capped(request: Request) -> bytes | None:
    """The raw body, or None when it is longer than :data:`MAX_BODY_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
