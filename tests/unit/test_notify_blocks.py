"""The text form of the Discord embeds, for notification blocks that show text only (Slack,
Teams, email through Prefect's own blocks)."""

from __future__ import annotations

import pytest
from discord_webhook import DiscordEmbed

from config.settings import PostflowSettings
from core.errors import NamingError
from tasks.notify.blocks import text_form
from tasks.notify.discord import naming_error_embed, success_embed
from tasks.structure.naming import load_nomenclature
from tasks.upload.job import UploadResult

VIEW_URL = "https://next.frame.io/project/p/view/f1"


@pytest.fixture
def shot():
    settings = PostflowSettings()
    rules = load_nomenclature(settings.nomenclature_path, settings.extensions, (), 0)
    return rules.parse("SC01_UNDLM_00412_V002.mov")


def _result() -> UploadResult:
    return UploadResult(
        file_id="f1",
        name="SC01_UNDLM_00412_V002.mov",
        size_bytes=2_000_000,
        seconds=1.5,
        fingerprint="ab",
        strategy="multipart",
        view_url=VIEW_URL,
    )


def test_the_title_is_the_subject(shot) -> None:
    subject, _ = text_form(success_embed(shot, _result()))
    assert subject == "SC01 / UNDLM_00412 — V002 uploaded"


def test_each_field_is_a_line_and_the_frameio_link_is_plain(shot) -> None:
    _, body = text_form(success_embed(shot, _result()))
    lines = body.splitlines()
    assert lines[0] == "SC01_UNDLM_00412_V002.mov"  # no Discord backticks
    assert "Version: V002" in lines and "Upload: multipart" in lines
    assert f"Frame.io: {VIEW_URL}" in lines  # the markdown link made plain, not repeated
    assert body.count(VIEW_URL) == 1


def test_the_link_is_added_when_no_field_holds_it() -> None:
    embed = DiscordEmbed(title="Report", url="https://prefect.local/runs/1")
    embed.add_embed_field(name="Files ingested", value="17")
    assert text_form(embed) == ("Report", "Files ingested: 17\nhttps://prefect.local/runs/1")


def test_the_french_words_carry_over() -> None:
    error = NamingError("bad.mov", "no rule matched", ["by_shot"])
    subject, body = text_form(naming_error_embed("/w/bad.mov", error, language="fr"))
    assert subject.startswith("Nom illisible")
    assert "Chemin: /w/bad.mov" in body.splitlines()


def test_an_alert_footer_keeps_its_alert_id() -> None:
    embed = DiscordEmbed(title="alert")
    embed.set_footer(text="Alert id: error-rate-7-firing")
    assert text_form(embed)[1] == "Alert id: error-rate-7-firing"


def test_notify_blocks_are_parsed_from_a_comma_separated_list() -> None:
    settings = PostflowSettings(notify_blocks=" slack-webhook/on-call, ms-teams-webhook/post ,")
    assert settings.notify_blocks == ("slack-webhook/on-call", "ms-teams-webhook/post")
    assert PostflowSettings().notify_blocks == ()


def test_a_notify_block_without_its_type_is_refused() -> None:
    with pytest.raises(ValueError, match="<block-type-slug>/<block-name>"):
        PostflowSettings(notify_blocks="on-call")
