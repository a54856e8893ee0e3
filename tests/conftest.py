"""Shared test set-up: an isolated Prefect home, and loopback fixtures for real parts.

Prefect reads its settings when first imported, so the environment is fixed here, before any
test module imports it: a throw-away ``PREFECT_HOME`` (results and cache records included),
no analytics (there is no network), and a session-wide ``prefect_test_harness`` for the tests
that run real flows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="postflow-prefect-home-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
for _name in list(os.environ):
    if _name.startswith("POSTFLOW_"):
        del os.environ[_name]

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real temporary Prefect server (subprocess, SQLite) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session", autouse=True)
def _cleanup_prefect_home() -> Iterator[None]:
    yield
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    """Each test gets a fresh pipeline runtime (:mod:`core.runtime`): no Frame.io client,
    Range server/tunnel, rules or lock carries over (a later test may put a cloudflared
    stand-in on PATH); what a test started is stopped when it ends."""
    from core.runtime import use_runtime

    with use_runtime():
        yield


@pytest.fixture
def postflow_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Set POSTFLOW_* variables for one test; returns a setter ``env(name=value, ...)``."""
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))

    def set_env(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"POSTFLOW_{name.upper()}", str(value))

    return set_env


@pytest.fixture
def sandbox(tmp_path: Path):
    """A fresh Frame.io v4 sandbox on loopback (real HTTP server; small parts)."""
    from postflow.sandbox.server import SandboxServer

    with SandboxServer(tmp_path / "sandbox", target_part_bytes=256 * 1024) as server:
        yield server


@pytest.fixture
def discord():
    """A local Discord webhook receiver on loopback."""
    from postflow.sandbox.discord_receiver import DiscordReceiver

    with DiscordReceiver() as receiver:
        yield receiver


@pytest.fixture
def pipeline(prefect_harness, sandbox, discord, postflow_env, tmp_path: Path):
    """Settings that point the pipeline at the sandbox and, through a Discord block saved for
    this test, at the Discord receiver.

    Returns a namespace with ``sandbox``, ``discord``, ``discord_block`` (the block's name),
    ``by_shot`` (an empty watch folder) and ``project()`` (a fresh FrameioProject).
    """
    from types import SimpleNamespace

    from config.settings import PostflowSettings
    from tasks.clients import open_project
    from tests.integration.readback import save_discord_block

    discord_block = save_discord_block(discord.webhook_url)
    by_shot = tmp_path / "BY_SHOT"
    by_shot.mkdir()
    postflow_env(
        watch_path=by_shot,
        frameio_api_base_url=sandbox.url,
        frameio_ims_base_url=sandbox.url,
        frameio_account_id=sandbox.account_id,
        frameio_project_id=sandbox.project_id,
        frameio_client_id=sandbox.client_id,
        frameio_client_secret=sandbox.client_secret,
        frameio_credentials_block="postflow-test-absent-block",
        # No tuning block unless a test saves one under its own name: the session's Prefect
        # server is shared, and a block there overrides these variables.
        tuning_block="postflow-test-absent-tuning",
        discord_block=discord_block,
        task_retry_backoff_seconds=0.2,
        settle_seconds=0.6,
        poll_interval_seconds=0.2,
        structure_cache_ttl_seconds=0,
    )
    yield SimpleNamespace(
        sandbox=sandbox,
        discord=discord,
        discord_block=discord_block,
        by_shot=by_shot,
        project=lambda: open_project(PostflowSettings()),
    )


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Record every temporary Prefect server a command would start (none is started): the
    bad-argument and bad-configuration tests of the CLI must end before any."""
    import postflow.serve.prefect_server

    started: list[int] = []

    def refuse(port: int, *_args: object, **_kwargs: object) -> object:
        started.append(port)
        raise RuntimeError("a Prefect server was started")

    monkeypatch.setattr(postflow.serve.prefect_server, "start_local_server", refuse)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return started
