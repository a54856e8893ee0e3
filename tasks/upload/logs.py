"""The upload's logger: the Prefect run logger inside a run, ``postflow.upload`` outside.

Inside a flow or task run, lines logged through :func:`prefect.get_run_logger` reach the run's
logs in the Prefect UI
(https://docs.prefect.io/v3/api-ref/python/prefect-logging-loggers); outside a run (the
``postflow upload-test`` command, the benchmark) there is no run context and the stdlib
logger ``postflow.upload`` is used instead.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from core.logs import run_logger

__all__ = ["upload_logger"]


def upload_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The logger for upload messages in the current context.

    Take it in the task's own thread: worker threads (part PUTs, the fingerprint reader) have no
    Prefect run context, and a logger looked up there would not reach the run's logs.

    Returns:
        Prefect's run logger in a flow/task run, else ``run_logger("postflow.upload")``.
    """
    try:
        return get_run_logger()
    except MissingContextError:
        return run_logger("postflow.upload")
