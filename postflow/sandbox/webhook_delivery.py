"""Signed webhook deliveries from the sandbox, as Frame.io v4 sends them (with faults on demand).

Shape (Frame.io's webhooks guide, "Webhooks" in https://developer.adobe.com/frameio/guides; the
notes in shared/notes/webhooks-mhl-presigned-urls.md §1):

* `POST <webhook url>`, JSON body
  `{"account":{"id"},"project":{"id"},"resource":{"id","type"},"type","user":{"id"},
  "workspace":{"id"}}` - no timestamp, no delivery id, nothing but the resource id.
* Headers `X-Frameio-Request-Timestamp: <epoch s>` and
  `X-Frameio-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<raw body>")>`,
  `User-Agent: Frame.io V4 API`.
* Any non-2xx answer, or none within 5 s, is retried: 5 attempts in all, back-off doubling from
  `retry_base_seconds` (Frame.io: 15 s plus jitter). A retry is re-signed with a fresh
  timestamp (Frame.io does not say; a guess).

Events: `file.ready` once per file, `transcode_delay_seconds` after its upload completed (the
moment `files.show` turns "transcoded"), found by a scan of the tree every `SCAN_SECONDS`;
the API layer adds comment and metadata events (`enqueue`).

Faults (`arm`): `bad_signature` (signed with another secret), `duplicate` (sent twice, the same
bytes and headers), `out_of_order` (held back and sent after the next delivery, or after
`HOLD_SECONDS` when none follows; `pause`/`resume` line deliveries up first). Every attempt
is logged (`log`), and `replay(i)` sends logged delivery `i` again, byte for byte.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from postflow.sandbox.db import Database, to_iso, utc_now
from postflow.sandbox.defaults import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_PROJECT_ID,
    SANDBOX_USER_ID,
    SANDBOX_WORKSPACE_ID,
)
from postflow.sandbox.review import Event, ReviewStore
from postflow.sandbox.store import AssetStore

__all__ = ["FAULTS", "WebhookDeliverer", "sign"]

FAULTS = ("bad_signature", "duplicate", "out_of_order")
ATTEMPTS = 5
TIMEOUT_SECONDS = 5.0
SCAN_SECONDS = 0.1
HOLD_SECONDS = 1.0
USER_AGENT = "Frame.io V4 API"
_READY_SCHEMA = "CREATE TABLE IF NOT EXISTS ready_announced (file_id TEXT PRIMARY KEY);"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`"v0=" + hex(HMAC-SHA256(secret, "v0:<timestamp>:<body>"))` (Frame.io's scheme)."""
    message = b"v0:" + timestamp.encode("latin-1") + b":" + body
    return "v0=" + hmac.new(secret.encode("latin-1"), message, hashlib.sha256).hexdigest()


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    url: str = field(compare=False)
    secret: str = field(compare=False)
    body: bytes = field(compare=False)
    event: str = field(compare=False)
    attempt: int = field(compare=False, default=1)


class WebhookDeliverer:
    """Sends the sandbox's webhook deliveries from one background thread.

    Args:
        db: the sandbox database (remembers which files had their `file.ready`).
        assets: the tree (scanned for files that became ready).
        review: the webhooks to deliver to.
        clock: Unix seconds used for the timestamp header (the sandbox clock).
        transcode_delay_seconds: seconds after upload completion before `file.ready`.
        retry_base_seconds: first retry delay in seconds (doubles per attempt).
    """

    def __init__(
        self,
        db: Database,
        assets: AssetStore,
        review: ReviewStore,
        clock: Callable[[], float],
        transcode_delay_seconds: float,
        retry_base_seconds: float,
    ) -> None:
        self._db, self._assets, self._review, self._clock = db, assets, review, clock
        self._delay, self._retry_base = transcode_delay_seconds, retry_base_seconds
        db.executescript(_READY_SCHEMA)
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._held: list[_Pending] = []
        self._seq = itertools.count()
        self._faults: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self._log: list[dict[str, Any]] = []
        self._paused = False
        self._inflight = 0  # popped, being sent: not idle yet
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=TIMEOUT_SECONDS)
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    # --- public ---------------------------------------------------------------------------------
    def enqueue(self, events: list[Event]) -> None:
        """Queue one delivery per (event, active webhook subscribed to it)."""
        now = self._clock()
        with self._cond:
            for event_type, resource_id, resource_type in events:
                body = _body(event_type, resource_id, resource_type)
                for hook in self._review.webhooks():
                    if hook.active and event_type in hook.events:
                        seq = next(self._seq)
                        pending = _Pending(now, seq, hook.url, hook.secret, body, event_type)
                        heapq.heappush(self._queue, pending)
            self._cond.notify_all()

    def arm(self, fault: str, count: int = 1) -> dict[str, int]:
        """Apply `fault` (one of `FAULTS`) to the next `count` deliveries; returns the plan.

        Raises:
            ValueError: unknown fault or count < 1.
        """
        if fault not in FAULTS or count < 1:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, count >= 1")
        with self._cond:
            self._faults[fault] += count
            return dict(self._faults)

    def pause(self) -> None:
        """Queue deliveries without sending them until :meth:`resume` (to line several up,
        e.g. for `out_of_order`)."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        """Send what :meth:`pause` held back, in order (faults apply)."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def log(self) -> list[dict[str, Any]]:
        """Every attempt so far, oldest first: `{event, url, status, attempt, fault, headers,
        body}` (status None: no answer)."""
        with self._cond:
            return [dict(entry) for entry in self._log]

    def replay(self, index: int) -> int | None:
        """Send logged attempt `index` again, same bytes and headers; returns the status."""
        entry = self.log()[index]
        return self._post(entry["url"], entry["headers"], entry["body"], entry["event"], "replay")

    def wait_idle(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until nothing is queued or held; True when idle in time. Files ready by now
        are queued first (the scan otherwise runs every `SCAN_SECONDS`)."""
        self._scan_ready()
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._queue and not self._held and not self._inflight,
                timeout_seconds,
            )

    def reset(self) -> None:
        """Drop queued and held deliveries, armed faults and the log."""
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._faults = dict.fromkeys(FAULTS, 0)
            self._log.clear()
            self._paused = False
            self._cond.notify_all()
        self._db.execute("DELETE FROM ready_announced")

    def close(self) -> None:
        """Stop the thread (queued deliveries are dropped)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=TIMEOUT_SECONDS + 1)
        self._http.close()

    # --- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._scan_ready()
            except Exception:  # noqa: BLE001 - a closed database while stopping
                if self._stop.is_set():
                    return
            due = self._take_due()
            if due is not None:
                try:
                    self._attempt(due)
                finally:
                    with self._cond:
                        self._inflight -= 1
                        self._cond.notify_all()
                continue
            with self._cond:
                self._cond.wait(SCAN_SECONDS)

    def _take_due(self) -> _Pending | None:
        now = self._clock()
        with self._cond:
            if self._paused:
                return None
            if self._held and self._held[0].due <= now:
                self._inflight += 1
                return self._held.pop(0)
            if self._queue and self._queue[0].due <= now:
                pending = heapq.heappop(self._queue)
                if self._faults["out_of_order"] and pending.attempt == 1:
                    self._faults["out_of_order"] -= 1
                    pending.due = now + HOLD_SECONDS
                    self._held.append(pending)
                    return None
                self._inflight += 1
                return pending
            return None

    def _scan_ready(self) -> None:
        """Queue `file.ready` for files ready by now. Claim and queue happen under the lock, so
        a webhook made after `wait_idle` returned never gets an earlier file's `file.ready`."""
        with self._cond:
            self._scan_ready_locked()

    def _scan_ready_locked(self) -> None:
        now = utc_now()
        rows = self._db.query(
            "SELECT id, upload_completed_at FROM assets WHERE type = 'file'"
            " AND upload_completed_at IS NOT NULL"
            " AND id NOT IN (SELECT file_id FROM ready_announced)"
        )
        ready = []
        for row in rows:
            completed = self._assets.get(row["id"])
            if completed is None or completed.upload_completed_at is None:
                continue
            if (now - completed.upload_completed_at).total_seconds() >= self._delay:
                claimed = self._db.execute(
                    "INSERT OR IGNORE INTO ready_announced VALUES (?)", (row["id"],)
                ).rowcount
                if claimed:
                    ready.append(("file.ready", row["id"], "file"))
        if ready:
            self.enqueue(ready)

    def _attempt(self, pending: _Pending) -> None:
        fault = self._take_fault()
        timestamp = str(int(self._clock()))
        secret = pending.secret if fault != "bad_signature" else pending.secret + "-forged"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Frameio-Request-Timestamp": timestamp,
            "X-Frameio-Signature": sign(secret, timestamp, pending.body),
        }
        for _ in range(2 if fault == "duplicate" else 1):
            status = self._post(
                pending.url, headers, pending.body, pending.event, fault, pending.attempt
            )
        if (status is None or not 200 <= status < 300) and pending.attempt < ATTEMPTS:
            pending.attempt += 1
            pending.due = self._clock() + self._retry_base * 2 ** (pending.attempt - 2)
            with self._cond:
                heapq.heappush(self._queue, pending)
        with self._cond:
            for held in self._held:  # a delivery went out: what was held back follows it
                held.due = min(held.due, self._clock())
            self._cond.notify_all()

    def _take_fault(self) -> str | None:
        with self._cond:
            for fault in ("bad_signature", "duplicate"):
                if self._faults[fault]:
                    self._faults[fault] -= 1
                    return fault
        return None

    def _post(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        event: str,
        fault: str | None,
        attempt: int = 1,
    ) -> int | None:
        try:
            status: int | None = self._http.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        with self._cond:
            self._log.append(
                {
                    "event": event,
                    "url": url,
                    "status": status,
                    "attempt": attempt,
                    "fault": fault,
                    "headers": dict(headers),
                    "body": body,
                    "sent_at": to_iso(utc_now()),
                }
            )
        return status


def _body(event_type: str, resource_id: str, resource_type: str) -> bytes:
    """The delivery body, keys in the order of the guide's example."""
    payload = {
        "account": {"id": SANDBOX_ACCOUNT_ID},
        "project": {"id": SANDBOX_PROJECT_ID},
        "resource": {"id": resource_id, "type": resource_type},
        "type": event_type,
        "user": {"id": SANDBOX_USER_ID},
        "workspace": {"id": SANDBOX_WORKSPACE_ID},
    }
    return json.dumps(payload, separators=(",", ":")).encode()
