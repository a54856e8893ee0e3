"""Settings: env prefix, units, secrets, list parsing, .env support, bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import PostflowSettings


@pytest.fixture(autouse=True)
def _no_user_env_file(monkeypatch, tmp_path):
    """Run where no .env exists: the README tells users to keep one in their checkout."""
    monkeypatch.chdir(tmp_path)


def test_defaults_are_usable():
    settings = PostflowSettings()
    assert settings.poll_interval_seconds == 5.0
    assert settings.settle_seconds == 30.0
    assert ".mov" in settings.extensions
    assert settings.discord_block == "postflow-discord"


def test_block_names_carry_the_installation_unless_set():
    default = PostflowSettings()
    assert (default.frameio_credentials_block, default.tuning_block) == (
        "postflow-frameio",
        "postflow-tuning",
    )
    assert default.tunnel_token_block == "postflow-tunnel-token"
    other = PostflowSettings(installation="studio-b", tuning_block="shared-tuning")
    assert (other.frameio_credentials_block, other.discord_block) == (
        "studio-b-frameio",
        "studio-b-discord",
    )
    assert other.tunnel_token_block == "studio-b-tunnel-token"
    assert other.alerts_block == "postflow-discord/studio-b-discord"
    assert other.tuning_block == "shared-tuning"


def test_env_prefix_and_unit_suffixed_names(monkeypatch):
    monkeypatch.setenv("POSTFLOW_SETTLE_SECONDS", "2.5")
    monkeypatch.setenv("POSTFLOW_UPLOAD_PART_CONCURRENCY", "8")
    monkeypatch.setenv("POSTFLOW_WATCH_PATH", "/mnt/lucid/BY_SHOT")
    settings = PostflowSettings()
    assert settings.settle_seconds == 2.5
    assert settings.upload_part_concurrency == 8
    assert str(settings.watch_path) == "/mnt/lucid/BY_SHOT"


def test_webhook_url_is_no_setting(monkeypatch):
    """Settings hold block names only: the URL is read by `postflow setup` into the block."""
    url = "https://discord.test/api/webhooks/1/tok-QX7-secret"
    monkeypatch.setenv("POSTFLOW_DISCORD_WEBHOOK_URL", url)
    settings = PostflowSettings()
    assert "tok-QX7" not in repr(settings)
    assert "tok-QX7" not in str(settings.model_dump())


def test_alerts_go_to_the_discord_block_unless_named(monkeypatch):
    monkeypatch.setenv("POSTFLOW_DISCORD_BLOCK", "studio-discord")
    assert PostflowSettings().alerts_block == "postflow-discord/studio-discord"
    monkeypatch.setenv("POSTFLOW_ALERTS_BLOCK", "slack-webhook/on-call")
    assert PostflowSettings().alerts_block == "slack-webhook/on-call"


def test_extensions_from_comma_list_are_normalised(monkeypatch):
    monkeypatch.setenv("POSTFLOW_EXTENSIONS", "MOV, .mp4 r3d")
    assert PostflowSettings().extensions == (".mov", ".mp4", ".r3d")


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("POSTFLOW_POLL_INTERVAL_SECONDS=1.5\n", encoding="utf-8")
    assert PostflowSettings().poll_interval_seconds == 1.5


def test_out_of_bounds_value_is_refused(monkeypatch):
    monkeypatch.setenv("POSTFLOW_POLL_INTERVAL_SECONDS", "0")
    with pytest.raises(ValidationError, match="poll_interval_seconds"):
        PostflowSettings()


def test_missing_frameio_ids_are_named():
    missing = PostflowSettings().frameio_ids_missing()
    assert missing == ["POSTFLOW_FRAMEIO_ACCOUNT_ID", "POSTFLOW_FRAMEIO_PROJECT_ID"]


@pytest.mark.parametrize("seconds", [1, 29])
def test_ingest_heartbeats_below_prefects_minimum_are_refused(seconds):
    with pytest.raises(ValidationError, match="30 s or more"):
        PostflowSettings(ingest_heartbeat_seconds=seconds)


def test_ingest_runs_send_no_heartbeats_unless_asked(monkeypatch):
    from prefect.settings import get_current_settings

    from flows.ingest import ingest_run_settings

    with ingest_run_settings():
        assert get_current_settings().flows.heartbeat_frequency is None
    monkeypatch.setenv("POSTFLOW_INGEST_HEARTBEAT_SECONDS", "60")
    with ingest_run_settings():
        assert get_current_settings().flows.heartbeat_frequency == 60
    assert get_current_settings().flows.heartbeat_frequency == 180  # Prefect's, elsewhere


def test_dispatch_mode_events_is_read_as_deployment(monkeypatch):
    # `events` was deployment mode's name while an event trigger created the runs; a unit
    # file or job variables written then keep working.
    monkeypatch.setenv("POSTFLOW_DISPATCH_MODE", "events")
    assert PostflowSettings().dispatch_mode == "deployment"
    monkeypatch.setenv("POSTFLOW_DISPATCH_MODE", "queue")
    with pytest.raises(ValidationError):
        PostflowSettings()


def test_a_named_tunnel_needs_the_fixed_port_of_its_ingress_rule():
    with pytest.raises(ValidationError, match="POSTFLOW_RANGE_SERVER_PORT") as refused:
        PostflowSettings(tunnel_mode="named")
    assert refused.value.errors()[0]["loc"] == ("tunnel_mode",)  # the CLI names the setting


def test_a_named_tunnel_with_a_port_and_a_quick_tunnel_without_one_are_accepted():
    assert PostflowSettings(tunnel_mode="named", range_server_port=8790).range_server_port == 8790
    assert PostflowSettings(tunnel_mode="quick").range_server_port == 0
