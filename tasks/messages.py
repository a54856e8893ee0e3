"""The words of the Discord messages, in English and French (``discord_language``).

The previous generation's crews read French (../shared/reference/rl-postflow-v4/); English is
the default. Field *values* (scene, shot, sizes, error text from Frame.io) are not translated;
titles, labels and sentences are. A key missing in one language falls back to English.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Language", "text"]

Language = Literal["en", "fr"]

_TEXTS: dict[str, dict[str, str]] = {
    "uploaded": {"en": "uploaded", "fr": "envoyé"},
    "re_render_uploaded": {"en": "re-render uploaded", "fr": "re-rendu envoyé"},
    "already_there": {"en": "already in Frame.io", "fr": "déjà dans Frame.io"},
    "re_render_note": {
        "en": "Re-render: new content under the same name, stacked on top of the earlier "
        "upload (which keeps its comments).",
        "fr": "Re-rendu : nouveau contenu sous le même nom, empilé au-dessus de l'envoi "
        "précédent (qui garde ses commentaires).",
    },
    "scene": {"en": "Scene", "fr": "Scène"},
    "shot": {"en": "Shot", "fr": "Plan"},
    "version": {"en": "Version", "fr": "Version"},
    "size": {"en": "Size", "fr": "Taille"},
    "duration": {"en": "Duration", "fr": "Durée"},
    "speed": {"en": "Speed", "fr": "Débit"},
    "upload": {"en": "Upload", "fr": "Envoi"},
    "why": {"en": "Why", "fr": "Pourquoi"},
    "production": {"en": "Production", "fr": "Production"},
    "open_in_frameio": {"en": "Open in Frame.io", "fr": "Ouvrir dans Frame.io"},
    "ingest_failed": {"en": "Ingest failed", "fr": "Échec de l'ingest"},
    "error": {"en": "Error", "fr": "Erreur"},
    "kind": {"en": "Kind", "fr": "Type"},
    "transient": {
        "en": "transient (retries exhausted)",
        "fr": "temporaire (tentatives épuisées)",
    },
    "permanent": {"en": "permanent", "fr": "permanente"},
    "details": {"en": "Details", "fr": "Détails"},
    "path": {"en": "Path", "fr": "Chemin"},
    "unreadable_name": {"en": "Unreadable name", "fr": "Nom illisible"},
    "rename_hint": {
        "en": "Not uploaded. Rename it to the nomenclature (e.g. `SC01_UNDLM_00412_V002.mov`) "
        "and it will be picked up.",
        "fr": "Non envoyé. Renommez-le selon la nomenclature (ex. `SC01_UNDLM_00412_V002.mov`) "
        "et il sera pris en charge.",
    },
    "reason": {"en": "Reason", "fr": "Raison"},
    "rules_tried": {"en": "Rules tried", "fr": "Règles essayées"},
    "none": {"en": "none", "fr": "aucune"},
}


def text(key: str, language: str = "en") -> str:
    """The message text ``key`` in ``language``.

    Args:
        key: one of the catalogue's keys (e.g. ``"uploaded"``).
        language: ``"en"`` or ``"fr"``; anything else reads as English.

    Returns:
        The text; the English one when the language lacks it.

    Raises:
        KeyError: ``key`` is not in the catalogue (a programming error).
    """
    entry = _TEXTS[key]
    return entry.get(language) or entry["en"]
