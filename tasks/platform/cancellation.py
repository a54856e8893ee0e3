"""Cancelling an ingest that runs in a thread: a flag per flow run, checked while it uploads.

Under ``postflow up`` an ingest run is a thread of a ``postflow-warm`` worker
(:mod:`postflow.serve.warm_worker`), and a thread cannot be killed the way Prefect's process worker
kills a run's process. So the worker watches its runs for the Cancelling state the UI's Cancel
button sets, and calls :func:`request_cancel` (its ``kill_infrastructure``); the upload checks
:func:`cancel_check` with every block of bytes it sends and while it waits for Frame.io, and
stops with :class:`core.errors.IngestCancelled`.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import IngestCancelled
from core.runtime import current_runtime

__all__ = ["cancel_check", "clear_cancel", "request_cancel"]


def _requested() -> dict[str, bool]:
    """The flow runs asked to stop, in the current runtime (a dict's item operations are
    atomic, so threads share it without a lock)."""
    return current_runtime().registry("cancel-requests")


def request_cancel(flow_run_id: str) -> None:
    """Ask the ingest of flow run ``flow_run_id`` (in this process) to stop."""
    _requested()[flow_run_id] = True


def clear_cancel(flow_run_id: str) -> None:
    """Forget a request (the run ended)."""
    _requested().pop(flow_run_id, None)


def cancel_check() -> Callable[[], None]:
    """A check for the flow run this thread is in: it raises once that run is cancelled.

    Call this in the run's own thread (it reads Prefect's run context); the check it returns
    may then run in any thread (the part uploader's). Outside a flow run it never raises.

    Raises (the returned check):
        IngestCancelled: :func:`request_cancel` was called for the run.
    """
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None:
        return lambda: None
    run_id = str(run.id)
    requested = _requested()

    def check() -> None:
        if run_id in requested:
            raise IngestCancelled(run_id)

    return check
