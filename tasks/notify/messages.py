"""The words of the Discord messages, in English and French (``discord_language``).

The previous generation's crews read French (../shared/reference/rl-postflow-v4/); English is
the default. Field *values* (scene, shot, sizes, error text from Frame.io) are not translated;
titles, labels and sentences are. A key missing in one language falls back to English.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from tasks.notify.report_words import REPORT_TEXTS
from tasks.notify.review_words import REVIEW_TEXTS

__all__ = ["Language", "text"]

Language = Literal["en", "fr"]

_TEXTS: Mapping[str, dict[str, str]] = MappingProxyType(
    {
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
        # the live alerts (tasks/observe/alerts.py): titles and what to check, by rule name
        "alert_title_error_rate": {"en": "Frame.io error rate", "fr": "Taux d'erreur Frame.io"},
        "alert_title_api_latency": {
            "en": "Frame.io API latency",
            "fr": "Latence de l'API Frame.io",
        },
        "alert_title_cache_hit_rate": {
            "en": "Structure cache hit rate",
            "fr": "Taux de succès du cache de structure",
        },
        "alert_title_memory": {"en": "Worker memory", "fr": "Mémoire du worker"},
        "alert_title_upload_failures": {
            "en": "Upload failure rate",
            "fr": "Taux d'échec des envois",
        },
        "alert_check_error_rate": {
            "en": "Frame.io status and credentials (`postflow health`); the top error kinds in "
            "`postflow report`; transient ones are retried (task_retries).",
            "fr": "L'état de Frame.io et les identifiants (`postflow health`) ; les erreurs les "
            "plus "
            "fréquentes dans `postflow report` ; les temporaires sont retentées (task_retries).",
        },
        "alert_check_api_latency": {
            "en": "The network path to api.frame.io; lower frameio_requests_per_second if 429s are "
            "frequent.",
            "fr": "Le réseau jusqu'à api.frame.io ; baissez frameio_requests_per_second si les 429 "
            "sont fréquents.",
        },
        "alert_check_cache_hit_rate": {
            "en": "structure_cache_ttl_seconds (0 disables the cache); share structure_cache_dir "
            "between workers.",
            "fr": "structure_cache_ttl_seconds (0 désactive le cache) ; partagez "
            "structure_cache_dir "
            "entre les workers.",
        },
        "alert_check_memory": {
            "en": "Lower upload_part_concurrency or max_concurrent_uploads; look for a leak if it "
            "keeps growing.",
            "fr": "Baissez upload_part_concurrency ou max_concurrent_uploads ; cherchez une "
            "fuite si "
            "elle continue de croître.",
        },
        "alert_check_upload_failures": {
            "en": "The network to Frame.io and its storage; lower upload_part_concurrency or raise "
            "upload_part_retries.",
            "fr": "Le réseau vers Frame.io et son stockage ; baissez upload_part_concurrency ou "
            "augmentez upload_part_retries.",
        },
        "alert_fired": {"en": "fired", "fr": "déclenchée"},
        "alert_resolved": {"en": "resolved", "fr": "résolue"},
        **REPORT_TEXTS,  # the weekly report's words (tasks/notify/report_words.py)
        **REVIEW_TEXTS,  # the review loop's words (tasks/notify/review_words.py)
    }
)


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
