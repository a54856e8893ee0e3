"""The runs each warm runner is executing, in the state store, so that a killed ``up`` strands none.

A warm run is a thread of the ``up`` process. When that process is killed (``kill -9``, an OOM
kill, a power cut) its claimed runs stay Pending or Running in Prefect for ever, and in
deployment mode the sensor has already handed those files over: nothing would ingest them
until someone ran ``postflow rerun``. (Prefect's own Runner has the same gap; its answer is
heartbeats plus an automation, and ingest runs send no heartbeats by default.)

So each warm runner (one ``up`` process: host, pid and start time) has a row in the store's
``runners`` table with a *lease*: a heartbeat thread renews it every third of
``lease_seconds``. Each run it claims is a ``warm_runs`` row naming it, deleted when the run
ends. Any ``up`` of the installation, on any machine sharing the store, finds the runs of a
runner that is gone (:meth:`RunJournal.stranded`) and, for each run that is still not final,
marks it Crashed (the UI and the "ingest Failed or Crashed" automation see it) and creates a
new run of the same deployment with the same parameters (:func:`recover_stranded_runs`): at
start, then once per lease while it serves. Ingest is idempotent, so a file whose upload had
finished uploads nothing the second time.

A runner is gone when its lease has expired (its machine was killed or cut off: a pid means
nothing on another machine), or, on this machine, at once when its process no longer exists
(a pid *and* its start time, so a reused pid is not taken for the process that died).
Machines' clocks are compared: keep them in sync (NTP), well within ``lease_seconds``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psutil
from sqlalchemy import select

from blocks.store import StateStore
from blocks.store import tables as t
from core.logs import run_logger

__all__ = ["DEFAULT_LEASE_SECONDS", "RunJournal", "recover_stranded_runs"]

DEFAULT_LEASE_SECONDS = 60.0

_log = run_logger("postflow.serve.warm")


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), None when it does not exist."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, OverflowError, ValueError):
        return None  # gone, or a pid no process can have
    except psutil.AccessDenied:  # exists, not ours to inspect
        return -1.0


class RunJournal:
    """The warm runs of one runner (this process by default), and what other runners left.

    Args:
        store: the state store (its installation scopes the rows).
        pid: the process whose runs :meth:`add` records (default: this one).
        host: its machine (default: ``socket.gethostname()``).
        lease_seconds: how long after its last heartbeat a runner counts as gone (seconds).
        clock: Unix time in seconds (injected in tests).

    Attributes:
        runner_id: this runner's ``runners.runner_id``.
    """

    def __init__(
        self,
        store: StateStore,
        pid: int | None = None,
        *,
        host: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be > 0")
        self.store, self.clock, self.lease_seconds = store, clock, lease_seconds
        self.pid = os.getpid() if pid is None else pid
        self.host = socket.gethostname() if host is None else host
        self._started = _started_at(self.pid)
        self.runner_id = t.runner_key(self.host, self.pid, self._started)
        self._registered = False
        self._taken: set[UUID] = set()  # stranded runs taken over, not yet recovered
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # --- this runner -----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Renew this runner's lease (registering it the first time).

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        row = {
            "runner_id": self.runner_id,
            "host": self.host[:255],
            "pid": self.pid,
            "started_at": self._started,
            "heartbeat_at": self.clock(),
            "lease_seconds": self.lease_seconds,
        }
        with self.store.write() as db:
            db.execute(self.store.upsert(t.runners, row))
        self._registered = True

    def start_heartbeat(self) -> RunJournal:
        """Renew the lease every third of ``lease_seconds`` on a daemon thread; returns self."""
        self._safely("renew the lease of", self.runner_id, self.heartbeat)
        self._beat = threading.Thread(target=self._beating, name="warm-lease", daemon=True)
        self._beat.start()
        return self

    def _beating(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            self._safely("renew the lease of", self.runner_id, self.heartbeat)

    def close(self) -> None:
        """Stop the heartbeat; forget this runner when it holds no run (a clean stop)."""
        self._stop.set()

        def forget() -> None:
            with self.store.write() as db:
                mine = select(t.warm_runs.c.run_id).where(
                    self.store.where(t.warm_runs), t.warm_runs.c.runner_id == self.runner_id
                )
                if db.execute(mine).first() is None:
                    db.execute(t.runners.delete().where(*self._runner_is(self.runner_id)))

        self._safely("forget runner", self.runner_id, forget)

    def add(self, run_id: UUID) -> None:
        """Record that this runner executes ``run_id`` (logged, never raised, on a store error)."""

        def add() -> None:
            if not self._registered:
                self.heartbeat()
            row = {"run_id": str(run_id), "runner_id": self.runner_id, "claimed_at": self.clock()}
            with self.store.write() as db:
                db.execute(self.store.upsert(t.warm_runs, row))

        self._safely("record warm run", run_id, add)

    def remove(self, run_id: UUID) -> None:
        """Forget ``run_id`` (it ended, or it was recovered)."""

        def remove() -> None:
            with self.store.write() as db:
                db.execute(t.warm_runs.delete().where(*self._run_is(run_id)))
            self._taken.discard(run_id)

        self._safely("forget warm run", run_id, remove)

    def _safely(self, what: str, subject: object, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError as exc:  # StateStoreError: the store is down or full; the run goes on
            _log.warning("Cannot %s %s in the state store: %s", what, subject, exc)

    # --- other runners ---------------------------------------------------------------------------
    def stranded(self) -> list[UUID]:
        """The runs recorded by runners that are gone (see the module doc), oldest first,
        and those this journal took over (:meth:`take`) without recovering them yet.

        Raises:
            StateStoreError: the store cannot be read (an ``OSError``).
        """
        now = self.clock()
        query = (
            select(t.warm_runs.c.run_id, t.runners)
            .select_from(t.warm_runs)
            .outerjoin(
                t.runners,
                (t.runners.c.installation == t.warm_runs.c.installation)
                & (t.runners.c.runner_id == t.warm_runs.c.runner_id),
            )
            .where(self.store.where(t.warm_runs), t.warm_runs.c.runner_id != self.runner_id)
            .order_by(t.warm_runs.c.claimed_at)
        )
        with self.store.read() as db:
            rows = db.execute(query).all()
        gone = sorted(self._taken, key=str)
        for row in rows:
            try:
                run_id = UUID(row.run_id)
            except ValueError:
                continue  # not a row this journal wrote
            if row.runner_id is None or self._is_gone(row, now):
                gone.append(run_id)
        return gone

    def _is_gone(self, runner: Any, now: float) -> bool:
        if runner.host == self.host:
            started = _started_at(runner.pid)
            if started is None or (started > 0 and started != runner.started_at):
                return True  # this machine's process is gone, or its pid was reused
        return bool(runner.heartbeat_at + runner.lease_seconds < now)

    def take(self, run_id: UUID) -> bool:
        """Make a stranded run this runner's before recovering it; False when another runner
        took it first (two ``up`` recovering at once recover it once).

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        if not self._registered:
            self.heartbeat()
        with self.store.write() as db:
            row = db.execute(
                self.store.locked(select(t.warm_runs.c.runner_id).where(*self._run_is(run_id)))
            ).first()
            if row is None or row.runner_id == self.runner_id:
                return row is not None and run_id in self._taken
            owner = db.execute(select(t.runners).where(*self._runner_is(row.runner_id))).first()
            if owner is not None and not self._is_gone(owner, self.clock()):
                return False
            taken = t.warm_runs.update().where(*self._run_is(run_id))
            db.execute(taken.values(runner_id=self.runner_id, claimed_at=self.clock()))
            db.execute(t.runners.delete().where(*self._runner_is(row.runner_id)))
        self._taken.add(run_id)
        return True

    def _run_is(self, run_id: UUID) -> tuple[Any, ...]:
        return (self.store.where(t.warm_runs), t.warm_runs.c.run_id == str(run_id))

    def _runner_is(self, runner_id: str) -> tuple[Any, ...]:
        return (self.store.where(t.runners), t.runners.c.runner_id == runner_id)


def recover_stranded_runs(client: Any, journal: RunJournal) -> list[tuple[UUID, UUID]]:
    """Mark Crashed, and run again, the runs that runners now gone left unfinished.

    Args:
        client: a sync Prefect client.
        journal: this runner's journal.

    Returns:
        ``[(stranded run id, new run id)]``; a run that had ended (or is gone) is only
        forgotten. The new run's idempotency key is ``"<stranded id>:after-crash"``, so two
        ``up`` starting at once create one.

    Raises:
        Whatever the Prefect client or the store raises (the caller logs it and polls on; the
        rows stay for the next try).
    """
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    recovered = []
    for run_id in journal.stranded():
        if not journal.take(run_id):
            continue
        try:
            run = client.read_flow_run(run_id)
        except ObjectNotFound:
            journal.remove(run_id)
            continue
        if run.state is not None and (run.state.is_pending() or run.state.is_running()):
            message = "The postflow up process running it was killed; started again"
            client.set_flow_run_state(run_id, Crashed(message=message), force=True)
            again = client.create_flow_run_from_deployment(
                run.deployment_id,
                parameters=run.parameters,
                idempotency_key=f"{run_id}:after-crash",
            )
            _log.warning(
                "Flow run %r (%s) was left %s by a postflow up that was killed: marked "
                "Crashed, started again as %r",
                run.name,
                run_id,
                run.state.name,
                again.name,
            )
            recovered.append((run_id, again.id))
        journal.remove(run_id)
    return recovered
