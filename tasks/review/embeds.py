"""The review loop's Discord embeds: the upload message edited to "playable", and the replies.

A Discord webhook can edit the messages it posted but cannot *reply* to one (the execute-webhook
call has no ``message_reference``; threads exist only in forum channels for a webhook's own
thread names). So a comment or a Status change is a new message whose title names the shot,
with a "Reply to" field naming the upload message's id. Embeds are plain dicts (the shape
Discord takes), so the stored upload embed can be edited and posted back.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

from discord_webhook import DiscordEmbed

from tasks.notify.messages import text

__all__ = [
    "comment_embed",
    "embed_dict",
    "playable_embed",
    "status_embed",
    "status_event_name",
]

BLUE, GREEN, ORANGE, GREY = "3498db", "2ecc71", "e67e22", "95a5a6"
_STATUS_COLOURS = MappingProxyType({"approved": GREEN, "needs review": ORANGE, "in progress": BLUE})


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def embed_dict(embed: DiscordEmbed | dict[str, Any]) -> dict[str, Any]:
    """An embed as the JSON object Discord receives (None values left out)."""
    raw = embed if isinstance(embed, dict) else vars(embed)
    return {k: copy.deepcopy(v) for k, v in raw.items() if v is not None and v != []}


def playable_embed(embed: dict[str, Any], language: str) -> dict[str, Any]:
    """The upload message's embed, marked playable: `` · playable`` after its title and a
    "Player" field first. Applying it twice changes nothing more."""
    edited = copy.deepcopy(embed)
    word = text("review_playable", language)
    title = str(edited.get("title") or "")
    if not title.endswith(f"· {word}"):
        edited["title"] = _clip(f"{title} · {word}" if title else word, 256)
    fields = [f for f in edited.get("fields") or [] if f.get("name") != "▶"]
    note = text("review_playable_note", language)
    edited["fields"] = [{"name": "▶", "value": note, "inline": False}, *fields][:25]
    return edited


def comment_embed(
    label: str,
    *,
    author: str,
    timecode: str,
    comment: str,
    completed: bool,
    message_id: str,
    language: str,
) -> dict[str, Any]:
    """A reply for a comment (``completed``: the comment was marked done).

    Args:
        label: the shot, e.g. ``"SC01 / 00412 — V002"``.
        author: the comment's owner ("" unknown).
        timecode: where on the timeline ("" none).
        comment: its text.
        completed: announce the comment as done rather than new.
        message_id: the upload message this answers.
        language: ``"en"`` or ``"fr"``.
    """
    heading = text("review_comment_done" if completed else "review_comment", language)
    fields = [
        {
            "name": text("review_author", language),
            "value": _clip(author or text("review_unknown_author", language), 1024),
            "inline": True,
        }
    ]
    if timecode:
        fields.append(
            {"name": text("review_timecode", language), "value": timecode, "inline": True}
        )
    fields.append({"name": text("review_reply_to", language), "value": message_id, "inline": True})
    return {
        "title": _clip(f"{'✅' if completed else '💬'} {heading} — {label}", 256),
        "description": _clip(comment or "…", 4000),
        "color": GREY if completed else BLUE,
        "fields": fields,
    }


def status_embed(
    label: str, *, status: str, previous: str, message_id: str, language: str
) -> dict[str, Any]:
    """A message for a review Status change (e.g. "Approved")."""
    unset = text("review_unset", language)
    return {
        "title": _clip(f"{text('review_status', language)}: {status or unset} — {label}", 256),
        "color": _STATUS_COLOURS.get(status.lower(), GREY),
        "fields": [
            {"name": text("review_previous", language), "value": previous or unset, "inline": True},
            {"name": text("review_reply_to", language), "value": message_id, "inline": True},
        ],
    }


def status_event_name(status: str) -> str:
    """``postflow.review.<status>``: lower case, spaces as dashes ("Needs Review" ->
    ``postflow.review.needs-review``); an unset Status is ``postflow.review.unset``."""
    slug = "-".join(status.lower().split()) or "unset"
    return f"postflow.review.{slug}"
