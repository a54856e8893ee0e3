"""How ``postflow up`` executes its deployments: a Prefect worker per work pool, in one process.

Each deployment stays on the work pool ``prefect.yaml`` names (so ``prefect deploy`` and ``up``
agree), and ``up`` runs one worker per pool, in one event loop:

* ``postflow-warm`` (``ingest-file``): a :class:`postflow.warm_worker.WarmWorker`, each run in a
  thread of this process, ``POSTFLOW_INGEST_CONCURRENCY`` at a time (no process start per file);
* ``postflow-process`` (the sensor, the weekly report, reruns): Prefect's stock
  ``ProcessWorker``, one process per run (the sensor is one long run; a process of its own keeps
  it cancellable from the UI).

A pool that does not exist is created with its type (:func:`ensure_pools`); an existing pool is
never changed. Both workers show on the UI's Work Pools page with their heartbeats.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from core.errors import ConfigurationError

__all__ = ["POOL_TYPES", "ensure_pools", "serve_deployments"]

# The pools prefect.yaml names, and the worker type of each (postflow.warm_worker.WARM_TYPE).
POOL_TYPES = {"postflow-warm": "postflow-warm", "postflow-process": "process"}
# How often the workers `up` starts ask for runs (seconds) unless PREFECT_WORKER_QUERY_SECONDS
# is set: Prefect's default, 10 s, would be each file's wait before it starts.
QUERY_SECONDS = 1.0


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
    claiming runs; warm runs in progress finish, a process pool's runs are stopped by
    Prefect's process manager. Returns once everything has stopped.

    Args:
        deployments: registered ``RunnerDeployment`` s
            (:func:`postflow.deployments.load_deployments`, ``apply_deployments``).
        limit: runs at once of a process pool; None: no limit.
        ingest_concurrency: warm runs at once; None: ``POSTFLOW_INGEST_CONCURRENCY``.

    Raises:
        ConfigurationError: see :func:`ensure_pools`.
    """
    import os

    from prefect.settings import PREFECT_WORKER_QUERY_SECONDS, temporary_settings
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
    query = float(os.environ.get("PREFECT_WORKER_QUERY_SECONDS") or QUERY_SECONDS)
    with temporary_settings(updates={PREFECT_WORKER_QUERY_SECONDS: query}):
        asyncio.run(_run_workers(workers))


async def _run_workers(workers: list[Any]) -> None:
    """Run ``workers`` until SIGINT or SIGTERM, then stop them all (each tears down)."""
    import anyio

    async with anyio.create_task_group() as group:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, group.cancel_scope.cancel)
        for worker in workers:
            group.start_soon(worker.start)
