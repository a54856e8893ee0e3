"""Blocks and OAuth login against a real Prefect test server and the sandbox's IMS."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from prefect.settings import PREFECT_API_URL

from blocks.discord import PostflowDiscord
from blocks.frameio import FrameioCredentials
from blocks.settings import PostflowTuning, effective_settings
from config.settings import PostflowSettings
from core.errors import FrameioAuthError
from postflow.sandbox.server import SandboxServer
from postflow.setup.blocks import code_from_redirect, login, setup_blocks

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def block_names(postflow_env):
    suffix = os.urandom(4).hex()
    names = {
        "frameio_credentials_block": f"frameio-{suffix}",
        "tuning_block": f"tuning-{suffix}",
        "discord_block": f"discord-{suffix}",
    }
    postflow_env(**names)
    return names


def test_setup_creates_then_leaves_blocks_unchanged(prefect_harness, block_names, postflow_env):
    postflow_env(
        frameio_client_id="cid",
        frameio_client_secret="s3cret-value",
        discord_webhook_url="http://127.0.0.1:9/api/webhooks/123/tok-value",
    )
    first = setup_blocks(PostflowSettings())
    second = setup_blocks(PostflowSettings())
    loaded = FrameioCredentials.load(block_names["frameio_credentials_block"])
    assert first[block_names["frameio_credentials_block"]] == "created"
    assert second[block_names["frameio_credentials_block"]] == "unchanged"
    assert loaded.client_secret.get_secret_value() == "s3cret-value"
    discord = PostflowDiscord.load(block_names["discord_block"])
    assert discord.webhook_url.get_secret_value().endswith("/123/tok-value")
    assert (first[block_names["discord_block"]], second[block_names["discord_block"]]) == (
        "created",
        "unchanged",
    )


def test_setup_saves_one_discord_block_that_the_alerts_use(
    prefect_harness, block_names, postflow_env
):
    postflow_env(frameio_client_id="cid", frameio_client_secret="s")
    assert "not set" in setup_blocks(PostflowSettings())[block_names["discord_block"]]
    postflow_env(discord_webhook_url="http://127.0.0.1:9/api/webhooks/1/tok")
    done = setup_blocks(PostflowSettings())
    assert [name for name in done if "discord" in name] == [block_names["discord_block"]]
    assert PostflowSettings().alerts_block == f"postflow-discord/{block_names['discord_block']}"


def test_block_inspect_masks_secrets(prefect_harness, block_names, postflow_env):
    postflow_env(frameio_client_id="cid", frameio_client_secret="never-show-this-secret")
    setup_blocks(PostflowSettings())
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    slug = f"postflow-frameio-credentials/{block_names['frameio_credentials_block']}"
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "inspect", slug],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "cid" in out.stdout
    assert "never-show-this-secret" not in out.stdout + out.stderr


def test_tuning_block_overrides_settings_for_runs(prefect_harness, block_names):
    PostflowTuning(structure_cache_ttl_seconds=42, task_retries=1).save(
        block_names["tuning_block"], overwrite=True
    )
    settings = effective_settings()
    assert settings.structure_cache_ttl_seconds == 42
    assert settings.task_retries == 1


def test_login_against_sandbox_ims_stores_rotating_tokens(prefect_harness, block_names, tmp_path):
    with SandboxServer(tmp_path / "ims", token_ttl_seconds=60) as sandbox:
        name = block_names["frameio_credentials_block"]
        FrameioCredentials(
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            ims_base_url=sandbox.url,
            api_base_url=sandbox.url,
            auth_mode="web_app",
            redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
        ).save(name, overwrite=True)
        shown: list[str] = []
        login(
            name,
            print_line=shown.append,
            open_url=lambda url: httpx.get(url, follow_redirects=True, timeout=10),
        )
        after_login = FrameioCredentials.load(name)
        first_refresh_token = after_login.refresh_token.get_secret_value()
        client = after_login.get_client()
        accounts = list(client.accounts.index())  # 60 s token, 60 s SDK buffer: refreshes
        after_refresh = FrameioCredentials.load(name)
    assert "/ims/authorize/v2" in shown[0]
    assert after_login.auth_mode == "web_app" and after_login.refresh_token is not None
    assert [a.id for a in accounts] == [sandbox.account_id]
    assert after_refresh.refresh_token.get_secret_value() != first_refresh_token


def test_redirect_with_wrong_state_is_refused():
    with pytest.raises(FrameioAuthError, match="state mismatch"):
        code_from_redirect("http://127.0.0.1/cb?code=abc&state=evil", "expected")
