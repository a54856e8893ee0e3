"""The weekly report's steps as Prefect tasks, and what they need from the tuning block.

:func:`report_window` reads the window's bounds, :func:`read_history` reads its ingests from the
Prefect API (:mod:`tasks.telemetry`), :func:`metrics_of` turns them into figures
(:mod:`tasks.metrics`), :func:`thresholds_from` takes the alert thresholds of the
``PostflowTuning`` block, and :func:`publish_artifacts` shows the result in the Prefect UI (one
markdown and four table artifacts). ``flows/report.py`` chains them; the pure functions they
wrap are tested without Prefect.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.settings import PostflowTuning
from core.errors import ConfigurationError
from tasks.metrics import ReportMetrics, Thresholds, compute_metrics
from tasks.metrics_emitter import thresholds_of
from tasks.report_outputs import summary_rows, table_records
from tasks.telemetry import IngestHistory, read_ingest_history
from tasks.watch_folder import parse_since

REPORT_ARTIFACT_KEY = "postflow-weekly-report"


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
    the live alerts use the same (:func:`tasks.metrics_emitter.thresholds_of`)."""
    return thresholds_of(tuning)


@task(name="read-ingest-history", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_history(since: datetime, until: datetime) -> IngestHistory:
    """Prefect task around :func:`tasks.telemetry.read_ingest_history`."""
    return read_ingest_history(since, until)


@task(name="compute-report-metrics", cache_policy=NO_CACHE)
def metrics_of(history: IngestHistory) -> ReportMetrics:
    """Prefect task around :func:`tasks.metrics.compute_metrics`."""
    return compute_metrics(
        history.runs, history.task_runs, history.events, history.metrics, history.alerts
    )


def publish_artifacts(metrics: ReportMetrics, markdown: str) -> None:
    """The report in the Prefect UI: ``markdown`` as the ``postflow-weekly-report`` artifact,
    and one table artifact per non-empty figures table (key figures, seconds per step, MB/s
    by strategy, top error types). Call it inside a flow or task run."""
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY, markdown=markdown, description="RL PostFlow optimisation report"
    )
    tables = {
        "postflow-report-figures": (summary_rows(metrics.summary), "Key figures"),
        "postflow-report-steps": (table_records(metrics.steps), "Seconds per step"),
        "postflow-report-throughput": (table_records(metrics.throughput), "MB/s by strategy"),
        "postflow-report-errors": (table_records(metrics.errors), "Top error types"),
        "postflow-report-endpoints": (table_records(metrics.endpoints), "Frame.io calls"),
        "postflow-report-alerts": (table_records(metrics.alerts), "Alerts fired"),
    }
    for key, (records, description) in tables.items():
        if records:
            create_table_artifact(key=key, table=records, description=description)
