"""Figures of the weekly optimisation report, computed with pandas from plain rows.

Pure functions, no Prefect: :mod:`tasks.telemetry` turns the Prefect API's flow runs, task
runs and ``postflow.upload.*`` events into the three row shapes below, and these functions
turn rows into figures. Units are in the names: ``_seconds``, ``_mb`` (10^6 bytes),
``_mb_per_s``, ``_rate`` (a fraction 0-1; None when there is nothing to divide by).

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
  ``cpu_percent``, ``rss_mb``...; see :mod:`tasks.events`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pandas as pd

from tasks.live_report import alert_table, endpoint_table, live_summary

UPLOAD_COMPLETED = "postflow.upload.completed"
UPLOAD_FAILED = "postflow.upload.failed"
STRUCTURE_TASK = "ensure-folder"
UPLOAD_TASK = "upload-file"
FAILED_STATES = frozenset({"FAILED", "CRASHED"})
FINISHED_STATES = FAILED_STATES | {"COMPLETED"}
STATUS_BUCKETS = {
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
WAITING_STATES = frozenset(s for s, b in STATUS_BUCKETS.items() if b in ("pending", "running"))

_RUN_COLUMNS = ["id", "path", "state", "start_time", "seconds"]
_TASK_COLUMNS = ["flow_run_id", "task", "state_name", "seconds", "run_count"]
_EVENT_COLUMNS = [
    "event",
    "occurred",
    "flow_run_id",
    "path",
    "file",
    "scene",
    "shot",
    "version",
    "size_bytes",
    "seconds",
    "strategy",
    "megabytes_per_second",
    "rate_limited",
    "retried_parts",
    "structure_cache_hit",
    "error_type",
    "error",
    "cpu_percent",
    "rss_mb",
]
_STAT_COLUMNS = ["count", "mean", "median", "p95"]


@dataclass(frozen=True)
class Thresholds:
    """When a figure deserves a recommendation (defaults: the ``PostflowTuning`` block's).

    Attributes:
        error_rate: failed / finished ingests above this fires (fraction, 0.05 = 5 %).
        api_latency_seconds: mean seconds of a timed Frame.io API call above this fires.
        cache_hit_rate_min: structure cache hits / look-ups below this fires (fraction).
        memory_mb: peak worker RSS above this fires (10^6 bytes).
        upload_failure_rate: failed / all upload attempts (retries included) above this fires.
    """

    error_rate: float = 0.05
    api_latency_seconds: float = 5.0
    cache_hit_rate_min: float = 0.70
    memory_mb: float = 500.0
    upload_failure_rate: float = 0.10


@dataclass(frozen=True)
class Recommendation:
    """One finding: ``metric`` is a summary key (or ``"all_good"``), ``value`` its figure,
    ``threshold`` the limit it crossed, ``message`` what to do, in words."""

    metric: str
    message: str
    value: float | None = None
    threshold: float | None = None


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
        endpoints: Frame.io calls per endpoint (:func:`tasks.live_report.endpoint_table`).
        alerts: live alerts of the window (:func:`tasks.live_report.alert_table`).
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


def _frame(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    return frame


def _rate(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


class _Stats(TypedDict):
    """count/mean/median/p95 of one column; the three figures are None when it has no number."""

    count: int
    mean: float | None
    median: float | None
    p95: float | None


def _stats(values: pd.Series) -> _Stats:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return {"count": 0, "mean": None, "median": None, "p95": None}
    return {
        "count": int(numbers.size),
        "mean": float(numbers.mean()),
        "median": float(numbers.median()),
        "p95": float(numbers.quantile(0.95)),
    }


def _grouped_stats(frame: pd.DataFrame, by: str, value: str, index: str) -> pd.DataFrame:
    rows = {key: _stats(group[value]) for key, group in frame.groupby(by, sort=True)}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=_STAT_COLUMNS)
    table.index.name = index
    return table


def step_durations(runs: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """Seconds per step: each task name (executed runs only; Cached ones took no work) and
    ``ingest (whole run)`` for finished flow runs. Index ``step``; count/mean/median/p95."""
    executed = tasks[tasks["state_name"] != "Cached"]
    table = _grouped_stats(executed, "task", "seconds", "step")
    finished = runs[runs["state"].isin(FINISHED_STATES)]
    whole = pd.DataFrame([_stats(finished["seconds"])], index=["ingest (whole run)"])
    whole.index.name = "step"
    return pd.concat([table, whole]) if not table.empty else whole


def throughput_by_strategy(completed: pd.DataFrame) -> pd.DataFrame:
    """MB/s of the files actually sent (``skipped`` ones moved no bytes), per strategy."""
    sent = completed[(completed["strategy"] != "skipped") & (completed["seconds"].fillna(0) > 0)]
    return _grouped_stats(sent, "strategy", "megabytes_per_second", "strategy")


def daily_figures(events: pd.DataFrame) -> pd.DataFrame:
    """Per UTC day: files uploaded, ingests failed, mean MB/s of the files sent."""
    if events.empty:
        return pd.DataFrame(columns=["files", "failed", "megabytes_per_second"])
    frame = events.assign(day=pd.to_datetime(events["occurred"], utc=True).dt.date)
    done = frame[frame["event"] == UPLOAD_COMPLETED]
    sent = done[done["strategy"] != "skipped"]
    daily = pd.DataFrame(
        {
            "files": done.groupby("day").size(),
            "failed": frame[frame["event"] == UPLOAD_FAILED].groupby("day").size(),
            "megabytes_per_second": pd.to_numeric(sent["megabytes_per_second"])
            .groupby(sent["day"])
            .mean(),
        }
    )
    daily[["files", "failed"]] = daily[["files", "failed"]].fillna(0).astype(int)
    daily.index.name = "day"
    return daily.sort_index()


def per_file_rows(runs: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per ingest run joined with its upload event (by flow run id, else by path)."""
    keep = [c for c in _EVENT_COLUMNS if c not in ("flow_run_id", "path")]
    by_run = events.dropna(subset=["flow_run_id"]).drop_duplicates("flow_run_id", keep="last")
    joined = runs.merge(
        by_run[["flow_run_id", *keep]],
        how="left",
        left_on="id",
        right_on="flow_run_id",
        suffixes=("", "_upload"),
    )
    joined = joined.rename(columns={"seconds": "run_seconds", "seconds_upload": "upload_seconds"})
    joined = joined.drop(columns=["flow_run_id"])
    return joined.sort_values("start_time", na_position="last").reset_index(drop=True)


def status_counts(runs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Files by the state of their *latest* ingest run: pending, running, failed, done,
    cancelled (a file that failed and then landed on a rerun counts as done)."""
    frame = _frame(runs, _RUN_COLUMNS)
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


def _max(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.max()) if not numbers.empty else None


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce")


def _summary(runs: pd.DataFrame, tasks: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    finished = runs[runs["state"].isin(FINISHED_STATES)]
    failed = int(finished["state"].isin(FAILED_STATES).sum())
    completed = events[events["event"] == UPLOAD_COMPLETED]
    structure = tasks[tasks["task"] == STRUCTURE_TASK]
    hits = int((structure["state_name"] == "Cached").sum())
    executed = structure[structure["state_name"] != "Cached"]
    uploads = tasks[tasks["task"] == UPLOAD_TASK]
    attempts = int(_numeric(uploads, "run_count").fillna(1).clip(lower=1).sum())
    upload_ok = int((uploads["state_name"] == "Completed").sum())
    retries = (_numeric(tasks, "run_count").fillna(1) - 1).clip(lower=0)
    sent = completed[completed["strategy"] != "skipped"]
    speed = _stats(sent["megabytes_per_second"])
    return {
        "runs_finished": int(len(finished)),
        "files_ingested": int(len(finished) - failed),
        "failed": failed,
        "success_rate": _rate(len(finished) - failed, len(finished)),
        "error_rate": _rate(failed, len(finished)),
        "files_waiting": int(runs["state"].isin(WAITING_STATES).sum()),
        "upload_attempts": attempts,
        "upload_failure_rate": _rate(attempts - upload_ok, attempts),
        "structure_lookups": int(len(structure)),
        "cache_hit_rate": _rate(hits, len(structure)),
        "structure_lookup_seconds_mean": _stats(executed["seconds"])["mean"],
        "rate_limited_429": int(_numeric(completed, "rate_limited").fillna(0).sum()),
        "task_retries": int(retries.sum()),
        "part_retries": int(_numeric(completed, "retried_parts").fillna(0).sum()),
        "unparseable_names": int((events["error_type"] == "NamingError").sum()),
        "megabytes_uploaded": float(_numeric(sent, "size_bytes").fillna(0).sum() / 1e6),
        "megabytes_per_second_mean": speed["mean"],
        "megabytes_per_second_median": speed["median"],
        "megabytes_per_second_p95": speed["p95"],
        "cpu_percent_mean": _stats(events["cpu_percent"])["mean"],
        "cpu_percent_max": _max(events["cpu_percent"]),
        "rss_mb_mean": _stats(events["rss_mb"])["mean"],
        "rss_mb_max": _max(events["rss_mb"]),
    }


def compute_metrics(
    runs: Iterable[Mapping[str, Any]],
    task_runs: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    metrics_rows: Iterable[Mapping[str, Any]] = (),
    alert_rows: Iterable[Mapping[str, Any]] = (),
) -> ReportMetrics:
    """All figures of the report from run, task and event rows (shapes in the module doc).

    Summary keys: ``runs_finished``, ``files_ingested``, ``failed``, ``success_rate``,
    ``error_rate``, ``files_waiting``, ``upload_attempts``, ``upload_failure_rate``,
    ``structure_lookups``, ``cache_hit_rate``, ``structure_lookup_seconds_mean`` (executed
    ``ensure-folder`` task runs), ``rate_limited_429``, ``task_retries``, ``part_retries``,
    ``unparseable_names``, ``megabytes_uploaded``, ``megabytes_per_second_{mean,median,p95}``,
    ``alerts_fired``, then the live figures of :func:`tasks.live_report.live_summary`
    (``api_calls``, ``api_success_rate``, ``api_latency_seconds_{mean,p50,p95}`` of the timed
    Frame.io calls, ``cpu_percent_{mean,max}`` and ``rss_mb_{mean,max}`` of the process
    samples...); without ``postflow.metrics`` events, CPU and memory come from the upload
    events' samples.

    Args:
        runs, task_runs, events: rows (module docstring).
        metrics_rows: ``postflow.metrics`` events (:mod:`tasks.live_report`).
        alert_rows: ``postflow.alert.*`` and circuit events (:mod:`tasks.live_report`).

    Returns:
        The :class:`ReportMetrics`; empty inputs give zero counts and None rates.
    """
    run_frame = _frame(runs, _RUN_COLUMNS)
    task_frame = _frame(task_runs, _TASK_COLUMNS)
    event_frame = _frame(events, _EVENT_COLUMNS)
    errors = (
        event_frame[event_frame["event"] == UPLOAD_FAILED]["error_type"]
        .value_counts()
        .rename_axis("error_type")
        .reset_index(name="count")
    )
    naming = event_frame[event_frame["error_type"] == "NamingError"]
    completed = event_frame[event_frame["event"] == UPLOAD_COMPLETED]
    metrics_list, alerts = list(metrics_rows), alert_table(alert_rows)
    summary = _summary(run_frame, task_frame, event_frame)
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


# (summary key, Thresholds field, fires when the figure is "above" or "below" the limit,
#  the advice; {value} and {limit} are the figure and the threshold)
_ADVICE: tuple[tuple[str, str, str, str], ...] = (
    (
        "error_rate",
        "error_rate",
        "above",
        "Ingest error rate {value:.1%} is above {limit:.1%}: fix the top error types (permanent "
        "ones need a person: credentials, names, permissions); for transient ones raise "
        "task_retries.",
    ),
    (
        "upload_failure_rate",
        "upload_failure_rate",
        "above",
        "{value:.1%} of upload attempts failed (limit {limit:.1%}): check the network to "
        "Frame.io, lower upload_part_concurrency, or raise upload_part_retries.",
    ),
    (
        "api_latency_seconds_mean",
        "api_latency_seconds",
        "above",
        "Frame.io calls took {value:.1f} s on average (limit {limit:.1f} s): lower "
        "frameio_requests_per_second if 429s are frequent, else check the network path to "
        "api.frame.io.",
    ),
    (
        "cache_hit_rate",
        "cache_hit_rate_min",
        "below",
        "Structure cache hit rate {value:.1%} is below {limit:.1%}: raise "
        "structure_cache_ttl_seconds (0 disables the cache) or share structure_cache_dir "
        "between workers.",
    ),
    (
        "rss_mb_max",
        "memory_mb",
        "above",
        "Worker memory peaked at {value:.0f} MB (limit {limit:.0f} MB): lower "
        "upload_part_concurrency or max_concurrent_uploads.",
    ),
)


def _crossed(value: Any, limit: float, direction: str) -> bool:
    if value is None or pd.isna(value):
        return False
    return float(value) > limit if direction == "above" else float(value) < limit


def recommend(summary: Mapping[str, Any], thresholds: Thresholds) -> list[Recommendation]:
    """Recommendations for every threshold crossed, or one ``all_good`` when none is.

    Args:
        summary: :attr:`ReportMetrics.summary`.
        thresholds: the limits (from the ``PostflowTuning`` block).

    Returns:
        A non-empty list, in the order of ``_ADVICE``;
        ``[Recommendation("all_good", ...)]`` when every figure is fine.
    """
    found = []
    for metric, limit_name, direction, advice in _ADVICE:
        value, limit = summary.get(metric), getattr(thresholds, limit_name)
        if value is not None and _crossed(value, limit, direction):
            message = advice.format(value=float(value), limit=limit)
            found.append(Recommendation(metric, message, value, limit))
    return found or [Recommendation("all_good", "All good: every figure is within its threshold.")]
