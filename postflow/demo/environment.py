"""What ``postflow demo`` points the pipeline at: its environment and its blocks.

The ``POSTFLOW_*`` variables of a demo run (watch folder and state under the work dir, short
settle and poll intervals, the sandbox's URLs and ids, the demo's block names) and the blocks
saved for it: Frame.io credentials for the sandbox, a Discord block posting to the local
receiver, the demo's tuning block (:mod:`postflow.demo.alerts`). Shared by the served and the
in-process demo, and by ``benchmarks/sensor_restart.py``.
"""

from __future__ import annotations

from pathlib import Path

from blocks.discord import PostflowDiscord
from blocks.frameio import FrameioCredentials
from postflow.demo.alerts import alert_env, save_tuning
from postflow.sandbox.discord_receiver import DiscordReceiver
from postflow.sandbox.server import SandboxServer

__all__ = ["DEMO_BLOCK", "DISCORD_BLOCK", "demo_env", "save_blocks"]

DEMO_BLOCK = "postflow-demo-frameio"
DISCORD_BLOCK = "postflow-demo-discord"


def demo_env(base: Path, sandbox: SandboxServer) -> dict[str, str]:
    """The ``POSTFLOW_*`` variables of a demo run in work dir ``base`` against ``sandbox``
    (settle 1.5 s, poll 0.5 s, 3 ingests at once, the alert demo's tuning)."""
    return {
        "POSTFLOW_WATCH_PATH": str(base / "BY_SHOT"),
        "POSTFLOW_STATE_DIR": str(base / "state"),
        "POSTFLOW_SETTLE_SECONDS": "1.5",
        "POSTFLOW_POLL_INTERVAL_SECONDS": "0.5",
        "POSTFLOW_INGEST_CONCURRENCY": "3",
        "POSTFLOW_FRAMEIO_API_BASE_URL": sandbox.url,
        "POSTFLOW_FRAMEIO_IMS_BASE_URL": sandbox.url,
        "POSTFLOW_FRAMEIO_ACCOUNT_ID": sandbox.account_id,
        "POSTFLOW_FRAMEIO_PROJECT_ID": sandbox.project_id,
        "POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK": DEMO_BLOCK,
        "POSTFLOW_DISCORD_BLOCK": DISCORD_BLOCK,  # the automations' alerts follow it
        "POSTFLOW_TASK_RETRY_BACKOFF_SECONDS": "0.5",
        **alert_env(),
    }


def save_blocks(sandbox: SandboxServer, discord: DiscordReceiver) -> None:
    """Save the sandbox's credentials block, the Discord block posting to the receiver and
    the demo's tuning block, on the current Prefect API."""
    FrameioCredentials(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ims_base_url=sandbox.url,
        api_base_url=sandbox.url,
    ).save(DEMO_BLOCK, overwrite=True)
    PostflowDiscord(webhook_url=discord.webhook_url).save(DISCORD_BLOCK, overwrite=True)
    save_tuning()
