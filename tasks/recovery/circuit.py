"""The Frame.io circuit breaker: stop dispatching while Frame.io is down, probe, then resume.

During an outage every ingest would burn its retries against a dead API. The breaker counts
consecutive *transient* failures (:func:`tasks.recovery.retry_queue.classify_failure`)::

    closed --(failure_threshold consecutive transient failures)--> open
    open   --(cool_down_seconds elapsed; allow() grants ONE probe)--> half_open
    half_open --(probe succeeds, or Frame.io answers at all)--> closed   (cool-down reset)
    half_open --(probe fails transiently)--> open   (cool-down doubled, capped)

While open (and half-open, once the probe is out) :meth:`CircuitBreaker.allow` is False: the
dispatcher leaves files in the retry queue instead of starting ingests. A success in any
state closes the breaker (an ingest started before the outage that finishes proves Frame.io
answers). A permanent failure (403, 404, 422) also counts as "Frame.io answered": it resets
the count and closes a half-open breaker. A probe that never reports back (its process died)
is replaced after ``probe_timeout_seconds``.

The state is one row of the state store's ``circuit`` table (:mod:`blocks.store`). Every
operation runs in one write transaction that locks the row and reloads it first, so several
processes (and, with the store on PostgreSQL, several machines) share one breaker: under
``postflow up`` each ingest run (a thread of a warm runner, maybe on another machine) records
its outcome (:func:`tasks.sensor.recovery.record_ingest_outcome`) and the sensor's dispatcher reads
the result before it announces a file. ``postflow status`` and ``health`` read it with
:func:`read_circuit_state`. The process that *owns* the breaker (the sensor) resumes it on
start: a probe that was out when the last sensor stopped is given up, and the breaker is open
again until its cool-down has passed, instead of hammering Frame.io.

Transitions call ``on_transition(state, payload)``; :func:`emit_circuit_event` is the
production callback (Prefect events ``postflow.frameio.circuit.opened`` / ``closed``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from prefect.events import emit_event
from sqlalchemy import Connection, select

from blocks.store import StateStore, local_store
from blocks.store import tables as t
from core.logs import run_logger

__all__ = [
    "CIRCUIT_CLOSED",
    "CIRCUIT_OPENED",
    "CircuitBreaker",
    "CircuitState",
    "emit_circuit_event",
    "read_circuit_state",
]

log = run_logger("postflow.circuit")

CIRCUIT_OPENED = "postflow.frameio.circuit.opened"
CIRCUIT_CLOSED = "postflow.frameio.circuit.closed"
_RESOURCE = MappingProxyType(
    {
        "prefect.resource.id": "postflow.frameio.circuit",
        "prefect.resource.name": "Frame.io circuit breaker",
    }
)

Transition = Callable[[str, dict[str, Any]], object]


class CircuitState(StrEnum):
    """The breaker's state (its value is what the store and events carry)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A thread-safe circuit breaker for Frame.io calls (see the module docstring).

    Args:
        store: the state store (its scope: the installation and production); an open
            breaker written by an earlier process is resumed.
        failure_threshold: consecutive transient failures that open the breaker.
        cool_down_seconds: wait in seconds after opening before one probe is allowed.
        max_cool_down_seconds: cap in seconds on the cool-down, which doubles after each
            failed probe.
        probe_timeout_seconds: a probe not reported back within this many seconds is
            considered lost and another is allowed.
        clock: Unix time in seconds (injected in tests; Unix time because the state is read
            by other processes and machines).
        on_transition: called as ``on_transition(state, payload)`` after each change of
            state, outside the breaker's lock; its exceptions are logged, never raised.
        owner: True for the dispatcher that hands out probes (the sensor): on start, a
            half-open breaker in the store (its probe died with the last sensor) is reopened.
            False for a process that only records outcomes (an ingest run under ``up``),
            which must not disturb a probe in flight.

    Raises:
        ValueError: a threshold or duration is not positive, or the cap is below the base.
        StateStoreError: the store cannot be read or written (an ``OSError``).
    """

    def __init__(
        self,
        store: StateStore,
        *,
        failure_threshold: int = 5,
        cool_down_seconds: float = 60.0,
        max_cool_down_seconds: float = 900.0,
        probe_timeout_seconds: float = 600.0,
        clock: Callable[[], float] = time.time,
        on_transition: Transition | None = None,
        owner: bool = True,
    ) -> None:
        if failure_threshold < 1 or cool_down_seconds <= 0 or probe_timeout_seconds <= 0:
            raise ValueError("failure_threshold and the durations must be positive")
        if max_cool_down_seconds < cool_down_seconds:
            raise ValueError("max_cool_down_seconds must be >= cool_down_seconds")
        self.store = store
        self._db: Connection | None = None  # the transaction of the operation in progress
        self.failure_threshold = failure_threshold
        self.base_cool_down_seconds = cool_down_seconds
        self.max_cool_down_seconds = max_cool_down_seconds
        self.probe_timeout_seconds = probe_timeout_seconds
        self.clock = clock
        self.on_transition = on_transition
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._cool_down = cool_down_seconds
        self._probe_started_at: float | None = None
        self._last_error = ""
        if owner:
            self._resume()

    @classmethod
    def in_state_dir(cls, state_dir: Path, **options: Any) -> CircuitBreaker:
        """The breaker in ``<state_dir>/state.db`` (:func:`blocks.store.local_store`);
        ``options`` as for the constructor."""
        return cls(local_store(state_dir), **options)

    @property
    def state(self) -> CircuitState:
        """The current state (an open breaker whose cool-down has passed still says OPEN
        until :meth:`allow` hands out the probe)."""
        with self._shared():
            return self._state

    def allow(self) -> bool:
        """May one Frame.io ingest start now?

        Returns:
            True when closed; when open and the cool-down has passed, True exactly once (the
            probe; the breaker is then half-open); otherwise False.

        Raises:
            OSError: the state file cannot be written.
        """
        with self._shared():
            now = self.clock()
            if self._state is CircuitState.CLOSED:
                return True
            if self._state is CircuitState.HALF_OPEN:
                lost = now - (self._probe_started_at or now) >= self.probe_timeout_seconds
                if lost:
                    self._probe_started_at = now
                    self._save(now)
                return lost
            if now - (self._opened_at or now) < self._cool_down:
                return False
            self._state, self._probe_started_at = CircuitState.HALF_OPEN, now
            event = self._event(now, CircuitState.OPEN)
        self._notify(event)
        return True

    def record_success(self) -> None:
        """An ingest (or any Frame.io call) succeeded: close the breaker, reset the count.

        Raises:
            OSError: the state file cannot be written.
        """
        self._answered("")

    def record_failure(self, transient: bool = True, error_kind: str = "") -> None:
        """An ingest failed.

        Args:
            transient: True for an outage-like failure (5xx, 429, network); False for a
                permanent one, which proves Frame.io answers and counts as a success here.
            error_kind: a short name of the failure for the state file and events.

        Raises:
            OSError: the state file cannot be written.
        """
        if not transient:
            self._answered(error_kind)
            return
        with self._shared():
            now = self.clock()
            self._last_error = error_kind
            previous = self._state
            if previous is CircuitState.OPEN:
                return  # already open: stragglers do not extend the cool-down
            self._failures += 1
            if previous is CircuitState.HALF_OPEN:
                self._cool_down = min(self._cool_down * 2, self.max_cool_down_seconds)
            if previous is CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state, self._opened_at, self._probe_started_at = CircuitState.OPEN, now, None
                event = self._event(now, previous)
            else:
                self._save(now)
                event = None
            failures = self._failures
        if event is not None:
            log.warning("Frame.io circuit opened after %d failures (%s)", failures, error_kind)
            self._notify(event)

    def snapshot(self) -> dict[str, Any]:
        """The state as written to the store (see :func:`read_circuit_state`)."""
        with self._shared():
            return self._record(self.clock())

    # --- internals -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _shared(self) -> Iterator[None]:
        """Hold this process's lock and the store's row, with the state reloaded from it
        (another process may have recorded outcomes since)."""
        with self._lock, self.store.write() as db:
            self._db = db
            try:
                self._reload(db)
                yield
            finally:
                self._db = None

    def _reload(self, db: Connection) -> None:
        db.execute(self.store.insert_missing(t.circuit, _unrecorded()))
        query = select(t.circuit).where(self.store.where(t.circuit))
        row = db.execute(self.store.locked(query)).mappings().first()
        data = dict(row) if row is not None else {}
        if data.get("updated_at") is None or data.get("state") not in set(CircuitState):
            return  # no outcome recorded yet: keep what this process has
        try:  # a row edited by hand (SQLite keeps text in a number column) must not stop us
            failures = int(data.get("consecutive_failures") or 0)
            opened, probe = (
                None if v is None else float(v)
                for v in (data.get("opened_at"), data.get("probe_started_at"))
            )
            cool_down = float(data.get("cool_down_seconds") or self.base_cool_down_seconds)
        except (TypeError, ValueError) as exc:
            scope = f"{self.store.installation}/{self.store.production or '-'}"
            log.warning("Unreadable circuit row (%s) in the state store, reset: %s", scope, exc)
            db.execute(self.store.upsert(t.circuit, _unrecorded()))
            return
        self._state = CircuitState(data["state"])
        self._failures, self._opened_at, self._probe_started_at = failures, opened, probe
        self._cool_down = min(
            max(cool_down, self.base_cool_down_seconds), self.max_cool_down_seconds
        )
        self._last_error = str(data.get("last_error") or "")

    def _answered(self, error_kind: str) -> None:
        with self._shared():
            now = self.clock()
            previous = self._state
            if previous is CircuitState.CLOSED and self._failures == 0:
                return
            self._failures, self._opened_at, self._probe_started_at = 0, None, None
            self._state, self._cool_down = CircuitState.CLOSED, self.base_cool_down_seconds
            self._last_error = error_kind
            if previous is CircuitState.CLOSED:
                self._save(now)
                return
            event = self._event(now, previous)
        log.warning("Frame.io circuit closed: Frame.io answers again")
        self._notify(event)

    def _event(self, now: float, previous: CircuitState) -> tuple[str, dict[str, Any]]:
        record = self._save(now)
        return self._state.value, {**record, "previous_state": previous.value}

    def _notify(self, event: tuple[str, dict[str, Any]]) -> None:
        if self.on_transition is None:
            return
        try:
            self.on_transition(*event)
        except Exception:  # a broken callback must not stop ingests
            log.exception("circuit transition callback failed")

    def _record(self, now: float) -> dict[str, Any]:
        opened = self._opened_at
        probe_at = opened + self._cool_down if opened is not None else None
        return {
            "state": self._state.value,
            "consecutive_failures": self._failures,
            "failure_threshold": self.failure_threshold,
            "opened_at": self._opened_at,
            "cool_down_seconds": self._cool_down,
            "probe_at": probe_at,
            "probe_started_at": self._probe_started_at,
            "last_error": self._last_error,
            "updated_at": now,
        }

    def _save(self, now: float) -> dict[str, Any]:
        record = self._record(now)
        assert self._db is not None, "_save runs inside _shared"
        row = {k: v for k, v in record.items() if k != "probe_at"}
        self._db.execute(self.store.upsert(t.circuit, row))
        return record

    def _resume(self) -> None:
        with self._shared():
            if self._state is not CircuitState.HALF_OPEN:
                return
            # Mid-probe when the last sensor stopped: the probe is given up; open again, the
            # next probe comes when the cool-down written then has passed.
            self._state, self._probe_started_at = CircuitState.OPEN, None
            self._opened_at = self._opened_at if self._opened_at is not None else self.clock()
            self._save(self.clock())


def _unrecorded() -> dict[str, Any]:
    """The row of a breaker that has recorded nothing yet (reads as closed)."""
    return {
        "state": CircuitState.CLOSED.value,
        "consecutive_failures": 0,
        "failure_threshold": None,
        "opened_at": None,
        "cool_down_seconds": None,
        "probe_started_at": None,
        "last_error": "",
        "updated_at": None,
    }


def read_circuit_state(store: StateStore) -> dict[str, Any]:
    """The breaker's state for ``postflow status`` / ``health``, from any process.

    Args:
        store: the state store (:func:`blocks.store.open_store`).

    Returns:
        ``{"state": "closed" | "open" | "half_open", "consecutive_failures": int,
        "failure_threshold": int | None, "opened_at": float | None, "cool_down_seconds":
        float | None, "probe_at": float | None, "probe_started_at": float | None,
        "last_error": str, "updated_at": float | None}``; times in Unix seconds. No row (no
        failure ever recorded) reads as closed.

    Raises:
        StateStoreError: the store cannot be read (an ``OSError``).
    """
    with store.read() as db:
        row = db.execute(select(t.circuit).where(store.where(t.circuit))).mappings().first()
    data = {**_unrecorded(), **(dict(row) if row is not None else {})}
    opened, cool_down = data["opened_at"], data["cool_down_seconds"]
    probe_at = opened + cool_down if opened is not None and cool_down is not None else None
    names = ("state", "consecutive_failures", "failure_threshold", "opened_at")
    result = {name: data[name] for name in names}
    result.update(cool_down_seconds=cool_down, probe_at=probe_at)
    for name in ("probe_started_at", "last_error", "updated_at"):
        result[name] = data[name]
    return result


def emit_circuit_event(state: str, payload: dict[str, Any]) -> Any:
    """``on_transition`` callback: emit ``postflow.frameio.circuit.opened`` / ``closed``.

    Half-open emits nothing (it is the breaker's own step, not news). Without a reachable
    Prefect API ``emit_event`` returns None; any error emitting is logged and swallowed, so
    a breaker never fails an ingest because the event system is down.

    Args:
        state: the new state's value (``"open"``, ``"closed"``, ``"half_open"``).
        payload: the breaker's record (JSON-serialisable), attached as the event payload.

    Returns:
        The emitted Prefect ``Event``, or None.
    """
    name = {"open": CIRCUIT_OPENED, "closed": CIRCUIT_CLOSED}.get(state)
    if name is None:
        return None
    try:
        return emit_event(name, resource=dict(_RESOURCE), payload=payload)
    except Exception:  # noqa: BLE001 - the event system must not break dispatching
        log.warning("could not emit %s", name, exc_info=True)
        return None
