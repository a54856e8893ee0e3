"""How ``postflow up`` executes its deployments: ingests warm, the others with Prefect's Runner.

* ``ingest-file`` runs execute in the ``up`` process, ``POSTFLOW_INGEST_CONCURRENCY`` at a time
  (:class:`postflow.serve.warm.WarmRunner`), so a file costs no process start;
* the sensor, the weekly report and reruns go to ``prefect.serve``'s ``Runner``, one process
  per run (the sensor is one long run; a process of its own keeps it cancellable from the UI).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.settings import PostflowSettings

__all__ = ["WARM_DEPLOYMENTS", "serve_deployments", "start_warm_runner"]

WARM_DEPLOYMENTS = ("ingest-file",)


def start_warm_runner(
    deployments: list[Any], concurrency: int, settings: PostflowSettings | None = None
) -> Any:
    """A :class:`postflow.serve.warm.WarmRunner` for ``deployments``, polling; None when empty.

    With ``settings``, the runner journals its runs in their state store, under a lease of
    ``runner_lease_seconds``, and recovers the runs that killed ``up`` s left, on this machine
    or another sharing the store (:mod:`postflow.serve.warm_journal`).

    Raises:
        prefect.exceptions.ObjectNotFound: a deployment is not registered
            (:func:`apply_deployments` first).
    """
    from prefect.client.orchestration import get_client

    from postflow.serve.warm import WarmRunner
    from postflow.serve.warm_journal import RunJournal

    if not deployments:
        return None
    flows = {}
    with get_client(sync_client=True) as client:
        for deployment in deployments:
            registered = client.read_deployment_by_name(f"{deployment.flow_name}/{deployment.name}")
            flows[registered.id] = _flow_of(deployment.entrypoint)
    name = f"{socket.gethostname()}:{os.getpid()}"
    journal = None
    if settings is not None:
        from blocks.store import open_store

        lease = settings.runner_lease_seconds
        journal = RunJournal(open_store(settings), lease_seconds=lease)
    return WarmRunner(flows, concurrency, name=name, journal=journal).start()


def _flow_of(entrypoint: str) -> Any:
    """The flow object of a project entrypoint (``"flows/ingest.py:ingest_file"``), imported
    as its module (``flows.ingest``) so that it is the same object this process already uses."""
    import importlib

    path, colon, name = entrypoint.partition(":")
    if not colon:  # module form, "flows.ingest.ingest_file" (postflow.serve.up.module_entrypoint)
        path, _, name = entrypoint.rpartition(".")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def serve_deployments(
    deployments: list[Any], limit: int | None = None, ingest_concurrency: int | None = None
) -> None:
    """Serve ``deployments`` until Ctrl-C or SIGTERM: ingests warm, the others with a Runner.

    The ``ingest-file`` runs execute in this process, ``ingest_concurrency`` at a time
    (:class:`postflow.serve.warm.WarmRunner`: no process start per file). The other deployments
    (the long-running sensor, the weekly report, reruns) go to ``prefect.serve``'s
    ``Runner``, one process per run, at most ``limit`` at once, with a stop that leaves no
    run behind: prefect 3.8.8's ``Runner.handle_sigterm`` calls the async ``stop()`` from
    inside the event loop without awaiting it, so on SIGTERM the runs it executes (the
    sensor) were killed but stayed Running on the server. Here SIGTERM and Ctrl-C schedule
    ``Runner.astop()`` on the runner's loop: each run in progress is cancelled, the loops
    end, and the runner pauses the schedules, as ``serve`` does. Warm ingests in progress are
    allowed to finish. Returns once everything has stopped.

    Args:
        deployments: ``RunnerDeployment`` s (:func:`load_deployments`).
        limit: runs at once of the Runner's deployments; None: no limit.
        ingest_concurrency: ingests at once; None: ``POSTFLOW_INGEST_CONCURRENCY``.
    """
    from config.settings import PostflowSettings

    settings = PostflowSettings()
    if ingest_concurrency is None:
        ingest_concurrency = settings.ingest_concurrency
    warm = [d for d in deployments if d.name in WARM_DEPLOYMENTS]
    served = [d for d in deployments if d.name not in WARM_DEPLOYMENTS]
    runner = start_warm_runner(warm, ingest_concurrency, settings)
    try:
        if served:
            _serve_with_runner(served, limit)
        else:
            _wait_for_signal()
    finally:
        if runner is not None:
            runner.stop()


def _wait_for_signal() -> None:
    """Block until Ctrl-C (KeyboardInterrupt) or SIGTERM (:func:`exit_on_sigterm`)."""
    from postflow.serve.prefect_server import exit_on_sigterm

    exit_on_sigterm()
    stopped = threading.Event()
    try:
        while not stopped.wait(3600):
            pass
    except KeyboardInterrupt:
        return
    except SystemExit as exc:
        if exc.code != 128 + signal.SIGTERM:
            raise


def _serve_with_runner(deployments: list[Any], limit: int | None) -> None:
    import asyncio

    from prefect.runner import Runner

    class _Runner(Runner):
        def handle_sigterm(self, signum: int = signal.SIGTERM, *_args: Any) -> None:
            loop = self._loop
            if not self.started or loop is None or not loop.is_running():
                raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)
            if getattr(self, "_postflow_stopping", False):
                return
            self._postflow_stopping = True
            self._logger.info("Stopping: cancelling runs in progress, pausing schedules ...")
            loop.call_soon_threadsafe(lambda: loop.create_task(self.astop()))

    runner = _Runner(pause_on_shutdown=True, limit=limit)
    for deployment in deployments:
        deployment.work_pool_name = None  # served here, as prefect.serve does
        runner.add_deployment(deployment)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, runner.handle_sigterm)  # runner.start() takes SIGTERM
    asyncio.run(runner.start())
