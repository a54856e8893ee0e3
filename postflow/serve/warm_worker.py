"""The ``postflow-warm`` Prefect worker type: each flow run in a thread of one long-lived process.

Prefect's stock ``process`` worker starts every flow run in a new process (``python -m
prefect.engine``): a 1 MB file paid seconds of Python, Prefect and SDK imports before its first
byte moved. :class:`WarmWorker` is a ``prefect.workers.base.BaseWorker`` whose :meth:`run`
executes the run with Prefect's own engine in a thread of the worker process
(``prefect.flow_engine.run_flow(flow, flow_run=...)``, what ``python -m prefect.engine`` does in
a fresh one). Everything else is Prefect's worker: the pool, its queues and ``--limit``, the
heartbeats and the worker listed on the UI's Work Pools page, the claim of a run (Pending), its
labels and events.

It is registered through the package's ``prefect.collections`` entry point (pyproject.toml), so
Prefect's CLI knows it (Prefect docs, "Developing a New Worker Type",
https://docs.prefect.io/2.10.6/tutorials/developing-a-new-worker-type/; Prefect 3.9.1
``BaseWorker.get_worker_class_from_type`` loads the collections)::

    prefect work-pool create postflow-warm --type postflow-warm
    prefect worker start --pool postflow-warm --limit 2

* **Cancel.** A thread cannot be killed like a process. The worker checks its runs in
  progress for Cancelling (the UI's Cancel) every ``cancel_check_seconds`` and stops each
  through its :meth:`WarmWorker.kill_infrastructure`, which raises the run's cooperative
  cancel flag (:mod:`tasks.platform.cancellation`): the upload stops at its next block and
  deletes its partial file, and the run ends Cancelled.
* **Crash recovery.** Each run is recorded in the state store's journal while it runs
  (:mod:`postflow.serve.warm_journal`); when the process is killed, any worker of the installation
  marks its runs Crashed and runs them again, at start and then once per lease.
* **Woken by events.** Besides Prefect's poll every ``PREFECT_WORKER_QUERY_SECONDS``, the
  worker listens on Prefect's event stream for ``prefect.flow-run.Scheduled`` events of its
  pool and, when a slot is free, polls at once (about 20 ms after the run is created,
  measured on a local server, against half the poll interval on average). When the stream
  is not there (a server with ``PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED=false``, or a proxy
  without websockets) the poll alone takes the runs, as in a stock worker.
* **Stop.** Ctrl-C or SIGTERM stops claiming runs; the runs in progress finish first.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

import anyio
import anyio.abc
from prefect.exceptions import InfrastructureNotAvailable, InfrastructureNotFound
from prefect.workers.base import (
    BaseJobConfiguration,
    BaseVariables,
    BaseWorker,
    BaseWorkerResult,
)

from postflow.serve.warm_thread import (
    ThreadClients,
    execute,
    flow_of,
    ingest_concurrency,
    open_journal,
    pool_flows,
    warm_log,
)

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

    from postflow.serve.warm_journal import RunJournal

__all__ = ["WARM_POOL", "WARM_TYPE", "WarmJobConfiguration", "WarmVariables", "WarmWorker"]

WARM_TYPE = "postflow-warm"
WARM_POOL = "postflow-warm"  # the pool `postflow up` creates when missing (prefect.yaml names it)
# Identifies a thread-run in ``flow_run.infrastructure_pid``: "postflow-warm:<host>:<pid>:<run>".
_ID_PREFIX = f"{WARM_TYPE}:"


class WarmJobConfiguration(BaseJobConfiguration):
    """A run's job configuration: nothing to start, the run is a thread of this process.

    ``env``, ``command``, ``labels`` and ``name`` are Prefect's own fields: ``env`` cannot
    differ between threads of one process, so set the variables on the worker's process.
    """

    @classmethod
    async def resolve_for_flow_run(
        cls,
        flow_run: FlowRun,
        *,
        client: Any,
        work_pool: Any,
        worker_name: str,
        worker_id: UUID | None = None,
        deployment: Any = None,
    ) -> Self:
        """The pool's template with the flow run's own job variables, without reading the
        deployment and the flow as Prefect 3.9.1's does: a thread uses neither, and the two
        reads came before every run's start (their job variables, ``env`` mostly, cannot
        apply to a thread)."""
        configuration = await cls.from_template_and_values(
            base_job_template=work_pool.base_job_template,
            values=dict(flow_run.job_variables or {}),
            client=client,
        )
        configuration.prepare_for_flow_run(
            flow_run=flow_run,
            deployment=deployment,
            work_pool=work_pool,
            worker_name=worker_name,
            worker_id=worker_id,
        )
        return configuration


class WarmVariables(BaseVariables):
    """The pool's variables (its base job template's schema): Prefect's own, nothing more."""


class WarmWorkerResult(BaseWorkerResult):
    """``status_code`` 0 when the engine reported the run's final state itself, 1 when the
    engine failed (the worker then reports the run Crashed)."""


class WarmWorker(BaseWorker[WarmJobConfiguration, WarmVariables, WarmWorkerResult]):
    """A Prefect worker that runs each flow run in a thread of its process.

    Args:
        work_pool_name: the pool to poll (``prefect worker start --pool``).
        limit: runs at once (threads), and so the runs this worker claims at once (a pool's
            other workers, on other machines, take the rest); None:
            ``POSTFLOW_INGEST_CONCURRENCY``.
        *args, **kwargs: the rest of ``BaseWorker`` 's (``name``, ``work_queues``, ...).

    Attributes:
        concurrency: runs at once.
        pool_name: the pool it polls.
        executed: ids of the flow runs this worker handed to the engine, in order.
    """

    type = WARM_TYPE
    cancel_check_seconds = 2.0  # how often runs in progress are checked for Cancel (seconds)
    # Wait before listening for new runs again after the event stream failed (seconds).
    wake_retry_seconds = 30.0
    job_configuration = WarmJobConfiguration
    job_configuration_variables = WarmVariables
    _description = (
        "RL PostFlow: execute flow runs in threads of one long-lived worker process "
        "(no process start per run; cooperative cancel; crash recovery)."
    )
    _display_name = "PostFlow warm"  # the project has no public URL yet: docs/workers.md

    def __init__(self, work_pool_name: str, *args: Any, limit: int | None = None, **kwargs: Any):
        self.concurrency = limit if limit is not None else ingest_concurrency()
        super().__init__(work_pool_name, *args, limit=self.concurrency, **kwargs)
        self.pool_name = work_pool_name
        self._threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="warm-run")
        self._clients = ThreadClients()  # each thread's Prefect client, open from run to run
        self._in_flight: dict[UUID, WarmJobConfiguration] = {}
        self._executions: dict[UUID, Future[int]] = {}  # run id -> its thread's execution
        self._flows: dict[UUID, Any] = {}  # deployment id -> flow object
        self._journal: RunJournal | None = None
        self._next_recovery = 0.0
        self._cancelled: set[UUID] = set()  # in flight, asked to stop
        self._tasks: set[asyncio.Task[Any]] = set()  # the cancel watch, early polls
        self._poll_pending = False  # an early poll is scheduled: another request joins it
        self.executed: list[UUID] = []

    # --- lifecycle -------------------------------------------------------------------------------
    async def setup(self) -> None:
        """Prefect's setup, then the run journal (when the settings load) and a first recovery."""
        await super().setup()
        self._journal = await anyio.to_thread.run_sync(open_journal)
        self._spawn(self._prepare())  # in the background: setup never waits for the API
        await self._recover_due()
        self._spawn(self._watch_cancels())
        self._spawn(self._wake_on_new_runs())
        warm_log().info(  # the line tells an operator, or a test, that this worker takes work now
            "%s: polling for flow runs of pool %r, %d at once",
            self.name,
            self.pool_name,
            self.concurrency,
        )

    async def sync_with_backend(self) -> None:
        """Prefect's heartbeat, and the runs killed workers left, once per lease."""
        await super().sync_with_backend()
        await self._recover_due()

    async def teardown(self, *exc_info: Any) -> None:
        """Wait for the runs in progress, then Prefect's teardown and the journal's close."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._threads.shutdown)
            await anyio.to_thread.run_sync(self._clients.close)
        for task in list(self._tasks):
            task.cancel()
        await super().teardown(*exc_info)
        if self._journal is not None:
            await anyio.to_thread.run_sync(self._journal.close)

    # --- one run ---------------------------------------------------------------------------------
    async def run(
        self,
        flow_run: FlowRun,
        configuration: WarmJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> WarmWorkerResult:
        """Execute ``flow_run`` in a thread; returns when it has ended.

        Reports ``"postflow-warm:<host>:<pid>:<run id>"`` as the run's infrastructure id once
        the thread has it. Shielded: stopping the worker waits for the run. A run that is
        already executing here (suspended from outside and resumed while its thread went on:
        warm runs have no suspension watch, :func:`~postflow.serve.warm_thread.unwatched`) is
        not started a second time: this call waits for that execution and returns its result.

        Raises:
            ImportError, AttributeError: the deployment's entrypoint does not import (Prefect
                then reports the run Crashed).
        """
        identifier = self._identifier(flow_run.id)
        running = self._executions.get(flow_run.id)
        if running is not None:
            warm_log().warning(
                "%s: flow run %s is already executing in this process; not starting it twice",
                self.name,
                flow_run.id,
            )
        else:
            flow = await self._flow_of(flow_run)
            self._in_flight[flow_run.id] = configuration
            self.executed.append(flow_run.id)
            warm_log().info("%s: running flow run %r (%s)", self.name, flow_run.name, flow_run.id)
            running = self._threads.submit(execute, flow, flow_run, self._journal, self._clients)
            self._executions[flow_run.id] = running
        if task_status is not None:
            task_status.started(identifier)  # type: ignore[arg-type]  # Prefect stores str()
        try:
            with anyio.CancelScope(shield=True):
                code = await asyncio.wrap_future(running)
        finally:
            if self._executions.pop(flow_run.id, None) is not None:  # the first of the calls
                self._in_flight.pop(flow_run.id, None)
                self._cancelled.discard(flow_run.id)
            self._poll_soon()
        return WarmWorkerResult(status_code=code, identifier=identifier)

    async def _flow_of(self, flow_run: FlowRun) -> Any:
        """The flow object of the run's deployment, imported once per deployment."""
        if flow_run.deployment_id is None:
            raise InfrastructureNotAvailable(f"flow run {flow_run.id} has no deployment")
        flow = self._flows.get(flow_run.deployment_id)
        if flow is None:
            deployment = await self.client.read_deployment(flow_run.deployment_id)
            flow = await anyio.to_thread.run_sync(flow_of, deployment.entrypoint or "")
            self._flows[flow_run.deployment_id] = flow
        return flow

    async def _prepare(self) -> None:
        """Before polling: import the flows of the pool's deployments and warm every thread
        (:func:`postflow.serve.warm_thread.pool_flows`, :meth:`ThreadClients.warm`), which a
        first run would otherwise do in its slot; never raises."""
        self._flows.update(await anyio.to_thread.run_sync(pool_flows, self.pool_name))
        await anyio.to_thread.run_sync(self._clients.warm, self._threads, self.concurrency)

    async def _give_worker_labels_to_flow_run(self, flow_run_id: UUID) -> None:
        """Nothing: a warm run does not get Prefect's worker labels (``prefect.worker.*``,
        ``prefect.work-pool.*``), one more PATCH per run in Prefect 3.9.1 (a read, a write).
        On the SQLite server ``postflow up`` starts by default that write was the one most
        often answered 503 (31-38 per 20 files in the P6 bench, 3-8 without it). The run says
        the same anyway: its work pool, and ``postflow-warm:<host>:<pid>:<run id>`` in
        ``infrastructure_pid`` (the worker's type, machine and process).
        """
        return None

    def _poll_soon(self) -> None:
        """Poll once more as soon as possible (Prefect polls every
        ``PREFECT_WORKER_QUERY_SECONDS`` otherwise): when a run's slot is free, or a new run of
        the pool was announced. Requests made while one poll waits to start share it; none is
        made while every slot is taken (the next run's end polls)."""
        if self._poll_pending:
            return
        self._poll_pending = True

        async def poll() -> None:
            await anyio.sleep(0)  # a run's slot is released after run() returns
            self._poll_pending = False
            if self.limiter.available_tokens < 1:  # always set: the worker has a limit
                return
            try:
                await self.get_and_submit_flow_runs()
            except Exception as exc:  # noqa: BLE001 - the polling loop tries again anyway
                self._logger.debug("Early poll failed: %s", exc)

        self._spawn(poll())

    async def _wake_on_new_runs(self) -> None:
        """Poll as soon as Prefect announces a run of this pool
        (:func:`postflow.serve.run_events.on_new_runs`); never raises."""
        from postflow.serve.run_events import on_new_runs

        await on_new_runs(
            lambda: self.work_pool, self._poll_soon, f"{self.name}", self.wake_retry_seconds
        )

    def _spawn(self, coroutine: Any) -> None:
        """Run ``coroutine`` on the worker's loop, held until it ends (teardown cancels it)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- cancel ----------------------------------------------------------------------------------
    async def _watch_cancels(self) -> None:
        """Every ``cancel_check_seconds`` while runs are in progress here, ask the API which
        of them are Cancelling (one query) and stop each through :meth:`kill_infrastructure`.

        Prefect 3.9.1's worker leaves a run that has started to its infrastructure (the
        process worker's executor watches its processes; the worker's own observer, off by
        default, only cancels runs that never started): this is that watch for threads.
        """
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterId,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        cancelling = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CANCELLING]))
        while True:
            await anyio.sleep(self.cancel_check_seconds)
            ids = [run_id for run_id in self._in_flight if run_id not in self._cancelled]
            if not ids:
                continue
            try:
                runs = await self.client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids), state=cancelling)
                )
            except Exception as exc:  # noqa: BLE001 - API down: ask again next time
                self._logger.warning("%s: cannot check for cancelled runs: %s", self.name, exc)
                continue
            for run in runs:
                configuration = self._in_flight.get(run.id)
                if configuration is not None:
                    self._cancelled.add(run.id)
                    await self.kill_infrastructure(self._identifier(run.id), configuration)

    async def kill_infrastructure(
        self,
        infrastructure_pid: str,
        configuration: WarmJobConfiguration,
        grace_seconds: int = 30,
    ) -> None:
        """Ask the thread-run ``infrastructure_pid`` names to stop (its cancel flag).

        The run stops cooperatively, at its upload's next block or Frame.io call;
        ``grace_seconds`` is not used.

        Raises:
            InfrastructureNotAvailable: the run is another process's (or not a warm run).
            InfrastructureNotFound: it is this process's but no longer runs.
        """
        from tasks.platform.cancellation import request_cancel

        prefix, _, run_id = infrastructure_pid.rpartition(":")
        if prefix != self._identifier(UUID(int=0)).rpartition(":")[0]:
            raise InfrastructureNotAvailable(
                f"{infrastructure_pid!r} is not a run of this worker process"
            )
        if UUID(run_id) not in self._in_flight:
            raise InfrastructureNotFound(f"flow run {run_id} no longer runs here")
        request_cancel(run_id)
        self._logger.warning(
            "%s: flow run %s was cancelled; stopping its ingest", self.name, run_id
        )

    # --- helpers ---------------------------------------------------------------------------------
    def _identifier(self, run_id: UUID) -> str:
        return f"{_ID_PREFIX}{socket.gethostname()}:{os.getpid()}:{run_id}"

    async def _recover_due(self) -> None:
        """Recover what killed workers left (never raises), when a lease has gone by."""
        from postflow.serve.warm_journal import recover_stranded_runs

        journal = self._journal
        if journal is None or time.monotonic() < self._next_recovery:
            return
        self._next_recovery = time.monotonic() + journal.lease_seconds

        def recover() -> None:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                recover_stranded_runs(client, journal)

        try:
            await anyio.to_thread.run_sync(recover)
        except Exception as exc:  # noqa: BLE001 - API or store down: the journal keeps them
            self._logger.warning("Cannot recover runs a killed worker left: %s", exc)
