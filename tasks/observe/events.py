"""Prefect events of RL PostFlow: what the sensor and the ingests tell the rest of the platform.

* ``postflow.file.ready`` - the sensor saw a complete file; in deployment mode it is emitted
  once the sensor has created the file's ``ingest-file`` run (:mod:`tasks.sensor.ingest_runs`), and
  is
  related to that run.
* ``postflow.upload.completed`` / ``postflow.upload.failed`` - one per ingest, with bytes,
  seconds, strategy, structure-cache hit, checksum and a sample of the process's CPU/memory;
  automations and the weekly report read them. Each is also recorded in this process's live
  window (:mod:`tasks.observe.live_metrics`): upload outcome and MB/s, structure-cache hit or miss.

Each file has a stable resource id ``postflow.file.<sha1(path)[:16]>`` so one file's events can
be followed in the Prefect UI's event feed (Prefect docs: "Events", resource ids are strings).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

import psutil
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import TerminationSignal

from core.errors import NamingError
from tasks.observe.ingest_record import IngestRecord
from tasks.observe.live_metrics import live_window

FILE_READY = "postflow.file.ready"
UPLOAD_COMPLETED = "postflow.upload.completed"
UPLOAD_FAILED = "postflow.upload.failed"


def file_resource(path: str) -> dict[str, str]:
    """The event resource of a BY_SHOT file (every value a string, as Prefect requires)."""
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return {
        "prefect.resource.id": f"postflow.file.{digest}",
        "prefect.resource.name": PurePath(path).name,
        "postflow.path": path,
    }


_PROCESS = psutil.Process()
_PROCESS.cpu_percent(interval=None)  # psutil's first call only starts the measure (returns 0)


def process_sample() -> dict[str, float]:
    """CPU percent of this process since the previous sample (or since this module was
    imported; 100 = one core busy) and its resident memory in MB (10^6 bytes).

    One ``psutil.Process`` for the process's life: a fresh one would answer 0.0 every time
    (psutil docs, ``cpu_percent(interval=None)``: "the first time ... it will return a
    meaningless 0.0 value").
    """
    process = _PROCESS
    return {
        "cpu_percent": process.cpu_percent(interval=None),
        "rss_mb": round(process.memory_info().rss / 1e6, 1),
    }


def _attach_interval(payload: dict[str, Any]) -> None:
    """In a process with no metrics emitter (an ingest flow run under ``postflow up``), hand
    what it measured to the sensor's emitter through the event: ``payload["interval"]``
    (:meth:`tasks.observe.live_metrics.LiveWindow.drain_interval`, with the payload's process
    sample)."""
    window = live_window()
    if not window.emitting:
        window.record_process(payload["rss_mb"], payload["cpu_percent"])
        payload["interval"] = window.drain_interval()


def emit_file_ready(
    path: str, size_bytes: int, mtime_ns: int, key: str, flow_run_id: str | None = None
) -> Any:
    """Record a ready file version; returns the Event, or None when no API is reachable.

    Args:
        flow_run_id: the ``ingest-file`` run the sensor created for it; the event is then
            related to that run (role ``flow-run``), so it shows on the run's page too.
    """
    payload = {"path": path, "size_bytes": size_bytes, "mtime_ns": mtime_ns, "key": key}
    related = []
    if flow_run_id is not None:
        payload["flow_run_id"] = flow_run_id
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    return emit_event(FILE_READY, resource=file_resource(path), payload=payload, related=related)


def emit_upload_completed(record: IngestRecord) -> Any:
    """Announce a finished ingest: ``record``'s :data:`EVENT_FIELDS` and a process sample."""
    payload = record.event_payload()
    payload.update(process_sample())
    window = live_window()
    window.record_cache(record.structure_cache_hit)
    if record.upload.strategy != "skipped":
        window.record_upload(True, record.upload.megabytes_per_second, record.upload.size_bytes)
    _attach_interval(payload)
    return emit_event(UPLOAD_COMPLETED, resource=file_resource(record.path), payload=payload)


def emit_upload_failed(path: str, error: BaseException, shot: dict[str, Any] | None) -> Any:
    """Announce a failed ingest with the error's type and message."""
    payload: dict[str, Any] = {
        "path": path,
        "error_type": type(error).__name__,
        "error": str(error)[:500],
        "transient": bool(getattr(error, "transient", False)),
        **(shot or {}),
        **process_sample(),
    }
    if not isinstance(error, NamingError):  # an unreadable name was never an upload
        live_window().record_upload(False)
    _attach_interval(payload)
    return emit_event(UPLOAD_FAILED, resource=file_resource(path), payload=payload)


SENSOR_STOPPED = "postflow.sensor.stopped"


def emit_sensor_stopped(reason: str) -> Any:
    """Announce that the sensor stopped on purpose (Ctrl-C, SIGTERM, ``postflow up`` stopping,
    or its own stop condition), so the silent-sensor automation stays quiet.

    The resource is the sensor's flow run (``prefect.flow-run.<id>``, the automation's
    ``for_each`` key) with its flow as a related resource; outside a flow run nothing is
    emitted. Returns the Event, or None.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    run = context.flow_run
    return emit_event(
        SENSOR_STOPPED,
        resource={
            "prefect.resource.id": f"prefect.flow-run.{run.id}",
            "prefect.resource.name": run.name,
        },
        related=[
            {
                "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": context.flow.name if context.flow else "watch-by-shot",
            }
        ],
        payload={"reason": reason},
    )


@contextlib.contextmanager
def sensor_stop_announced() -> Iterator[None]:
    """Around the sensor's loop: emit ``postflow.sensor.stopped`` when it ends on purpose
    (returns, Ctrl-C, SIGTERM as ``SystemExit`` or Prefect's ``TerminationSignal``); a crash
    (any other exception) announces nothing, so the silent-sensor alert still fires."""
    try:
        yield
    except KeyboardInterrupt:
        emit_sensor_stopped("interrupted (Ctrl-C)")
        raise
    except (SystemExit, TerminationSignal):
        emit_sensor_stopped("terminated (SIGTERM)")
        raise
    else:
        emit_sensor_stopped("finished")
