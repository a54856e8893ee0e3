"""The rows the weekly report reads, as pandas frames, and the names those rows use.

:mod:`tasks.observe.telemetry` turns the Prefect API's flow runs, task runs and
``postflow.upload.*``
events into the three row shapes below; :func:`rows_frame` makes a frame of them with every
expected column, and :func:`status_counts` counts files by the state of their latest run.
Units are in the names: ``_seconds``, ``_mb`` (10^6 bytes), ``_mb_per_s``.

Row shapes (extra keys are ignored, missing optional keys read as None):

* run rows, one per ``ingest-file`` flow run: ``id``, ``path``, ``state`` (the state *type*,
  e.g. ``"COMPLETED"``, ``"FAILED"``, ``"CRASHED"``, ``"RUNNING"``, ``"SCHEDULED"``),
  ``start_time`` (aware datetime or None), ``seconds`` (run time).
* task rows, one per task run of those flow runs: ``flow_run_id``, ``task`` (the task name,
  e.g. ``"ensure-folder"``), ``state_name`` (``"Completed"``, ``"Cached"``, ``"Failed"``...),
  ``seconds``, ``run_count`` (attempts; 2 means one retry).
* event rows, one per upload event: ``event`` (``postflow.upload.completed`` or ``.failed``),
  ``occurred`` (aware datetime), ``flow_run_id`` (or None), then the event payload's keys
  (``path``, ``size_bytes``, ``seconds``, ``strategy``, ``megabytes_per_second``,
  ``rate_limited``, ``retried_parts``, ``structure_cache_hit``, ``error_type``, ``error``,
  ``cpu_percent``, ``rss_mb``...; see :mod:`tasks.observe.events`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import pandas as pd

from tasks.observe.ingest_record import EVENT_FIELDS

__all__ = [
    "EVENT_COLUMNS",
    "FAILED_STATES",
    "FINISHED_STATES",
    "RUN_COLUMNS",
    "STATUS_BUCKETS",
    "STRUCTURE_TASK",
    "TASK_COLUMNS",
    "UPLOAD_COMPLETED",
    "UPLOAD_FAILED",
    "UPLOAD_TASK",
    "WAITING_STATES",
    "rows_frame",
    "status_counts",
]

UPLOAD_COMPLETED = "postflow.upload.completed"
UPLOAD_FAILED = "postflow.upload.failed"
STRUCTURE_TASK = "ensure-folder"
UPLOAD_TASK = "upload-file"
FAILED_STATES = frozenset({"FAILED", "CRASHED"})
FINISHED_STATES = FAILED_STATES | {"COMPLETED"}
STATUS_BUCKETS = MappingProxyType(
    {
        "SCHEDULED": "pending",
        "PENDING": "pending",
        "PAUSED": "pending",
        "RUNNING": "running",
        "CANCELLING": "running",
        "FAILED": "failed",
        "CRASHED": "failed",
        "COMPLETED": "done",
        "CANCELLED": "cancelled",
    }
)
WAITING_STATES = frozenset(s for s, b in STATUS_BUCKETS.items() if b in ("pending", "running"))

RUN_COLUMNS = ("id", "path", "state", "start_time", "seconds")
TASK_COLUMNS = ("flow_run_id", "task", "state_name", "seconds", "run_count")
EVENT_COLUMNS = (
    *("event", "occurred", "flow_run_id"),
    *EVENT_FIELDS,  # the ingest record's (tasks/observe/ingest_record.py)
    *("error_type", "error"),  # a failed ingest's
    *("cpu_percent", "rss_mb"),  # the process sample every ingest event carries
)


def rows_frame(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """A frame of ``rows`` with at least ``columns`` (a missing column is all None)."""
    frame = pd.DataFrame(list(rows))
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    return frame


def status_counts(runs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Files by the state of their *latest* ingest run: pending, running, failed, done,
    cancelled (a file that failed and then landed on a rerun counts as done)."""
    frame = rows_frame(runs, RUN_COLUMNS)
    counts = dict.fromkeys(("pending", "running", "failed", "done", "cancelled"), 0)
    if frame.empty:
        return counts
    frame["order"] = pd.to_datetime(frame["start_time"], utc=True)
    ordered = frame.sort_values("order", na_position="last", kind="stable")
    latest = ordered.drop_duplicates("path", keep="last")
    for state in latest["state"]:
        bucket = STATUS_BUCKETS.get(str(state), "pending")
        counts[bucket] += 1
    return counts
