"""Our stdlib ``postflow.*`` log lines reach the Prefect run they happen in (:mod:`core.logs`),
and the console, once, outside runs."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import Log
from prefect.logging.handlers import APILogHandler
from prefect.runtime import flow_run

from config.settings import PostflowSettings
from core.logs import LOGGER_NAME
from tasks.clients import remote_endpoint

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@flow(name="postflow-test-start-remote-endpoint")
def start_remote_endpoint(cloudflared_path: str) -> str:
    """What an ingest run does before a remote upload: start the Range server and the tunnel."""
    settings = PostflowSettings(upload_strategy="auto", cloudflared_path=cloudflared_path)
    remote_endpoint(settings)
    return str(flow_run.get_id())


def _run_logs(flow_run_id: str) -> list[Log]:
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, APILogHandler):
            handler.flush()  # logs go to the API in batches
    only_this_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run_id)]))
    with get_client(sync_client=True) as client:
        return client.read_logs(log_filter=only_this_run)


def test_the_tunnel_warning_and_the_range_server_info_line_are_in_the_run_logs(
    prefect_harness: None, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-cloudflared")

    logs = _run_logs(start_remote_endpoint(missing))

    tunnel = [log for log in logs if log.name == "postflow.tunnel"]
    listening = [log for log in logs if log.message.startswith("range server listening on")]
    assert [log.level for log in tunnel] == [logging.WARNING]
    assert "cloudflared not on PATH" in tunnel[0].message and missing in tunnel[0].message
    assert [(log.name, log.level) for log in listening] == [("postflow.range_server", logging.INFO)]


def test_outside_a_run_a_line_reaches_the_console_once_and_warns_nothing() -> None:
    script = textwrap.dedent(
        """
        import logging, warnings
        import blocks.tunnel  # a module with a postflow.* logger routes it (core.logs.run_logger)
        warnings.simplefilter("error")  # the API handler's "no run context" would be one
        logging.getLogger("postflow.tunnel").info("console line outside a run")
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("console line outside a run") == 1
    assert "postflow.tunnel" in result.stderr and "INFO" in result.stderr
