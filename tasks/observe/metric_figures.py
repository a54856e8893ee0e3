"""The report's figures from row frames: per-step, per-strategy, per-day and per-file tables,
and the scalar summary, with pandas.

Pure functions on frames made by :func:`tasks.observe.metric_rows.rows_frame`; assembled into one
report by :func:`tasks.observe.metrics.compute_metrics`. Units are in the names: ``_seconds``,
``_mb`` (10^6 bytes), ``megabytes_per_second``, ``_rate`` (a fraction 0-1; None when there is
nothing to divide by). Statistics are count, mean, median and p95 of the numeric values.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pandas as pd

from tasks.observe.metric_rows import (
    EVENT_COLUMNS,
    FAILED_STATES,
    FINISHED_STATES,
    STRUCTURE_TASK,
    UPLOAD_COMPLETED,
    UPLOAD_FAILED,
    UPLOAD_TASK,
    WAITING_STATES,
)

__all__ = [
    "daily_figures",
    "per_file_rows",
    "step_durations",
    "summary_figures",
    "throughput_by_strategy",
]

_STAT_COLUMNS = ("count", "mean", "median", "p95")


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
    keep = [c for c in EVENT_COLUMNS if c not in ("flow_run_id", "path")]
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


def _max(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.max()) if not numbers.empty else None


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce")


def summary_figures(
    runs: pd.DataFrame, tasks: pd.DataFrame, events: pd.DataFrame
) -> dict[str, Any]:
    """The scalar figures of :attr:`tasks.observe.metrics.ReportMetrics.summary` that come from the
    run, task and event frames (keys in :func:`tasks.observe.metrics.compute_metrics`)."""
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
