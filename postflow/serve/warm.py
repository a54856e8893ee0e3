"""Warm execution of deployment flow runs: each run in a thread of this long-lived process.

Prefect 3.8.8's ``Runner`` (``prefect.serve``, ``flow.serve()``) and its process worker start
every flow run in a new process (``prefect/runner/_starter_direct.py``:
``run_flow_in_subprocess``, a ``multiprocessing`` *spawn*): each file paid seconds of Python,
Prefect and SDK imports before its first byte moved. :class:`WarmRunner` keeps what a served
deployment gives and drops the start-up:

* it polls the API for the deployments' Scheduled runs
  (``POST /deployments/get_scheduled_flow_runs``, the query the Runner makes), whatever created
  them: the sensor (one per ready file), ``postflow rerun``, ``run_deployment`` or the UI's
  Retry button;
* it claims each run by proposing Pending. The server's ``PreventPendingTransitions`` rule
  aborts a second claim (``prefect/server/orchestration/core_policy.py``), so several warm
  runners on several machines may serve the same deployment and each run executes once;
* it executes the claimed run with Prefect's own engine in this process
  (``prefect.flow_engine.run_flow(flow, flow_run=...)``, what ``python -m prefect.engine`` does
  in a fresh process), at most ``concurrency`` at a time. Each file is still its own flow run of
  the deployment, with its logs, artifacts, task runs and state events, so the automations and
  reruns see what they saw before.

A run cancelled from the UI (Cancelling) cannot be killed like a process: the runner sees
the state within ``cancel_check_seconds`` and asks the ingest to stop
(:mod:`tasks.platform.cancellation`); the upload stops at its next block, deletes its partial file,
and
the run ends Cancelled. When the whole process is killed, its runs are marked Crashed and run
again by another ``up`` sharing the state store, on this machine or another, once the killed
runner's lease has expired, or by the next start (:mod:`postflow.serve.warm_journal`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from core.logs import run_logger
from postflow.serve.warm_journal import RunJournal, recover_stranded_runs
from tasks.platform.cancellation import clear_cancel, request_cancel

__all__ = ["DEFAULT_POLL_SECONDS", "WarmRunner"]

# One cheap indexed query per poll; a run waits at most this long after it was created.
DEFAULT_POLL_SECONDS = 1.0

_log = run_logger("postflow.serve.warm")


class WarmRunner:
    """Run the Scheduled flow runs of some deployments in this process, ``concurrency`` at once.

    Args:
        flows: ``{deployment id: flow}``; each run of a deployment executes that flow object.
        concurrency: flow runs at once in this process (threads).
        poll_seconds: wait between polls when idle (seconds); a finished run wakes the poller.
        name: shown in the log lines (``"<host>:<pid>"`` style), to tell workers apart.
        client_factory: makes a sync Prefect client (injected by tests); default
            ``prefect.get_client(sync_client=True)``.
        journal: where claimed runs are recorded until they end, so that after a ``kill -9``
            another runner recovers them (:mod:`postflow.serve.warm_journal`); its lease is renewed
            while this runner runs, and it recovers what other runners left at start and then
            every ``journal.lease_seconds``. None: no record.
        cancel_check_seconds: how often, while runs are in progress, the runner asks the API
            which of them were cancelled (seconds; one query).

    Attributes:
        executed: ids of the runs this runner started (claimed and handed to the engine).
    """

    def __init__(
        self,
        flows: dict[UUID, Any],
        concurrency: int,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        name: str = "warm",
        client_factory: Callable[[], Any] | None = None,
        journal: RunJournal | None = None,
        cancel_check_seconds: float = 2.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.flows = dict(flows)
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.name = name
        self._client_factory = client_factory or _sync_client
        self.journal = journal
        self.cancel_check_seconds = cancel_check_seconds
        self._next_cancel_check = 0.0
        self._cancelling: set[UUID] = set()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="warm-run")
        self._slots = threading.Semaphore(concurrency)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight: set[UUID] = set()
        self._guard = threading.Lock()
        self.executed: list[UUID] = []

    def poll_once(self, client: Any) -> int:
        """Claim and start as many Scheduled runs as there are free slots; returns how many.

        Raises:
            Whatever the Prefect client raises for the query (the loop logs and retries).
        """
        free = self._free_slots()
        if not free or not self.flows:
            return 0
        runs = client.get_scheduled_flow_runs_for_deployments(
            deployment_ids=list(self.flows),
            scheduled_before=datetime.now(UTC),
            limit=free,
        )
        started = 0
        for run in sorted(runs, key=lambda r: r.next_scheduled_start_time or r.created):
            if run.id in self._in_flight or not self._slots.acquire(blocking=False):
                continue
            if not self._claim(client, run):
                self._slots.release()
                continue
            self._start(run)
            started += 1
        return started

    def check_cancelling(self, client: Any) -> int:
        """Ask the runs in progress here that the API shows Cancelling to stop; returns how
        many were newly asked (one query; none when nothing runs)."""
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterId,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        with self._guard:
            ids = list(self._in_flight - self._cancelling)
        if not ids:
            return 0
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=ids),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CANCELLING])),
            )
        )
        for run in runs:
            with self._guard:
                self._cancelling.add(run.id)
            request_cancel(str(run.id))
            _log.warning("%s: flow run %r was cancelled; stopping its ingest", self.name, run.name)
        return len(runs)

    def _free_slots(self) -> int:
        with self._guard:
            return self.concurrency - len(self._in_flight)

    def _claim(self, client: Any, run: Any) -> bool:
        """Propose Pending; False when another runner claimed the run first (Abort)."""
        from prefect.exceptions import Abort
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state_sync

        try:
            state = propose_state_sync(client, Pending(), flow_run_id=run.id)
        except Abort:
            return False
        return bool(state.is_pending())

    def _start(self, run: Any) -> None:
        with self._guard:
            self._in_flight.add(run.id)
            self.executed.append(run.id)
        if self.journal is not None:
            self.journal.add(run.id)
        _log.info("%s: running flow run %r (%s)", self.name, run.name, run.id)
        future = self._pool.submit(self._execute, run)
        future.add_done_callback(lambda f, run_id=run.id: self._finished(run_id, f))

    def _execute(self, run: Any) -> Any:
        from prefect.flow_engine import run_flow

        from flows.ingest import ingest_run_settings

        flow = self.flows[run.deployment_id]
        with ingest_run_settings():  # ingest runs: heartbeats as configured (none by default)
            state = run_flow(flow, flow_run=run, return_type="state")
        if state is not None and state.is_cancelling():
            # The server refuses any end but Cancelled to a Cancelling run (Prefect 3.8.8
            # EnforceCancellingToCancelledTransition), so the engine's last proposal was
            # rejected: end it, or it would show Cancelling for ever.
            from prefect.states import Cancelled

            with self._client_factory() as client:
                message = "Cancelled while it ran in a warm runner"
                state = client.set_flow_run_state(run.id, Cancelled(message=message)).state
        return state

    def _finished(self, run_id: UUID, future: Future[Any]) -> None:
        with self._guard:
            self._in_flight.discard(run_id)
            self._cancelling.discard(run_id)
        clear_cancel(str(run_id))
        if self.journal is not None:
            self.journal.remove(run_id)
        self._slots.release()
        if future.exception() is not None:  # the engine itself failed, not the flow
            _log.error("%s: flow run %s: %s", self.name, run_id, future.exception())
        self._wake.set()

    def run(self) -> None:
        """Poll until :meth:`stop`; an unreachable API is logged and polled again later.

        Logs ``"<name>: polling for flow runs ..."`` once the client is open, just before the
        first poll (the line tells an operator, or a test, that this runner takes work now).
        """
        if self.journal is not None:
            self.journal.start_heartbeat()
        next_recovery = 0.0
        with self._client_factory() as client:
            self._recover(client)
            if self.journal is not None:
                next_recovery = time.monotonic() + self.journal.lease_seconds
            _log.info(
                "%s: polling for flow runs of %d deployment(s), %d at once",
                self.name,
                len(self.flows),
                self.concurrency,
            )
            while not self._stop.is_set():
                try:
                    started = self.poll_once(client)
                    if time.monotonic() >= self._next_cancel_check:
                        self._next_cancel_check = time.monotonic() + self.cancel_check_seconds
                        self.check_cancelling(client)
                    if self.journal is not None and time.monotonic() >= next_recovery:
                        next_recovery = time.monotonic() + self.journal.lease_seconds
                        self._recover(client)
                except Exception as exc:  # noqa: BLE001 - API down: keep serving, retry later
                    _log.warning("%s: cannot poll for flow runs: %s", self.name, exc)
                    started = 0
                if not started:
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()

    def _recover(self, client: Any) -> None:
        """Recover what killed runners left, on any machine (never stops the runner)."""
        if self.journal is None:
            return
        try:
            recover_stranded_runs(client, self.journal)
        except Exception as exc:  # noqa: BLE001 - API down: the journal keeps them for later
            _log.warning("%s: cannot recover runs a killed postflow up left: %s", self.name, exc)

    def start(self) -> WarmRunner:
        """Poll on a background thread; returns self."""
        self._thread = threading.Thread(target=self.run, name="warm-poll", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_seconds: float | None = None) -> bool:
        """Stop claiming runs, then wait for the runs in progress to finish.

        Args:
            timeout_seconds: longest wait for the runs in progress; None waits for them all.

        Returns:
            True when nothing is left running.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while self._free_slots() < self.concurrency:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._wake.wait(0.2)
            self._wake.clear()
        self._pool.shutdown(wait=True)
        if self.journal is not None:
            self.journal.close()
        return True


def _sync_client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)
