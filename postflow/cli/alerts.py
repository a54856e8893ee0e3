"""``postflow alerts``: the alert history, read back from Prefect's events.

Lists the live alerts (``postflow.alert.<name>`` fired, ``postflow.alert.<name>.resolved``,
emitted by :mod:`tasks.observe.metrics_emitter`) and the Frame.io circuit breaker's
``postflow.frameio.circuit.opened`` / ``closed`` of a window, newest first, with their figures
and thresholds. Prefect keeps events for ``PREFECT_SERVER_EVENTS_RETENTION_PERIOD`` (7 days by
default). Registered on the main app by :func:`register` (``postflow/cli/main.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import ConfigurationError
from postflow.cli.json_out import json_option, print_json_lines
from postflow.cli.terminal import check_since, console, err, with_prefect_api

__all__ = ["alert_rows", "register"]


def alert_rows(since: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """The alerts of the window, newest first.

    Args:
        since: ``"24h"``, ``"7d"``, an ISO date or epoch seconds.
        now: the window's end (default: now, UTC).

    Returns:
        ``[{"occurred": datetime, "alert", "status", "figure", "threshold"}]``; ``status`` is
        ``fired``/``resolved`` (thresholds) or ``opened``/``closed`` (circuit breaker).

    Raises:
        ConfigurationError: ``since`` cannot be read.
        httpx.HTTPError: the Prefect API cannot be reached.
    """
    from core.since import parse_since
    from tasks.observe.live_report import alert_table  # pandas
    from tasks.observe.telemetry import ALERT_PREFIXES, event_row, events_named  # Prefect

    start = parse_since(since)
    if start is None:
        raise ConfigurationError(f"cannot read the window {since!r} (try 24h, 7d, ...)")
    until = now or datetime.now(UTC)
    events = events_named(datetime.fromtimestamp(start, UTC), until, ALERT_PREFIXES)
    table = alert_table([event_row(e) for e in events])
    rows: list[dict[str, Any]] = table.to_dict("records")
    return list(reversed(rows))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def register(app: typer.Typer) -> None:
    """Add ``postflow alerts`` to ``app``."""

    @app.command("alerts")
    @with_prefect_api
    def alerts(
        since: str = typer.Option(
            "24h", callback=check_since, help="How far back: 12h, 7d, an ISO date, epoch s."
        ),
        as_json: bool = json_option(
            "One JSON object per line, newest first: occurred, alert, status, figure, threshold."
        ),
    ) -> None:
        """List recent alerts (fired, resolved, circuit opened/closed) with their figures."""
        try:
            rows = alert_rows(since)
        except ConfigurationError as exc:
            err.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(2) from exc
        if as_json:
            print_json_lines(rows)
            return
        if not rows:
            console.print(f"No alerts since {since}.")
            return
        table = Table(title=f"Alerts since {since}")
        for column in ("occurred (UTC)", "alert", "status", "figure", "threshold"):
            table.add_column(column)
        for row in rows:
            occurred = row["occurred"]
            when = occurred.strftime("%Y-%m-%d %H:%M:%S") if occurred else ""
            style = "red" if row["status"] in ("fired", "opened") else "green"
            table.add_row(
                when,
                row["alert"],
                f"[{style}]{row['status']}[/{style}]",
                _text(row["figure"]),
                _text(row["threshold"]),
            )
        console.print(table)
