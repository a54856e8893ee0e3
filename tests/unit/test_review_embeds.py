"""The review loop's Discord embeds, in English and French."""

from __future__ import annotations

from tasks.review.embeds import comment_embed, playable_embed, status_embed, status_event_name

UPLOAD = {
    "title": "SC01 / 00412 — V002 envoyé",
    "fields": [{"name": "Scène", "value": "SC01", "inline": True}],
}


def test_playable_marks_the_title_and_adds_one_field_first():
    edited = playable_embed(UPLOAD, "fr")
    assert edited["title"] == "SC01 / 00412 — V002 envoyé · lisible"
    assert edited["fields"][0]["name"] == "▶" and edited["fields"][1] == UPLOAD["fields"][0]
    assert UPLOAD["title"].endswith("envoyé")  # the stored embed is not changed


def test_playable_applied_twice_changes_nothing_more():
    once = playable_embed(UPLOAD, "en")
    assert playable_embed(once, "en") == once


def test_a_comment_reply_names_author_timecode_and_the_message_it_answers():
    embed = comment_embed(
        "SC01",
        author="",
        timecode="00:00:02:00",
        comment="Trop sombre",
        completed=False,
        message_id="m1",
        language="fr",
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == "💬 Commentaire — SC01"
    assert fields == {"Auteur": "quelqu'un", "Timecode": "00:00:02:00", "En réponse à": "m1"}


def test_a_status_message_shows_the_new_and_previous_status():
    embed = status_embed("SC01", status="Approved", previous="", message_id="m1", language="en")
    assert embed["title"] == "Review status: Approved — SC01"
    assert embed["fields"][0]["value"] == "none"


def test_status_event_names_are_lower_case_with_dashes():
    assert status_event_name("Approved") == "postflow.review.approved"
    assert status_event_name("Needs Review") == "postflow.review.needs-review"
    assert status_event_name("") == "postflow.review.unset"
