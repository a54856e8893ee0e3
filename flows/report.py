"""Weekly optimisation report (deployment ``weekly-optimisation-report``, Mondays 07:00 Paris).

The story: read the window's ``ingest-file`` runs, their task runs and the ``postflow.upload.*``
events from the Prefect API -> compute the figures with pandas (:mod:`tasks.metrics`) -> compare
them with the alert thresholds of the ``PostflowTuning`` block -> publish: a markdown artifact
and table artifacts in the Prefect UI, a CSV of per-file rows and a PNG chart in the reports
directory, and a Discord summary with the chart attached. ``postflow report`` runs it on demand.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.settings import PostflowTuning, effective_settings, load_block
from core.errors import ConfigurationError, PostflowError
from tasks.metrics import ReportMetrics, Thresholds, compute_metrics, recommend
from tasks.report_outputs import (
    render_chart,
    render_markdown,
    send_report_summary,
    summary_embed,
    summary_rows,
    table_records,
    write_csv,
)
from tasks.telemetry import IngestHistory, read_ingest_history
from tasks.watch_folder import parse_since


def thresholds_from(tuning: PostflowTuning | None) -> Thresholds:
    """The alert thresholds of the tuning block (the block's defaults when none is saved)."""
    t = tuning or PostflowTuning()
    return Thresholds(
        error_rate=t.alert_error_rate,
        api_latency_seconds=t.alert_api_latency_seconds,
        cache_hit_rate_min=t.alert_cache_hit_rate_min,
        memory_mb=t.alert_memory_mb,
        upload_failure_rate=t.alert_upload_failure_rate,
    )


@task(name="read-ingest-history", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_history(since: datetime, until: datetime) -> IngestHistory:
    """Prefect task around :func:`tasks.telemetry.read_ingest_history`."""
    return read_ingest_history(since, until)


@task(name="compute-report-metrics", cache_policy=NO_CACHE)
def metrics_of(history: IngestHistory) -> ReportMetrics:
    """Prefect task around :func:`tasks.metrics.compute_metrics`."""
    return compute_metrics(history.runs, history.task_runs, history.events)


def _publish_artifacts(metrics: ReportMetrics, markdown: str) -> None:
    create_markdown_artifact(
        key="postflow-weekly-report",
        markdown=markdown,
        description="RL PostFlow optimisation report",
    )
    tables = {
        "postflow-report-figures": (summary_rows(metrics.summary), "Key figures"),
        "postflow-report-steps": (table_records(metrics.steps), "Seconds per step"),
        "postflow-report-throughput": (table_records(metrics.throughput), "MB/s by strategy"),
        "postflow-report-errors": (table_records(metrics.errors), "Top error types"),
    }
    for key, (records, description) in tables.items():
        if records:
            create_table_artifact(key=key, table=records, description=description)


def _reports_dir(out_dir: str | None) -> Path:
    return Path(out_dir) if out_dir else effective_settings().state_dir / "reports"


@flow(name="weekly-optimisation-report", log_prints=False)
def weekly_optimisation_report(since: str = "7d", out_dir: str | None = None) -> dict[str, Any]:
    """Build the optimisation report of the ingests since ``since``.

    Args:
        since: window start: ``"7d"``, ``"24h"``, an ISO date or epoch seconds.
        out_dir: where the CSV and PNG go (default ``<POSTFLOW_STATE_DIR>/reports``).

    Returns:
        ``{"summary": {figure: value}, "recommendations": [message, ...], "csv": path,
        "chart": path, "discord_sent": bool}``.

    Raises:
        ConfigurationError: ``since`` cannot be read.
        prefect.exceptions.PrefectHTTPStatusError: the Prefect API refused a query.
    """
    logger = get_run_logger()
    settings = effective_settings()
    start = parse_since(since)
    if start is None:
        raise ConfigurationError(f"cannot read the report window {since!r} (try 7d, 24h, ...)")
    window_start, window_end = datetime.fromtimestamp(start, UTC), datetime.now(UTC)
    window = f"{window_start:%Y-%m-%d %H:%M} to {window_end:%Y-%m-%d %H:%M} UTC"

    metrics = metrics_of(read_history(window_start, window_end))
    tuning = load_block(PostflowTuning, settings.tuning_block)
    recommendations = recommend(metrics.summary, thresholds_from(tuning))  # type: ignore[arg-type]

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = _reports_dir(out_dir)
    csv_path = write_csv(metrics.files, out / f"postflow-report-{stamp}.csv")
    chart = render_chart(metrics.daily, out / f"postflow-report-{stamp}.png", window)
    _publish_artifacts(metrics, render_markdown(metrics, recommendations, window))
    embed = summary_embed(metrics.summary, recommendations, window, chart.name)
    try:
        sent = send_report_summary(
            settings.discord_webhook_url, embed, chart, settings.discord_username
        )
    except PostflowError as exc:
        logger.warning("Discord summary not sent: %s", exc)
        sent = False
    logger.info("Report %s: %s; %s", window, csv_path, "; ".join(r.metric for r in recommendations))
    return {
        "summary": metrics.summary,
        "recommendations": [r.message for r in recommendations],
        "csv": str(csv_path),
        "chart": str(chart),
        "discord_sent": sent,
    }
