"""The demo's live alert: a latency burst on the sandbox, seen by the metrics emitter, sent by
the ``postflow-alert-api-latency`` automation to the Discord receiver.

The demo lowers the API-latency threshold (0.5 s instead of 5 s) and the metrics interval
and window (5 s / 20 s) through its own tuning block and environment; the mechanism is the
production one: the ingest's timed Frame.io calls -> its ``postflow.upload.*`` event -> the
sensor's emitter -> ``postflow.alert.api_latency`` -> the automation -> Discord.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console

from blocks.settings import PostflowTuning
from postflow.sandbox.discord_receiver import DiscordReceiver
from postflow.sandbox.server import SandboxServer

__all__ = ["DEMO_TUNING_BLOCK", "alert_env", "latency_burst", "save_tuning"]

DEMO_TUNING_BLOCK = "postflow-demo-tuning"
BURST_LATENCY_SECONDS = 0.8
BURST_FILE = "SC01_UNDLM_00412_V009.mov"
ALERT_TITLE = "RL PostFlow alert fired: Frame.io API latency"


def alert_env() -> dict[str, str]:
    """Environment of the demo's ``postflow up``: its tuning block, a short interval/window."""
    return {
        "POSTFLOW_TUNING_BLOCK": DEMO_TUNING_BLOCK,
        "POSTFLOW_METRICS_INTERVAL_SECONDS": "5",
        "POSTFLOW_METRICS_WINDOW_SECONDS": "20",
    }


def save_tuning() -> None:
    """The demo's tuning block: API latency alert at 0.5 s, quick retries."""
    PostflowTuning(alert_api_latency_seconds=0.5, task_retry_backoff_seconds=0.5).save(
        DEMO_TUNING_BLOCK, overwrite=True
    )


def _alert_arrived(discord: DiscordReceiver) -> bool:
    return any(
        embed.get("title") == ALERT_TITLE
        for message in discord.messages
        for embed in message["payload"].get("embeds", [])
    )


def latency_burst(
    console: Console,
    sandbox: SandboxServer,
    discord: DiscordReceiver,
    by_shot: Path,
    timeout_seconds: float = 180.0,
) -> bool:
    """Add latency to the sandbox, drop one more render, wait for the latency alert in
    Discord, then remove the latency; True when the alert arrived in time."""
    console.rule("Live alert: a Frame.io latency burst")
    console.print(
        f"Adding {BURST_LATENCY_SECONDS} s to every sandbox answer and writing {BURST_FILE} ...",
        highlight=False,
    )
    sandbox.set_latency(BURST_LATENCY_SECONDS)
    try:
        path = by_shot / BURST_FILE
        path.write_bytes(os.urandom(300_000))
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline and not _alert_arrived(discord):
            time.sleep(0.5)
    finally:
        sandbox.set_latency(0)
    arrived = _alert_arrived(discord)
    if arrived:
        console.print("[red]API latency alert[/red] received in Discord (see the table below).")
    else:
        console.print(f"[yellow]No latency alert within {timeout_seconds:.0f} s.[/yellow]")
    return arrived
