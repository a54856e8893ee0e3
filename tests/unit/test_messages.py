"""Discord embeds in English and French, naming their production when there are several."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import PostflowSettings
from core.errors import FrameioServerError, NamingError
from tasks.notify.discord import failure_embed, naming_error_embed, success_embed
from tasks.notify.messages import _TEXTS, text
from tasks.structure.naming import load_nomenclature
from tasks.upload.job import UploadResult


@pytest.fixture
def shot():
    settings = PostflowSettings()
    rules = load_nomenclature(settings.nomenclature_path, settings.extensions, (), 0)
    return rules.parse("SC01_UNDLM_00412_V002.mov")


def _result(**changes) -> UploadResult:
    values = dict(
        file_id="f1",
        name="SC01_UNDLM_00412_V002.mov",
        size_bytes=2_000_000,
        seconds=1.5,
        fingerprint="ab",
        strategy="multipart",
        view_url="https://next.frame.io/project/p/view/f1",
    )
    return UploadResult(**{**values, **changes})


def _fields(embed) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.fields}


def test_every_message_has_english_and_french() -> None:
    assert all(set(entry) == {"en", "fr"} and all(entry.values()) for entry in _TEXTS.values())


def test_an_unknown_language_reads_as_english() -> None:
    assert text("uploaded", "de") == "uploaded"


def test_the_success_embed_in_french(shot) -> None:
    embed = success_embed(shot, _result(re_render=True), language="fr")
    assert embed.title.endswith("re-rendu envoyé")
    assert "Re-rendu" in embed.description
    assert _fields(embed)["Scène"] == "SC01" and _fields(embed)["Plan"] == shot.shot


def test_the_success_embed_in_english_by_default(shot) -> None:
    embed = success_embed(shot, _result())
    assert embed.title.endswith("V002 uploaded")
    assert "Production" not in _fields(embed)


def test_the_production_is_named_in_the_title_and_a_field(shot) -> None:
    embed = success_embed(shot, _result(), production="undlm")
    assert embed.title.startswith("[undlm] ")
    assert _fields(embed)["Production"] == "undlm"


def test_the_failure_embed_in_french_says_transient(shot) -> None:
    error = FrameioServerError("projects.show", "HTTP 503", status_code=503)
    embed = failure_embed("/by_shot/x.mov", error, shot, language="fr", production="chrono")
    assert embed.title == "[chrono] Échec de l'ingest: SC01_UNDLM_00412_V002.mov"
    assert _fields(embed)["Type"] == "temporaire (tentatives épuisées)"


def test_the_naming_embed_in_french() -> None:
    error = NamingError("bad.mov", "no rule matches", [])
    embed = naming_error_embed(str(Path("/by_shot/bad.mov")), error, language="fr")
    assert embed.title == "Nom illisible: bad.mov"
    assert _fields(embed)["Règles essayées"] == "aucune"
