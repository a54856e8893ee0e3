"""`postflow demo` end to end, on a pipeline TD's machine: ``PREFECT_API_URL`` and the active
Prefect profile name the studio's Prefect server (a real one, started here, holding blocks,
automations and a limit of a real installation). The demo runs on its own server and
``PREFECT_HOME`` and leaves the studio's untouched."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from postflow.demo.media import BAD_FILES, GOOD_FILES
from postflow.serve.up import api_healthy
from tests.integration.helpers import assert_served_demo_landed

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The studio's Prefect server (its own home), holding what a real installation saved
    there: blocks (two of them with the demo's own names), automations, a limit. Yields
    its API URL."""
    from postflow.serve.prefect_server import free_port, start_local_server, stop_server

    home = tmp_path_factory.mktemp("studio-home")
    with mock.patch.dict(os.environ, {"PREFECT_HOME": str(home)}):
        server, api_url = start_local_server(free_port(), home / "server.log", 120)
    try:
        _plant_studio(api_url)
        yield api_url
    finally:
        stop_server(server)


def _plant_studio(api_url: str) -> None:
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from blocks.discord import PostflowDiscord
    from blocks.frameio import FrameioCredentials

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        studio_hook = "http://127.0.0.1:9/api/webhooks/1/studio"
        for name in ("postflow-discord", "postflow-demo-discord"):
            PostflowDiscord(webhook_url=studio_hook).save(name)
        FrameioCredentials(client_id="studio", client_secret="s").save("postflow-demo-frameio")
        for name in ("postflow-ingest-failed", "postflow-demo-ingest-failed"):
            Automation.model_validate(
                {
                    "name": name,
                    "trigger": {"type": "event", "posture": "Reactive", "expect": ["x.y"]},
                    "actions": [{"type": "do-nothing"}],
                }
            ).create()
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="postflow-uploads", limit=5)
            )


def _snapshot(api_url: str) -> dict[str, Any]:
    """Everything the demo could write on a server, as JSON."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}),
        get_client(sync_client=True) as client,
    ):
        found = {
            "blocks": client.read_block_documents(include_secrets=True),
            "automations": client.read_automations(),
            "limits": client.read_global_concurrency_limits(),
            "deployments": client.read_deployments(),
            "flow_runs": client.read_flow_runs(),
            "variables": client.read_variables(),
        }
    return {k: sorted(v.model_dump_json() for v in found[k]) for k in found}


def _td_env(tmp_path: Path, studio: str, with_api_url: bool) -> dict[str, str]:
    """A TD's environment: the active profile names the studio (and PREFECT_API_URL too)."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'active = "studio"\n\n[profiles.studio]\nPREFECT_API_URL = "{studio}"\n')
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "td-prefect-home"),
        PREFECT_PROFILES_PATH=str(profiles),
        COLUMNS="250",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    if with_api_url:
        env["PREFECT_API_URL"] = studio
    return env


@pytest.mark.timeout(300)
def test_the_in_process_demo_leaves_the_profiles_studio_server_untouched(
    tmp_path: Path, studio: str
):
    before = _snapshot(studio)
    demo = subprocess.run(
        [sys.executable, "-m", "postflow.cli.main", "demo", "--in-process"]
        + ["--work-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        env=_td_env(tmp_path, studio, with_api_url=False),
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert demo.returncode == 0, demo.stdout[-6000:] + demo.stderr[-3000:]
    assert "all good files ingested: 4/4 in Frame.io" in demo.stdout
    assert _snapshot(studio) == before


@pytest.mark.timeout(480)
def test_demo_goes_through_postflow_up_and_lands_every_good_file(tmp_path: Path, studio: str):
    before = _snapshot(studio)
    env = _td_env(tmp_path, studio, with_api_url=True)
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "postflow.cli.main",
            "demo",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path / "demo"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=450,
    )
    out = demo.stdout
    assert demo.returncode == 0, out[-6000:] + demo.stderr[-3000:]
    assert_served_demo_landed(out)
    ui = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", out)
    assert ui, out[-3000:]
    assert f"{ui.group(1)}/api" != studio  # its own server, not the studio's
    assert re.search(r"[5-9] ingest-file runs via `postflow up`", out), out[-3000:]
    # ingests run in parallel under `up`: the file lock manager keeps folders unique
    assert "Duplicate folders" not in out, out[out.index("Frame.io tree") :][:3000]
    runs = out[out.index("Prefect flow runs") :]
    assert runs.count("Completed") >= len(GOOD_FILES)
    assert f"ingest {BAD_FILES[0]}" in runs and "Failed" in runs
    assert "watch " in runs  # the served sensor's run
    # one message per bad file: the unreadable name's own, no automation's "ingest failed"
    assert out.count("Unreadable name") >= 1 and "RL PostFlow: ingest " not in out
    # the latency burst's live alert: emitter -> postflow.alert.api_latency -> automation
    assert "RL PostFlow alert fired: Frame.io API latency" in out
    # the server the demo started is stopped with it
    assert not api_healthy(f"{ui.group(1)}/api")
    assert _snapshot(studio) == before  # PREFECT_API_URL and the profile named it: untouched


def test_a_named_server_that_does_not_answer_is_one_error_line(tmp_path: Path):
    from postflow.serve.prefect_server import free_port

    dead = f"http://127.0.0.1:{free_port()}/api"
    demo = subprocess.run(
        [sys.executable, "-m", "postflow.cli.main", "demo", "--prefect-api-url", dead]
        + ["--work-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 2
    assert demo.stderr.strip() == (
        f"Error: no Prefect server answers at {dead} (--prefect-api-url); start it, fix the "
        "URL, or leave the option out to run the demo on its own temporary server"
    )
    assert "Sandbox" not in demo.stdout and "Prefect UI" not in demo.stdout
