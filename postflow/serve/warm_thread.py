"""What one ``postflow-warm`` thread-run does, and what the worker needs to start
(:mod:`postflow.serve.warm_worker`): the flow of an entrypoint, the engine call in a thread, the
run journal, the ingest concurrency.
"""

from __future__ import annotations

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

    def close(self) -> None:
        """Close every thread's client (the threads are done: their contexts die with them)."""
        contexts, self._contexts = self._contexts, {}
        for context in contexts.values():
            try:
                context.client.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - closing a broken connection
                warm_log().debug("Closing a warm thread's Prefect client: %s", exc)


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
            state = run_flow(flow, flow_run=flow_run, return_type="state")
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
