"""Our stdlib loggers (``postflow.*``) in the Prefect UI: a record logged inside a flow or task
run is also sent to that run's logs; every record still goes to the console, once.

Prefect's own way to attach a library's loggers to run logs is the setting
``PREFECT_LOGGING_EXTRA_LOGGERS``: ``setup_logging()`` gives each named logger the handlers of
its ``prefect.extra`` logger, an :class:`~prefect.logging.handlers.APILogHandler`
(https://docs.prefect.io/v3/advanced/logging-customization and Prefect's
``src/prefect/logging/logging.yml``). Used alone it has three gaps,
so :func:`route_to_run_logs` does the same for the ``postflow`` logger, from code:

* it depends on each user's environment (profile or variable), and worker processes that load
  ``flows/ingest.py`` by path would need it too; here, importing a module that logs is enough:
  every ``postflow.*`` logger is created by :func:`run_logger`, which calls
  :func:`route_to_run_logs` (so a process with a logger that can log to a run has it routed,
  and a process without one, ``postflow --help``, never imports Prefect);
* it leaves the logger's level alone, so INFO lines fall to the root logger's WARNING and are
  dropped; here the level is set to INFO unless a logging configuration already set one
  (a ``postflow`` entry in a ``PREFECT_LOGGING_SETTINGS_PATH`` file wins);
* the API handler warns for every record logged outside a run
  (``PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW=warn``: the Range server's and the tunnel
  monitor's threads, the CLI), which pytest turns into errors; here a filter keeps only the
  records of a run, and the others reach the console only.

The console is the root logger's handler (Prefect's ``logging.yml``); ``postflow`` propagates to
it and has no console handler of its own, so no line is printed twice.
"""

from __future__ import annotations

import logging

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.configuration import ensure_logging_setup
from prefect.logging.handlers import APILogHandler

__all__ = ["LOGGER_NAME", "route_to_run_logs", "run_logger"]

LOGGER_NAME = "postflow"


class _InsideARun(logging.Filter):
    """Pass records that belong to a flow or task run: logged inside one, or carrying its id
    (what :meth:`APILogHandler.prepare` accepts without warning)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            getattr(record, "flow_run_id", None) is not None
            or FlowRunContext.get() is not None
            or TaskRunContext.get() is not None
        )


def route_to_run_logs(name: str = LOGGER_NAME) -> logging.Logger:
    """Send the records of logger ``name`` and its children to the current run's logs too.

    Idempotent: the logger gets one API handler, whether from an earlier call or from
    ``PREFECT_LOGGING_EXTRA_LOGGERS``. Prefect's logging is configured first (as at
    ``import prefect``), so a later ``setup_logging()`` is incremental and keeps the handler.

    Args:
        name: the parent logger of ours.

    Returns:
        The configured logger.
    """
    ensure_logging_setup()
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not any(isinstance(handler, APILogHandler) for handler in logger.handlers):
        handler = APILogHandler()
        handler.addFilter(_InsideARun())
        logger.addHandler(handler)
    return logger


def run_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` for a logger of ours, with :func:`route_to_run_logs` done.

    The one way a module of ours creates a ``postflow.*`` logger (at module level, like
    ``getLogger``): its records then reach the run they are logged in, whichever process kind
    imported the module (CLI, served deployments, workers loading ``flows/*.py`` by path, tests).

    Args:
        name: ``postflow`` or a child of it (``postflow.sensor``).

    Returns:
        The logger.

    Example:
        ``log = run_logger("postflow.tunnel")``
    """
    route_to_run_logs()
    return logging.getLogger(name)
