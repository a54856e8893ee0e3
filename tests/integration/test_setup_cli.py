"""`postflow setup` from nothing to a configured installation, against the sandbox's IMS and API
and a real Prefect test server: both auth modes, interactive and --no-prompt, and the OAuth
paste flow that Adobe's HTTPS redirect URIs need."""

from __future__ import annotations

import contextlib
import os
import socket
import webbrowser
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values
from prefect.exceptions import ObjectNotFound
from typer.testing import CliRunner

from blocks.frameio import FrameioCredentials
from postflow.cli.main import app
from postflow.setup.blocks import login

pytestmark = pytest.mark.integration
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def account(prefect_harness, sandbox, postflow_env, monkeypatch, tmp_path: Path):
    """A fresh working directory and block names; Frame.io is the sandbox (no ids set)."""
    monkeypatch.chdir(tmp_path)
    suffix = os.urandom(4).hex()
    postflow_env(
        frameio_api_base_url=sandbox.url,
        frameio_ims_base_url=sandbox.url,
        frameio_credentials_block=f"frameio-{suffix}",
        tuning_block=f"tuning-{suffix}",
        discord_block=f"discord-{suffix}",
    )
    return sandbox


def test_no_prompt_setup_saves_the_credentials_and_writes_the_project_to_dotenv(
    account, postflow_env, tmp_path
):
    postflow_env(frameio_client_id=account.client_id, frameio_client_secret=account.client_secret)
    first = runner.invoke(app, ["setup", "--no-prompt"])
    assert first.exit_code == 0, first.output
    written = dotenv_values(tmp_path / ".env")
    assert written["POSTFLOW_FRAMEIO_ACCOUNT_ID"] == account.account_id
    assert written["POSTFLOW_FRAMEIO_PROJECT_ID"] == account.project_id
    assert account.client_secret not in (tmp_path / ".env").read_text()
    again = runner.invoke(app, ["setup", "--no-prompt"])
    assert again.exit_code == 0 and ".env: unchanged" in again.output


def test_interactive_setup_asks_for_the_mode_and_the_credentials(account, tmp_path):
    answers = f"server_to_server\n{account.client_id}\n{account.client_secret}\n"
    result = runner.invoke(app, ["setup"], input=answers)
    assert result.exit_code == 0, result.output
    assert "Auth mode" in result.output and account.client_secret not in result.output
    assert dotenv_values(tmp_path / ".env")["POSTFLOW_FRAMEIO_PROJECT_ID"] == account.project_id


def test_web_app_setup_signs_in_through_ims_then_picks_the_project(
    account, postflow_env, monkeypatch, tmp_path
):
    postflow_env(
        frameio_client_id=account.client_id,
        frameio_client_secret=account.client_secret,
        frameio_redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
    )
    browser = lambda url: httpx.get(url, follow_redirects=True, timeout=10)  # noqa: E731
    monkeypatch.setattr(webbrowser, "open", browser)
    result = runner.invoke(app, ["setup", "--auth-mode", "web_app", "--no-prompt"])
    assert result.exit_code == 0, result.output
    assert "signed in" in result.output
    saved = FrameioCredentials.load(os.environ["POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK"])
    assert saved.auth_mode == "web_app" and saved.refresh_token is not None
    assert dotenv_values(tmp_path / ".env")["POSTFLOW_FRAMEIO_ACCOUNT_ID"] == account.account_id


def test_an_https_redirect_uri_signs_in_with_the_pasted_url(account):
    name = os.environ["POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK"]
    FrameioCredentials(
        client_id=account.client_id,
        client_secret=account.client_secret,
        ims_base_url=account.url,
        api_base_url=account.url,
        auth_mode="web_app",
    ).save(name, overwrite=True)
    landed: dict[str, str] = {}

    def browser(url: str) -> None:  # IMS answers 302 to https://localhost:8976/callback?code=
        landed["url"] = httpx.get(url, timeout=10).headers["location"]

    login(name, print_line=lambda _line: None, open_url=browser, paste=lambda: landed["url"])
    assert landed["url"].startswith("https://localhost:8976/callback?")
    assert FrameioCredentials.load(name).refresh_token is not None


def test_no_prompt_web_app_without_a_callback_says_to_paste(account, postflow_env):
    postflow_env(frameio_client_id=account.client_id, frameio_client_secret=account.client_secret)
    result = runner.invoke(app, ["setup", "--auth-mode", "web_app", "--no-prompt"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "paste" in result.output


def _blocks(wanted: dict) -> dict:
    """``{name: (document id, fields)}`` of saved blocks, secrets included in the comparison."""
    return {
        name: (block._block_document_id, block.model_dump())
        for name, block in ((n, t.load(n)) for n, t in wanted.items())
    }


def test_setup_of_another_installation_leaves_the_default_installations_blocks_alone(
    account, postflow_env, monkeypatch, tmp_path
):
    from blocks.discord import PostflowDiscord
    from blocks.settings import PostflowTuning

    for name in ("FRAMEIO_CREDENTIALS_BLOCK", "TUNING_BLOCK", "DISCORD_BLOCK"):
        monkeypatch.delenv(f"POSTFLOW_{name}")
    installation = f"studio-{os.urandom(3).hex()}"
    postflow_env(
        installation=installation,
        frameio_client_id=account.client_id,
        frameio_client_secret=account.client_secret,
    )
    monkeypatch.setenv("POSTFLOW_DISCORD_WEBHOOK_URL", "http://127.0.0.1:9/api/webhooks/1/ours")
    theirs = {
        "postflow-frameio": FrameioCredentials,
        "postflow-tuning": PostflowTuning,
        "postflow-discord": PostflowDiscord,
    }
    try:
        FrameioCredentials(client_id="studio-a", client_secret="a-secret").save(
            "postflow-frameio", overwrite=True
        )
        PostflowTuning(structure_cache_ttl_seconds=77).save("postflow-tuning", overwrite=True)
        PostflowDiscord(webhook_url="http://127.0.0.1:9/api/webhooks/2/theirs").save(
            "postflow-discord", overwrite=True
        )
        before = _blocks(theirs)
        result = runner.invoke(app, ["setup", "--no-prompt"])
        assert result.exit_code == 0, result.output
        assert _blocks(theirs) == before
        ours = FrameioCredentials.load(f"{installation}-frameio")
        assert ours.client_id == account.client_id
        assert PostflowDiscord.load(f"{installation}-discord").webhook_url.get_secret_value() == (
            "http://127.0.0.1:9/api/webhooks/1/ours"
        )
    finally:
        # The session's Prefect server outlives this test: a "postflow-tuning" left there
        # overrode later tests' settings (their task_retries=0 became 4, so their outages
        # were retried away).
        for name, kind in theirs.items():
            with contextlib.suppress(ObjectNotFound):
                kind.delete(name)
