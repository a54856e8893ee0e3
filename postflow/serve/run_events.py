"""A worker's wake-up call: Prefect's event for each new run of its work pool.

Prefect's workers poll (``PREFECT_WORKER_QUERY_SECONDS``); a run created just after a poll
waits for the next one, half the interval on average. The server also announces every run it
creates on its event stream, ``prefect.flow-run.Scheduled`` with the run's work pool among the
related resources (Prefect 3.9.1 ``prefect.server.models.events.flow_run_state_change_event``),
about 20 ms after the create (measured on a local server): :func:`on_new_runs` calls back on
each, and the worker polls at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from postflow.serve.warm_thread import warm_log

__all__ = ["on_new_runs"]


async def on_new_runs(
    work_pool: Callable[[], Any],
    wake: Callable[[], None],
    name: str,
    retry_seconds: float,
) -> None:
    """Call ``wake()`` for each ``prefect.flow-run.Scheduled`` event of the pool, for ever.

    Listens on ``/api/events/out`` (``prefect.events.clients.get_events_subscriber``, which
    reconnects by itself). When the stream cannot be had (a server with
    ``PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED=false``, a proxy without websockets), says so
    once in the log and tries again after ``retry_seconds``: the poll alone takes the runs
    meanwhile. Never raises; cancel the task to stop it.

    Args:
        work_pool: the worker's pool (``BaseWorker.work_pool``); raises RuntimeError until
            the worker's first sync with the API, which is waited for.
        wake: called on the event loop for each new run.
        name: the worker's name, for the log.
        retry_seconds: wait before listening again after the stream failed (seconds).
    """
    from prefect.events.clients import get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    pool = None
    while pool is None:
        try:
            pool = work_pool()
        except RuntimeError:  # the API was down at setup: wait for the first sync
            await anyio.sleep(1)
    wanted = EventFilter(
        event=EventNameFilter(name=["prefect.flow-run.Scheduled"]),
        related=EventRelatedFilter(id=[f"prefect.work-pool.{pool.id}"]),
    )
    told = False
    while True:
        try:
            async with get_events_subscriber(
                filter=wanted, reconnect_on_clean_close=True
            ) as events:
                warm_log().info(
                    "%s: woken by new runs of pool %r (Prefect events)", name, pool.name
                )
                told = False
                async for _ in events:
                    wake()
        except Exception as exc:  # noqa: BLE001 - the poll alone still takes the runs
            if not told:
                warm_log().info(
                    "%s: no event stream from the Prefect API (%s); polling only, "
                    "every PREFECT_WORKER_QUERY_SECONDS",
                    name,
                    exc,
                )
            told = True
        await anyio.sleep(retry_seconds)
