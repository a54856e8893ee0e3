"""The weekly report's steps as Prefect tasks, and what they need from the tuning block.

:func:`report_window` reads the window's bounds, :func:`read_history` reads its ingests from the
Prefect API (:mod:`tasks.observe.telemetry`), :func:`metrics_of` turns them into figures
(:mod:`tasks.observe.metrics`), :func:`thresholds_from` takes the alert thresholds of the
``PostflowTuning`` block, and :func:`publish_artifacts` shows the result in the Prefect UI (the
report and its chart as markdown artifacts, its tables as table artifacts).
``flows/report.py`` chains them; the pure functions they wrap are tested without Prefect.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.settings import PostflowTuning
from core.errors import ConfigurationError
from core.since import parse_since
from tasks.observe.metrics import ReportMetrics, Thresholds, compute_metrics
from tasks.observe.metrics_emitter import thresholds_of
from tasks.observe.report_outputs import summary_rows, table_records
from tasks.observe.telemetry import IngestHistory, read_ingest_history

REPORT_ARTIFACT_KEY = "postflow-weekly-report"
CHART_ARTIFACT_KEY = "postflow-report-chart"
FILES_TABLE_ROWS = 1000  # the per-file table artifact; the CSV holds every row


def report_window(since: str, now: datetime | None = None) -> tuple[datetime, datetime, str]:
    """The report's window: ``(start, end, "YYYY-MM-DD HH:MM to YYYY-MM-DD HH:MM UTC")``.

    Args:
        since: ``"7d"``, ``"24h"``, an ISO date or epoch seconds.
        now: the window's end (default: now, UTC).

    Raises:
        ConfigurationError: ``since`` cannot be read.
    """
    start = parse_since(since)
    if start is None:
        raise ConfigurationError(f"cannot read the report window {since!r} (try 7d, 24h, ...)")
    begin, end = datetime.fromtimestamp(start, UTC), now or datetime.now(UTC)
    return begin, end, f"{begin:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def thresholds_from(tuning: PostflowTuning | None) -> Thresholds:
    """The alert thresholds of the tuning block (the block's defaults when none is saved);
    the live alerts use the same (:func:`tasks.observe.metrics_emitter.thresholds_of`)."""
    return thresholds_of(tuning)


@task(name="read-ingest-history", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_history(since: datetime, until: datetime) -> IngestHistory:
    """Prefect task around :func:`tasks.observe.telemetry.read_ingest_history`."""
    return read_ingest_history(since, until)


@task(name="compute-report-metrics", cache_policy=NO_CACHE)
def metrics_of(history: IngestHistory) -> ReportMetrics:
    """Prefect task around :func:`tasks.observe.metrics.compute_metrics`."""
    return compute_metrics(
        history.runs, history.task_runs, history.events, history.metrics, history.alerts
    )


def chart_markdown(chart: Path, window: str) -> str:
    """Markdown showing the PNG ``chart`` inline (a base64 ``data:`` URL: the Prefect UI's
    markdown renderer draws an image token as an ``<img>``, and the chart needs no public
    URL)."""
    encoded = base64.b64encode(chart.read_bytes()).decode("ascii")
    return f"### Files per day and MB/s, {window}\n\n![chart](data:image/png;base64,{encoded})\n"


def publish_artifacts(
    metrics: ReportMetrics,
    markdown: str,
    chart: Path | None = None,
    window: str = "",
    language: str = "en",
) -> None:
    """The report in the Prefect UI: ``markdown`` as the ``postflow-weekly-report`` artifact,
    the ``chart`` PNG as the ``postflow-report-chart`` artifact, and one table artifact per
    non-empty table (key figures, seconds per step, MB/s by strategy, top error types, the
    per-file rows; the key figures' labels in ``language``). Call it inside a flow or task
    run."""
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY, markdown=markdown, description="RL PostFlow optimisation report"
    )
    if chart is not None:
        create_markdown_artifact(
            key=CHART_ARTIFACT_KEY,
            markdown=chart_markdown(chart, window),
            description="Files per day (uploaded, failed) and mean MB/s",
        )
    tables = {
        "postflow-report-files": (
            table_records(metrics.files.head(FILES_TABLE_ROWS)),
            f"One row per ingest run (the first {FILES_TABLE_ROWS}; all are in the CSV)",
        ),
        "postflow-report-figures": (summary_rows(metrics.summary, language), "Key figures"),
        "postflow-report-steps": (table_records(metrics.steps), "Seconds per step"),
        "postflow-report-throughput": (table_records(metrics.throughput), "MB/s by strategy"),
        "postflow-report-errors": (table_records(metrics.errors), "Top error types"),
        "postflow-report-endpoints": (table_records(metrics.endpoints), "Frame.io calls"),
        "postflow-report-alerts": (table_records(metrics.alerts), "Alerts fired"),
    }
    for key, (records, description) in tables.items():
        if records:
            create_table_artifact(key=key, table=records, description=description)
