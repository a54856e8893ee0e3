"""No secret value reaches Prefect's logs, run parameters, task runs, artifacts or events.

The sandbox gets a distinctive client secret and the Discord receiver a distinctive webhook
token; then real ingests run through the Prefect test server: one that lands, one refused by
Frame.io (403), one with an unreadable name and one whose Discord webhook is unreachable (so
the notification's error path, with the webhook URL in the transport error, is covered too).
Everything Prefect stored about those runs is read back through its API and searched for the
secrets, as is every Python log record emitted meanwhile (DEBUG and up).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.ingest import ingest_file
from tests.integration.helpers import make_file
from tests.integration.readback import closed_port, leaks, read_back, save_discord_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT_SECRET = f"cs-{secrets.token_hex(12)}-never-log-me"
WEBHOOK_TOKEN = f"wt-{secrets.token_hex(12)}-never-log-me"
TOKEN_PREFIXES = ("sbx-at-", "sbx-rt-")  # every access/refresh token the sandbox issues


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """The conftest sandbox, but accepting only ``CLIENT_SECRET``."""
    from postflow.sandbox.server import SandboxServer

    server = SandboxServer(tmp_path / "sandbox", target_part_bytes=256 * 1024)
    server.config = dataclasses.replace(server.config, client_secret=CLIENT_SECRET)
    with server:
        yield server


@pytest.fixture
def discord() -> Iterator[Any]:
    """The conftest Discord receiver, but with ``WEBHOOK_TOKEN`` in its webhook URL."""
    from postflow.sandbox.discord_receiver import DiscordReceiver

    with DiscordReceiver(webhook_token=WEBHOOK_TOKEN) as receiver:
        yield receiver


def _run(path: Path) -> str:
    """Ingest ``path`` as a real flow run; its flow run id."""
    state = ingest_file(str(path), return_state=True)
    return str(state.state_details.flow_run_id)


def test_no_secret_in_prefect_runs_logs_artifacts_events_or_python_logs(
    pipeline, postflow_env, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="prefect")
    since = datetime.now(UTC) - timedelta(seconds=5)
    good = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V002.mov", 300_000)
    run_ids = [_run(good)]
    pipeline.sandbox.inject_status(403, count=50, path=r".*/files/local_upload$")
    run_ids.append(_run(make_file(pipeline.by_shot, "SC02_UNDLM_00500_V001.mov", 100_000)))
    run_ids.append(_run(make_file(pipeline.by_shot, "RANDOM_RENDER_FINAL.mov", 10_000)))
    assert len(pipeline.discord.wait_for(3, timeout_seconds=10)) == 3
    receiver = pipeline.discord
    unreachable = receiver.webhook_url.replace(receiver.url, f"http://127.0.0.1:{closed_port()}")
    assert WEBHOOK_TOKEN in unreachable
    postflow_env(discord_block=save_discord_block(unreachable))
    run_ids.append(_run(make_file(pipeline.by_shot, "SC03_UNDLM_00600_V001.mov", 50_000)))

    issued = [row["token"] for row in pipeline.sandbox.state.db.query("SELECT token FROM tokens")]
    assert issued, "the sandbox issued no token: the client secret was never used"
    needles = [CLIENT_SECRET, WEBHOOK_TOKEN, *issued, *TOKEN_PREFIXES]
    material = read_back(run_ids, since)
    # every record from DEBUG up, formatted as caplog shows it (tracebacks included)
    material["python logging"] = [caplog.handler.format(record) for record in caplog.records]

    for source, texts in material.items():
        assert texts and all(texts), f"read back no {source}: the check would pass vacuously"
    assert any('"path"' in text for text in material["flow runs"])  # parameters were read
    assert any("Ingest of" in text and "failed" in text for text in material["logs"])
    assert any("postflow.upload.failed" in text for text in material["events"])
    for source, texts in material.items():
        hits = leaks(texts, needles)
        assert not hits, f"a secret value appears in {source}:\n" + "\n---\n".join(hits)
