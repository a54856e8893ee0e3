"""Figures of the weekly optimisation report, computed with pandas from plain rows.

Pure functions, no Prefect: :mod:`tasks.observe.telemetry` turns the Prefect API's flow runs, task
runs and ``postflow.upload.*`` events into plain rows (their shapes:
:mod:`tasks.observe.metric_rows`),
and :func:`compute_metrics` turns rows into one :class:`ReportMetrics`, with the tables and
summary of :mod:`tasks.observe.metric_figures` and the live figures of
:mod:`tasks.observe.live_report`;
:func:`recommend` (:mod:`tasks.observe.recommendations`) words what crossed a threshold. Units are
in
the names: ``_seconds``, ``_mb`` (10^6 bytes), ``_mb_per_s``, ``_rate`` (a fraction 0-1; None
when there is nothing to divide by). Every name the report's callers use is importable from
here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tasks.observe.live_report import alert_table, endpoint_table, live_summary
from tasks.observe.metric_figures import (
    daily_figures,
    per_file_rows,
    step_durations,
    summary_figures,
    throughput_by_strategy,
)
from tasks.observe.metric_rows import (
    EVENT_COLUMNS,
    FAILED_STATES,
    FINISHED_STATES,
    RUN_COLUMNS,
    STATUS_BUCKETS,
    STRUCTURE_TASK,
    TASK_COLUMNS,
    UPLOAD_COMPLETED,
    UPLOAD_FAILED,
    UPLOAD_TASK,
    WAITING_STATES,
    rows_frame,
    status_counts,
)
from tasks.observe.recommendations import Recommendation, Thresholds, recommend

__all__ = [
    "FAILED_STATES",
    "FINISHED_STATES",
    "STATUS_BUCKETS",
    "STRUCTURE_TASK",
    "UPLOAD_COMPLETED",
    "UPLOAD_FAILED",
    "UPLOAD_TASK",
    "WAITING_STATES",
    "Recommendation",
    "ReportMetrics",
    "Thresholds",
    "compute_metrics",
    "daily_figures",
    "per_file_rows",
    "recommend",
    "status_counts",
    "step_durations",
    "throughput_by_strategy",
]


@dataclass
class ReportMetrics:
    """Every figure of one report.

    Attributes:
        summary: scalar figures by name (see :func:`compute_metrics`).
        steps: index ``step``; columns count, mean, median, p95 (seconds).
        throughput: index ``strategy``; columns count, mean, median, p95 (MB/s).
        errors: columns ``error_type``, ``count``; most frequent first.
        daily: index ``day`` (UTC date); columns ``files``, ``failed``, ``megabytes_per_second``.
        files: one row per ingest run (the CSV's rows).
        unparseable: names of files whose name matched no rule.
        endpoints: Frame.io calls per endpoint (:func:`tasks.observe.live_report.endpoint_table`).
        alerts: live alerts of the window (:func:`tasks.observe.live_report.alert_table`).
    """

    summary: dict[str, Any]
    steps: pd.DataFrame
    throughput: pd.DataFrame
    errors: pd.DataFrame
    daily: pd.DataFrame
    files: pd.DataFrame
    unparseable: list[str] = field(default_factory=list)
    endpoints: pd.DataFrame = field(default_factory=pd.DataFrame)
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)


def compute_metrics(
    runs: Iterable[Mapping[str, Any]],
    task_runs: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    metrics_rows: Iterable[Mapping[str, Any]] = (),
    alert_rows: Iterable[Mapping[str, Any]] = (),
) -> ReportMetrics:
    """All figures of the report from run, task and event rows (shapes:
    :mod:`tasks.observe.metric_rows`).

    Summary keys: ``runs_finished``, ``files_ingested``, ``failed``, ``success_rate``,
    ``error_rate``, ``files_waiting``, ``upload_attempts``, ``upload_failure_rate``,
    ``structure_lookups``, ``cache_hit_rate``, ``structure_lookup_seconds_mean`` (executed
    ``ensure-folder`` task runs), ``rate_limited_429``, ``task_retries``, ``part_retries``,
    ``unparseable_names``, ``megabytes_uploaded``, ``megabytes_per_second_{mean,median,p95}``,
    ``alerts_fired``, then the live figures of :func:`tasks.observe.live_report.live_summary`
    (``api_calls``, ``api_success_rate``, ``api_latency_seconds_{mean,p50,p95}`` of the timed
    Frame.io calls, ``cpu_percent_{mean,max}`` and ``rss_mb_{mean,max}`` of the process
    samples...); without ``postflow.metrics`` events, CPU and memory come from the upload
    events' samples.

    Args:
        runs, task_runs, events: rows (:mod:`tasks.observe.metric_rows`).
        metrics_rows: ``postflow.metrics`` events (:mod:`tasks.observe.live_report`).
        alert_rows: ``postflow.alert.*`` and circuit events (:mod:`tasks.observe.live_report`).

    Returns:
        The :class:`ReportMetrics`; empty inputs give zero counts and None rates.
    """
    run_frame = rows_frame(runs, RUN_COLUMNS)
    task_frame = rows_frame(task_runs, TASK_COLUMNS)
    event_frame = rows_frame(events, EVENT_COLUMNS)
    errors = (
        event_frame[event_frame["event"] == UPLOAD_FAILED]["error_type"]
        .value_counts()
        .rename_axis("error_type")
        .reset_index(name="count")
    )
    naming = event_frame[event_frame["error_type"] == "NamingError"]
    completed = event_frame[event_frame["event"] == UPLOAD_COMPLETED]
    metrics_list, alerts = list(metrics_rows), alert_table(alert_rows)
    summary = summary_figures(run_frame, task_frame, event_frame)
    live = live_summary(metrics_list)
    if live["cpu_percent_mean"] is None:  # no live samples: keep the upload events' ones
        for key in ("cpu_percent_mean", "cpu_percent_max", "rss_mb_mean", "rss_mb_max"):
            live.pop(key)
    summary.update(live, alerts_fired=int((alerts["status"].isin(["fired", "opened"])).sum()))
    return ReportMetrics(
        summary=summary,
        steps=step_durations(run_frame, task_frame),
        throughput=throughput_by_strategy(completed),
        errors=errors,
        daily=daily_figures(event_frame),
        files=per_file_rows(run_frame, event_frame),
        unparseable=sorted({str(p).rsplit("/", 1)[-1] for p in naming["path"].dropna()}),
        endpoints=endpoint_table(metrics_list),
        alerts=alerts,
    )
