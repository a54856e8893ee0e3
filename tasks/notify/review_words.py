"""The words of the review loop's Discord messages, in English and French (``discord_language``;
:func:`tasks.notify.messages.text` looks them up)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["REVIEW_TEXTS"]

REVIEW_TEXTS: Mapping[str, dict[str, str]] = MappingProxyType(
    {
        "review_playable": {"en": "playable", "fr": "lisible"},
        "review_playable_note": {
            "en": "Frame.io has finished processing it: the link plays now.",
            "fr": "Frame.io a fini de le traiter : le lien se lit maintenant.",
        },
        "review_player": {"en": "Player", "fr": "Lecteur"},
        "review_comment": {"en": "Comment", "fr": "Commentaire"},
        "review_comment_done": {"en": "Comment done", "fr": "Commentaire traité"},
        "review_author": {"en": "Author", "fr": "Auteur"},
        "review_timecode": {"en": "Timecode", "fr": "Timecode"},
        "review_reply_to": {"en": "Reply to", "fr": "En réponse à"},
        "review_status": {"en": "Review status", "fr": "Statut de revue"},
        "review_previous": {"en": "Before", "fr": "Avant"},
        "review_unknown_author": {"en": "someone", "fr": "quelqu'un"},
        "review_unset": {"en": "none", "fr": "aucun"},
    }
)
