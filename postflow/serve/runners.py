"""How ``postflow up`` executes its deployments: a Prefect worker per work pool, in one process.

Each deployment stays on the work pool ``prefect.yaml`` names (so ``prefect deploy`` and ``up``
agree), and ``up`` runs one worker per pool, in one event loop:

* ``postflow-warm`` (``ingest-file``): a :class:`postflow.serve.warm_worker.WarmWorker`, each
  run in a thread of this process, ``POSTFLOW_INGEST_CONCURRENCY`` at a time (no process start
  per file);
* ``postflow-process`` (the sensor, the weekly report, reruns): Prefect's stock
  ``ProcessWorker``, one process per run (the sensor is one long run; a process of its own keeps
  it cancellable from the UI).

A pool that does not exist is created with its type (:func:`ensure_pools`); an existing pool is
never changed. Both workers show on the UI's Work Pools page with their heartbeats.
"""

from __future__ import annotations

import asyncio
import signal
from types import MappingProxyType
from typing import Any

from core.errors import ConfigurationError

__all__ = ["POOL_TYPES", "ensure_pools", "serve_deployments"]

# The pools prefect.yaml names, and the worker type of each (postflow.serve.warm_worker.WARM_TYPE).
POOL_TYPES = MappingProxyType({"postflow-warm": "postflow-warm", "postflow-process": "process"})
# How often the warm worker `up` starts asks for runs (seconds) unless
# PREFECT_WORKER_QUERY_SECONDS is set: Prefect's default, 10 s, would be a file's wait to start.
QUERY_SECONDS = 1.0
# Longest wait, when `up` stops, for the process runs it cancels to end (seconds).
STOP_WAIT_SECONDS = 30.0


def ensure_pools(deployments: list[Any]) -> dict[str, str]:
    """Create each work pool the deployments name that does not exist yet; returns
    ``{pool name: type}``. Only the pools of :data:`POOL_TYPES` are created, with Prefect's
    default base job template of their type; an existing pool is left as it is.

    Raises:
        ConfigurationError: a deployment names a pool that is neither ours nor existing, or
            one of ours exists with another type.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.base import BaseWorker

    pools: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        for name in sorted({d.work_pool_name for d in deployments if d.work_pool_name}):
            try:
                pools[name] = client.read_work_pool(name).type
            except ObjectNotFound:
                if name not in POOL_TYPES:
                    raise ConfigurationError(
                        f"work pool {name!r} does not exist; create it "
                        f"(prefect work-pool create {name} --type ...)"
                    ) from None
                worker = BaseWorker.get_worker_class_from_type(POOL_TYPES[name])
                template = worker.get_default_base_job_template() if worker else {}
                client.create_work_pool(
                    WorkPoolCreate(name=name, type=POOL_TYPES[name], base_job_template=template)
                )
                pools[name] = POOL_TYPES[name]
            if name in POOL_TYPES and pools[name] != POOL_TYPES[name]:
                raise ConfigurationError(
                    f"work pool {name!r} is of type {pools[name]!r}, not {POOL_TYPES[name]!r}: "
                    f"delete it or point prefect.yaml's deployments at another pool"
                )
    return pools


def serve_deployments(
    deployments: list[Any], limit: int | None = None, ingest_concurrency: int | None = None
) -> None:
    """Run a worker per pool of ``deployments`` until Ctrl-C or SIGTERM.

    Creates the missing pools (:func:`ensure_pools`), then runs their workers in this
    process: the warm pool's ``ingest_concurrency`` runs at once in threads, a process
    pool's ``limit`` runs at once, each in a process. On Ctrl-C or SIGTERM the workers stop
    claiming runs; warm runs in progress finish, a process pool's runs that this process
    started are cancelled (Cancelled in the UI; the sensor's run, typically). Returns once
    everything has stopped.

    Args:
        deployments: registered ``RunnerDeployment`` s
            (:func:`postflow.serve.deployments.load_deployments`, ``apply_deployments``).
        limit: runs at once of a process pool; None: no limit.
        ingest_concurrency: warm runs at once; None: ``POSTFLOW_INGEST_CONCURRENCY``.

    Raises:
        ConfigurationError: see :func:`ensure_pools`.
    """
    from prefect.workers.base import BaseWorker

    pools = ensure_pools(deployments)
    workers = []
    for name, pool_type in pools.items():
        worker_class = BaseWorker.get_worker_class_from_type(pool_type)
        if worker_class is None:
            raise ConfigurationError(f"work pool {name!r}: no worker of type {pool_type!r} here")
        warm = pool_type == POOL_TYPES["postflow-warm"]
        workers.append(
            worker_class(work_pool_name=name, limit=ingest_concurrency if warm else limit)
        )
    asyncio.run(_run_workers(workers))


async def _run_workers(workers: list[Any]) -> None:
    """Run ``workers`` until SIGINT or SIGTERM; then cancel the process runs they started
    (:func:`_cancel_process_runs`) and stop them all (each tears down)."""
    import anyio

    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        for worker in workers:
            with _query_settings(worker):  # the task takes a copy of the context now
                group.start_soon(worker.start)
        await stop.wait()
        pools = [w.work_pool.name for w in workers if w.type == "process" and w.is_setup]
        with anyio.move_on_after(STOP_WAIT_SECONDS):
            await _cancel_process_runs(pools)
        group.cancel_scope.cancel()


def _query_settings(worker: Any) -> Any:
    """Prefect settings the worker starts with: the warm worker asks for runs every
    :data:`QUERY_SECONDS` unless ``PREFECT_WORKER_QUERY_SECONDS`` is set; the process worker
    keeps Prefect's 10 s (its runs, the sensor's, exist before it starts or are weekly)."""
    import os

    from prefect.settings import PREFECT_WORKER_QUERY_SECONDS, temporary_settings

    warm = worker.type == POOL_TYPES["postflow-warm"]
    if not warm or os.environ.get("PREFECT_WORKER_QUERY_SECONDS"):
        return temporary_settings(updates={})
    return temporary_settings(updates={PREFECT_WORKER_QUERY_SECONDS: QUERY_SECONDS})


async def _cancel_process_runs(pools: list[str]) -> None:
    """Set Cancelling the Pending or Running runs of ``pools`` whose process is a child of
    this one (the sensor's run) and wait until they end: Prefect's process worker then stops
    each process and reports the run Cancelled, so the next ``up`` starts a new sensor run
    instead of finding one left Running by a process that is gone."""
    import anyio
    import psutil
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelling

    if not pools:
        return
    ours = {str(child.pid) for child in psutil.Process().children(recursive=True)}
    live = FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
    )
    async with get_client() as client:
        runs = await client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=pools)),
            flow_run_filter=FlowRunFilter(state=live),
        )
        runs = [r for r in runs if str(r.infrastructure_pid or "").rpartition(":")[2] in ours]
        for run in runs:
            message = "postflow up stopped"
            await client.set_flow_run_state(run.id, Cancelling(message=message), force=True)
        while runs:
            await anyio.sleep(0.5)
            runs = [r for r in runs if not (await client.read_flow_run(r.id)).state.is_final()]
