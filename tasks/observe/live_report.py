"""The report's figures from what the working processes measured: ``postflow.metrics`` and
``postflow.alert.*`` events (pure functions, pandas; no Prefect).

Each ``postflow.metrics`` event carries the raw data of one interval
(:meth:`tasks.observe.live_metrics.LiveWindow.drain_interval`): per endpoint the call count, errors
by
kind and the durations; upload outcomes and MB/s; cache hits and misses; process samples.
Summed over the report's window they give exact totals and percentiles (a process emits at
most ``MAX_INTERVAL_DURATIONS`` durations per endpoint and interval).

Row shapes (extra keys ignored):

* metrics rows: ``occurred`` (aware datetime), ``interval`` (the payload's interval dict);
* alert rows: ``event`` (``postflow.alert.<name>[.resolved]`` or
  ``postflow.frameio.circuit.opened`` / ``closed``), ``occurred``, then the event payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from tasks.observe.live_metrics import percentile

__all__ = ["alert_table", "endpoint_table", "live_summary"]

_ENDPOINT_COLUMNS = ("calls", "failures", "success_rate", "p50_seconds", "p95_seconds")


def _intervals(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r["interval"] for r in rows if isinstance(r.get("interval"), Mapping)]


def _calls(intervals: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per endpoint: kind, calls, errors by kind, every duration (seconds)."""
    merged: dict[str, dict[str, Any]] = {}
    for interval in intervals:
        for endpoint, data in (interval.get("calls") or {}).items():
            into = merged.setdefault(
                endpoint, {"kind": data.get("kind", "api"), "calls": 0, "errors": {}, "seconds": []}
            )
            into["calls"] += int(data.get("calls") or 0)
            into["seconds"].extend(float(s) for s in data.get("seconds") or [])
            for kind, count in (data.get("errors") or {}).items():
                into["errors"][kind] = into["errors"].get(kind, 0) + int(count)
    return merged


def endpoint_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Frame.io calls per endpoint: index ``endpoint``; columns calls, failures, success_rate,
    p50_seconds, p95_seconds (part PUTs are one endpoint, ``PUT upload part``)."""
    table = {
        endpoint: {
            "calls": data["calls"],
            "failures": sum(data["errors"].values()),
            "success_rate": 1 - sum(data["errors"].values()) / data["calls"]
            if data["calls"]
            else None,
            "p50_seconds": percentile(data["seconds"], 0.5),
            "p95_seconds": percentile(data["seconds"], 0.95),
        }
        for endpoint, data in sorted(_calls(_intervals(rows)).items())
    }
    frame = pd.DataFrame.from_dict(table, orient="index", columns=_ENDPOINT_COLUMNS)
    frame.index.name = "endpoint"
    return frame


def _mean(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def live_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Scalar figures measured live over the report's window.

    Returns:
        ``api_calls``, ``api_failures``, ``api_success_rate``, ``api_latency_seconds_mean``
        / ``_p50`` / ``_p95`` (every Frame.io API call), ``upload_part_puts``,
        ``upload_part_failures``, ``live_uploads``, ``live_upload_failures``,
        ``live_megabytes_per_second_median`` / ``_p95``, ``live_cache_lookups``,
        ``live_cache_hit_rate``, ``cpu_percent_mean`` / ``_max``, ``rss_mb_mean`` / ``_max``
        (process samples), ``errors_by_kind`` ({kind: count}); None where nothing was measured.
    """
    intervals = _intervals(rows)
    calls = _calls(intervals)
    api = [d for d in calls.values() if d["kind"] == "api"]
    parts = [d for d in calls.values() if d["kind"] == "upload"]
    api_calls = sum(d["calls"] for d in api)
    api_failures = sum(sum(d["errors"].values()) for d in api)
    seconds = [s for d in api for s in d["seconds"]]
    errors: dict[str, int] = {}
    for data in calls.values():
        for kind, count in data["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    uploads = [i.get("uploads") or {} for i in intervals]
    ok = sum(int(u.get("ok") or 0) for u in uploads)
    failed = sum(int(u.get("failed") or 0) for u in uploads)
    speeds = [float(s) for u in uploads for s in u.get("megabytes_per_second") or []]
    cache = [i.get("cache") or {} for i in intervals]
    hits = sum(int(c.get("hits") or 0) for c in cache)
    lookups = hits + sum(int(c.get("misses") or 0) for c in cache)
    samples = [s for i in intervals for s in i.get("samples") or []]
    rss = [float(s[0]) for s in samples]
    cpu = [float(s[1]) for s in samples]
    return {
        "api_calls": api_calls,
        "api_failures": api_failures,
        "api_success_rate": 1 - api_failures / api_calls if api_calls else None,
        "api_latency_seconds_mean": _mean(seconds),
        "api_latency_seconds_p50": percentile(seconds, 0.5),
        "api_latency_seconds_p95": percentile(seconds, 0.95),
        "upload_part_puts": sum(d["calls"] for d in parts),
        "upload_part_failures": sum(sum(d["errors"].values()) for d in parts),
        "live_uploads": ok + failed,
        "live_upload_failures": failed,
        "live_megabytes_per_second_median": percentile(speeds, 0.5),
        "live_megabytes_per_second_p95": percentile(speeds, 0.95),
        "live_cache_lookups": lookups,
        "live_cache_hit_rate": hits / lookups if lookups else None,
        "cpu_percent_mean": _mean(cpu),
        "cpu_percent_max": max(cpu) if cpu else None,
        "rss_mb_mean": _mean(rss),
        "rss_mb_max": max(rss) if rss else None,
        "errors_by_kind": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
    }


def alert_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Alerts of the window, oldest first: columns occurred, alert, status, figure, threshold."""
    records = []
    for row in rows:
        name = str(row.get("event", ""))
        if name.startswith("postflow.frameio.circuit."):
            alert, status = "frameio_circuit", name.rsplit(".", 1)[-1]
            figure, threshold = row.get("consecutive_failures"), row.get("failure_threshold")
        else:
            alert = str(row.get("alert") or name.removeprefix("postflow.alert."))
            status = str(row.get("status") or "fired")
            figure, threshold = row.get("figure_text"), row.get("threshold_text")
        records.append(
            {
                "occurred": row.get("occurred"),
                "alert": alert,
                "status": status,
                "figure": figure,
                "threshold": threshold,
            }
        )
    return pd.DataFrame(records, columns=["occurred", "alert", "status", "figure", "threshold"])
