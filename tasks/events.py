"""Prefect events of RL PostFlow: what the sensor and the ingests tell the rest of the platform.

* ``postflow.file.ready`` - the sensor saw a complete file; in deployed mode it triggers the
  ``ingest-file`` deployment (its parameters are templated from ``event.payload.path``).
* ``postflow.upload.completed`` / ``postflow.upload.failed`` - one per ingest, with bytes,
  seconds, strategy, structure-cache hit, checksum and a sample of the process's CPU/memory;
  automations and the weekly report read them.

Each file has a stable resource id ``postflow.file.<sha1(path)[:16]>`` so one file's events can
be followed in the Prefect UI's event feed (Prefect docs: "Events", resource ids are strings).
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Any

import psutil
from prefect.events import emit_event

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


def process_sample() -> dict[str, float]:
    """CPU percent (since the last call) and resident memory in MB of this process."""
    process = psutil.Process()
    return {
        "cpu_percent": process.cpu_percent(interval=None),
        "rss_mb": round(process.memory_info().rss / 1e6, 1),
    }


def emit_file_ready(path: str, size_bytes: int, mtime_ns: int, key: str) -> Any:
    """Announce a ready file version; returns the Event, or None when no API is reachable."""
    payload = {"path": path, "size_bytes": size_bytes, "mtime_ns": mtime_ns, "key": key}
    return emit_event(FILE_READY, resource=file_resource(path), payload=payload)


def emit_upload_completed(path: str, record: dict[str, Any], cache_hit: bool) -> Any:
    """Announce a finished ingest; ``record`` is the ingest flow's result dict."""
    keep = (
        "file",
        "scene",
        "shot",
        "version",
        "size_bytes",
        "seconds",
        "fingerprint",
        "re_render",
        "strategy",
        "strategy_reason",
        "megabytes_per_second",
        "parts",
        "retried_parts",
        "rate_limited",
        "file_id",
        "view_url",
    )
    payload = {k: record.get(k) for k in keep}
    payload.update(path=path, structure_cache_hit=cache_hit, **process_sample())
    return emit_event(UPLOAD_COMPLETED, resource=file_resource(path), payload=payload)


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
    return emit_event(UPLOAD_FAILED, resource=file_resource(path), payload=payload)
