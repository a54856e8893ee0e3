"""Weekly optimisation report (deployment ``weekly-optimisation-report``, Mondays 07:00 Paris).

The full report (pandas figures from ingest runs and ``postflow.upload.*`` events, thresholds,
chart, Discord summary) is the next piece of work; until then this flow counts the week's
ingest outcomes, says so in a markdown artifact, and keeps the schedule in place.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tasks.history import flow_runs_since


@flow(name="weekly-optimisation-report", log_prints=False)
def weekly_optimisation_report(days: int = 7) -> dict[str, int]:
    """Count ingest runs by final state over the last ``days`` days.

    Returns:
        ``{state name: count}``.
    """
    since = datetime.now(UTC) - timedelta(days=days)
    runs = flow_runs_since("ingest-file", since)
    counts = Counter(run.state.name if run.state else "Unknown" for run in runs)
    lines = "\n".join(f"| {state} | {n} |" for state, n in sorted(counts.items()))
    create_markdown_artifact(
        key="postflow-weekly-report",
        markdown=(
            f"# RL PostFlow: ingests in the last {days} days\n\n| state | runs |\n|---|---|\n"
            f"{lines or '| none | 0 |'}\n\nThe full optimisation report (throughput, cache hit "
            "rate, recommendations) is not built yet; this summary holds its place."
        ),
    )
    get_run_logger().info("Ingest runs in the last %d days: %s", days, dict(counts))
    return dict(counts)
