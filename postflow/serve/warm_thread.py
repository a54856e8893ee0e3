"""What one ``postflow-warm`` thread-run does, and what the worker needs to start
(:mod:`postflow.serve.warm_worker`): the flow of an entrypoint, the engine call in a thread, the
run journal, the ingest concurrency.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

    from postflow.serve.warm_journal import RunJournal

__all__ = [
    "ThreadClients",
    "execute",
    "flow_of",
    "ingest_concurrency",
    "open_journal",
    "pool_flows",
    "preload",
    "unwatched",
    "warm_log",
]


def warm_log() -> Any:
    """The ``postflow.serve.warm`` logger (shown at INFO, like the rest of ours)."""
    from core.logs import run_logger

    return run_logger("postflow.serve.warm")


def ingest_concurrency() -> int:
    """``POSTFLOW_INGEST_CONCURRENCY``, or its default when the settings do not load."""
    from config.settings import PostflowSettings

    try:
        return PostflowSettings().ingest_concurrency
    except ValueError:  # pydantic's ValidationError: `postflow doctor` says what is wrong
        return int(PostflowSettings.model_fields["ingest_concurrency"].default)


def open_journal() -> RunJournal | None:
    """The run journal in the settings' state store; None (logged) when it cannot open."""
    from blocks.store import open_store
    from config.settings import PostflowSettings
    from postflow.serve.warm_journal import RunJournal

    try:
        settings = PostflowSettings()
        journal = RunJournal(open_store(settings), lease_seconds=settings.runner_lease_seconds)
    except (ValueError, OSError) as exc:
        warm_log().warning("No crash recovery: cannot open the store: %s", exc)
        return None
    return journal.start_heartbeat()


class ThreadClients:
    """One Prefect API client per worker thread, kept open from run to run.

    Prefect's engine takes the client of the current ``prefect.context.SyncClientContext``
    and makes (and closes) one per run when there is none (Prefect 3.9.1
    ``FlowRunEngine.initialize_run``: ``SyncClientContext.get_or_create()``): a new httpx
    client, its TLS context, a version check and a CSRF token call before each run's first
    request. :meth:`enter` sets a context that stays for the thread's later runs (a thread's
    context variables outlive the function a ``ThreadPoolExecutor`` ran), so a run starts on
    an open connection. :meth:`close` closes them all once the threads are done.
    """

    def __init__(self) -> None:
        self._contexts: dict[int, Any] = {}  # thread id -> its entered SyncClientContext

    def enter(self) -> None:
        """Make this thread's client the current one: created and entered on first use."""
        import contextlib
        import threading

        from prefect.context import SyncClientContext

        ident = threading.get_ident()
        if ident not in self._contexts:
            context = SyncClientContext()
            try:
                context.__enter__()  # left entered: the next run in this thread finds it
            except BaseException:  # API down (version check): no half-open client left
                with contextlib.suppress(Exception):
                    context.client.__exit__(None, None, None)
                raise
            self._contexts[ident] = context

    def warm(self, pool: ThreadPoolExecutor, count: int, timeout_seconds: float = 30.0) -> int:
        """Before the first run: start ``count`` threads of ``pool`` (its ``max_workers``; with
        fewer, this waits ``timeout_seconds`` and readies none) and do in each what its first
        run would do once (:meth:`enter`: a client, its version check and CSRF call; Prefect's
        first temporary settings), and import what a first run imports (:func:`preload`).
        Returns how many threads are ready. Never raises and never waits for Prefect's
        retries (they are off here): a thread that could not be readied does it at its first
        run, which reports what is wrong.

        In the P6 benchmark a thread's first run took 0.54 s from the worker's hand-over to
        the flow's first line, later runs 0.12-0.14 s: the first files of a batch waited
        for it.
        """
        import threading

        from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

        try:
            from flows.ingest import ingest_run_settings

            preload()
        except Exception as exc:  # noqa: BLE001 - a broken flow module fails its runs
            warm_log().info("Warm threads not readied: %s", exc)
            return 0
        barrier = threading.Barrier(count)

        def one() -> None:
            barrier.wait(timeout_seconds)  # each call holds its thread: `count` threads
            with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
                self.enter()
            with ingest_run_settings():
                pass

        ready, problems = 0, set()
        for future in [pool.submit(one) for _ in range(count)]:
            try:
                future.result()
                ready += 1
            except Exception as exc:  # noqa: BLE001 - API down: the first run opens it
                problems.add(f"{type(exc).__name__}: {exc}")
        if problems:
            warm_log().info(
                "%d of %d warm threads not readied before their first run: %s",
                count - ready,
                count,
                "; ".join(sorted(problems)),
            )
        return ready

    def open_clients(self) -> list[Any]:
        """The clients open now, one per thread that entered (``SyncPrefectClient``)."""
        return [context.client for context in list(self._contexts.values())]

    def close(self) -> None:
        """Close every thread's client (the threads are done: their contexts die with them)."""
        contexts, self._contexts = self._contexts, {}
        for context in contexts.values():
            try:
                context.client.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - closing a broken connection
                warm_log().debug("Closing a warm thread's Prefect client: %s", exc)


# What the first run of a process imports beyond the worker's own imports (seen in the P6
# benchmark: the SDK's clients on first use, the task engine, and graphviz through
# ``Task.__call__``): 0.07 s, in a run's slot, for the first run only.
_FIRST_RUN_IMPORTS = (
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "frameio.projects.client",
    "frameio.folders.client",
    "frameio.files.client",
    "frameio.version_stacks.client",
)


def preload() -> None:
    """Import what a process's first ingest run imports (never raises)."""
    import importlib

    for name in _FIRST_RUN_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a module that moved or fails: the run says
            warm_log().debug("Not preloaded: %s", exc)


def execute(
    flow: Any, flow_run: FlowRun, journal: RunJournal | None, clients: ThreadClients | None = None
) -> int:
    """Run ``flow_run`` with Prefect's engine in this thread; 0 when the engine reported its
    end, 1 when the engine itself failed (logged). The run is in ``journal`` meanwhile; with
    ``clients``, it uses this thread's open API client (:class:`ThreadClients`)."""
    from prefect.flow_engine import run_flow

    from flows.ingest import ingest_run_settings
    from tasks.platform.cancellation import clear_cancel

    if journal is not None:
        journal.add(flow_run.id)
    try:
        if clients is not None:
            clients.enter()
        with ingest_run_settings():  # ingest runs: heartbeats as configured (none by default)
            state = run_flow(flow, flow_run=unwatched(flow_run), return_type="state")
        if state is not None and state.is_cancelling():
            end_cancelled(flow_run.id)
        return 0
    except Exception as exc:  # noqa: BLE001 - the engine failed, not the flow: report Crashed
        warm_log().error("flow run %s: %s", flow_run.id, exc)
        return 1
    finally:
        clear_cancel(str(flow_run.id))
        if journal is not None:
            journal.remove(flow_run.id)


def unwatched(flow_run: FlowRun) -> FlowRun:
    """A copy of ``flow_run`` without its deployment id, for ``run_flow``: so that Prefect's
    engine does not start its suspension watch for the run.

    Prefect 3.9.1's engine watches each deployment run for a ``Suspended`` state
    (``FlowRunEngine.setup_flow_run_suspension_request``: a new thread with its own event
    loop, API client and events websocket, started before the flow and joined after it, in
    0.2 s steps). In the P6 benchmark that was 40-56 ms before each run's flow and 40-90 ms
    after it (185 ms for a thread's first run), while the run held one of the worker's slots.
    An ingest run is never suspended (a Cancel stops it: :meth:`WarmWorker.kill_infrastructure`),
    so a warm run goes without it: a run suspended from outside would go on to its end.

    The engine reads the run back from the API before the flow starts
    (``setup_run_context``), so the flow sees its deployment (``prefect.runtime.deployment``)
    and its parameters; only state hooks that fire before that (``on_running`` of a first
    attempt, a crash in ``begin_run``) would see the copy (the ingest flow has none).
    """
    return flow_run.model_copy(update={"deployment_id": None})


def pool_flows(pool_name: str) -> dict[UUID, Any]:
    """``{deployment id: flow}`` of the deployments of work pool ``pool_name``, each flow
    imported (:func:`flow_of`). Never raises, and does not wait for Prefect's retries: a
    deployment whose flow does not import is left out (its runs report it), and an API that
    does not answer gives ``{}``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool_name]))
    try:
        with (
            temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}),
            get_client(sync_client=True) as client,
        ):
            deployments = client.read_deployments(work_pool_filter=pool)
    except Exception as exc:  # noqa: BLE001 - API down: the first runs import them
        warm_log().info("Flows of pool %s not preloaded: %s", pool_name, exc)
        return {}
    flows: dict[UUID, Any] = {}
    for deployment in deployments:
        try:
            flows[deployment.id] = flow_of(deployment.entrypoint or "")
        except Exception as exc:  # noqa: BLE001 - reported by that deployment's runs
            warm_log().debug("Flow of deployment %s not preloaded: %s", deployment.name, exc)
    return flows


def flow_of(entrypoint: str) -> Any:
    """The flow object of a deployment's entrypoint, imported as its module.

    ``"flows/ingest.py:ingest_file"`` (``prefect deploy``) and ``"flows.ingest.ingest_file"``
    (``postflow up``, :func:`postflow.serve.deployments.module_entrypoint`) both give
    ``flows.ingest.ingest_file``, the object this process already uses (no second copy of the
    module, as loading the file by path would make).

    Raises:
        ImportError: the module does not import. AttributeError: it has no such flow.
    """
    import importlib

    path, colon, name = entrypoint.partition(":")
    if not colon:
        path, _, name = entrypoint.rpartition(".")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def end_cancelled(run_id: UUID) -> None:
    """End a run the engine left Cancelling: the server refuses any end but Cancelled to a
    Cancelling run (Prefect 3.8.8 ``EnforceCancellingToCancelledTransition``), so the
    engine's last proposal was rejected and it would show Cancelling for ever."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelled(message="Cancelled while it ran in a thread"))
