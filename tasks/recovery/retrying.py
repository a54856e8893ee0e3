"""Retry policy shared by the pipeline's Prefect tasks: transient errors only, with backoff.

Prefect does the retrying (``@task(retries=..., retry_delay_seconds=exponential_backoff(...),
retry_jitter_factor=..., retry_condition_fn=retry_transient)``); this module decides *whether*
a failure is worth it (:func:`core.errors.is_transient`) and makes the wait honour a
server's ``Retry-After`` when that is longer than Prefect's scheduled delay.
"""

from __future__ import annotations

import time
from typing import Any

from prefect.tasks import exponential_backoff

from core.errors import is_transient, retry_after_of

MAX_RETRY_AFTER_SECONDS = 120.0


def failure_exception(state: Any) -> BaseException | None:
    """Return the exception held by a Failed Prefect state, or None."""
    try:
        value = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - a state whose result cannot be read
        return exc
    return value if isinstance(value, BaseException) else None


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry 429/5xx/network failures, never permanent ones.

    When the error carries ``retry_after_seconds`` (a 429 that outlasted the in-call waits),
    sleep that long (capped at 120 s) before Prefect's own backoff delay starts, so the
    server's request is honoured.

    Returns:
        True to let Prefect retry, False to fail the task run now.
    """
    exc = failure_exception(state)
    if exc is None or not is_transient(exc):
        return False
    wait = retry_after_of(exc)
    if wait:
        time.sleep(min(wait, MAX_RETRY_AFTER_SECONDS))
    return True


def retry_options(retries: int, backoff_seconds: float) -> dict[str, Any]:
    """Keyword arguments for ``task.with_options`` from settings.

    Args:
        retries: number of retries of a transient failure.
        backoff_seconds: first delay in seconds; doubles on each retry, with +-50 % jitter.
    """
    delays = exponential_backoff(backoff_factor=backoff_seconds)(retries) if retries else 0
    return {
        "retries": retries,
        "retry_delay_seconds": delays,
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_transient,
    }
