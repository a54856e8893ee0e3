"""The words of the weekly report (markdown, chart, Discord summary, recommendations), in
English and French; :func:`tasks.notify.messages.text` looks them up with the installation's
``discord_language``.

Keys: ``figure_<summary key>`` (the figures table), ``advice_<summary key>`` (a recommendation;
``{value}`` and ``{limit}`` are filled in), ``report_*`` (headings), ``chart_*``, ``embed_*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["REPORT_TEXTS"]

_FIGURES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "files_ingested": ("Files ingested", "Fichiers ingérés"),
        "failed": ("Failed ingests", "Ingests en échec"),
        "error_rate": ("Error rate", "Taux d'erreur"),
        "success_rate": ("Success rate", "Taux de réussite"),
        "files_waiting": ("Files waiting", "Fichiers en attente"),
        "upload_failure_rate": ("Upload failure rate", "Taux d'échec des envois"),
        "cache_hit_rate": ("Structure cache hit rate", "Taux de succès du cache de structure"),
        "api_calls": ("Frame.io API calls", "Appels à l'API Frame.io"),
        "api_success_rate": ("Frame.io API success rate", "Taux de réussite de l'API Frame.io"),
        "api_latency_seconds_mean": (
            "Frame.io API latency mean (all calls)",
            "Latence moyenne de l'API Frame.io (tous les appels)",
        ),
        "api_latency_seconds_p50": (
            "Frame.io API latency p50 / p95",
            "Latence API Frame.io p50 / p95",
        ),
        "structure_lookup_seconds_mean": (
            "Structure look-up mean (ensure-folder)",
            "Recherche de structure, moyenne (ensure-folder)",
        ),
        "upload_part_puts": ("Part PUTs (failed)", "PUT de parties (en échec)"),
        "live_uploads": ("Uploads measured live (failed)", "Envois mesurés en direct (en échec)"),
        "live_cache_hit_rate": (
            "Structure cache hit rate (live)",
            "Taux de succès du cache de structure (direct)",
        ),
        "alerts_fired": ("Alerts fired", "Alertes déclenchées"),
        "rate_limited_429": ("Frame.io 429s", "429 de Frame.io"),
        "task_retries": ("Task retries", "Nouvelles tentatives de tâches"),
        "part_retries": ("Part retries", "Nouvelles tentatives de parties"),
        "unparseable_names": ("Unparseable names", "Noms illisibles"),
        "megabytes_uploaded": ("Uploaded", "Envoyé"),
        "megabytes_per_second_mean": ("Upload speed mean", "Débit d'envoi moyen"),
        "megabytes_per_second_median": ("Upload speed median", "Débit d'envoi médian"),
        "megabytes_per_second_p95": ("Upload speed p95", "Débit d'envoi p95"),
        "cpu_percent_mean": ("Worker CPU mean / peak (%)", "CPU du worker moyen / pic (%)"),
        "rss_mb_mean": ("Worker memory mean / peak (MB)", "Mémoire du worker moyenne / pic (Mo)"),
        # the Discord summary's shorter names
        "embed_megabytes_per_second_median": ("Upload speed (median)", "Débit d'envoi (médian)"),
        "embed_cache_hit_rate": ("Cache hit rate", "Taux de succès du cache"),
        "embed_rss_mb_max": ("Peak memory", "Pic de mémoire"),
        "embed_api_success_rate": ("Frame.io API success", "Réussite de l'API Frame.io"),
        "embed_api_latency_seconds_p95": ("API latency p95", "Latence API p95"),
    }
)

_ADVICE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "error_rate": (
            "Ingest error rate {value:.1%} is above {limit:.1%}: fix the top error types "
            "(permanent "
            "ones need a person: credentials, names, permissions); for transient ones raise "
            "task_retries.",
            "Le taux d'erreur des ingests, {value:.1%}, dépasse {limit:.1%} : corrigez les erreurs "
            "les plus fréquentes (les permanentes demandent une personne : identifiants, noms, "
            "droits) ; pour les temporaires, augmentez task_retries.",
        ),
        "upload_failure_rate": (
            "{value:.1%} of upload attempts failed (limit {limit:.1%}): check the network to "
            "Frame.io, lower upload_part_concurrency, or raise upload_part_retries.",
            "{value:.1%} des tentatives d'envoi ont échoué (limite {limit:.1%}) : vérifiez le "
            "réseau "
            "vers Frame.io, baissez upload_part_concurrency ou augmentez upload_part_retries.",
        ),
        "api_latency_seconds_mean": (
            "Frame.io calls took {value:.1f} s on average (limit {limit:.1f} s): lower "
            "frameio_requests_per_second if 429s are frequent, else check the network path to "
            "api.frame.io.",
            "Les appels à Frame.io ont pris {value:.1f} s en moyenne (limite {limit:.1f} s) : "
            "baissez frameio_requests_per_second si les 429 sont fréquents, sinon vérifiez le "
            "réseau jusqu'à api.frame.io.",
        ),
        "cache_hit_rate": (
            "Structure cache hit rate {value:.1%} is below {limit:.1%}: raise "
            "structure_cache_ttl_seconds (0 disables the cache) or share structure_cache_dir "
            "between workers.",
            "Le taux de succès du cache de structure, {value:.1%}, est sous {limit:.1%} : "
            "augmentez "
            "structure_cache_ttl_seconds (0 désactive le cache) ou partagez structure_cache_dir "
            "entre les workers.",
        ),
        "rss_mb_max": (
            "Worker memory peaked at {value:.0f} MB (limit {limit:.0f} MB): lower "
            "upload_part_concurrency or max_concurrent_uploads.",
            "La mémoire du worker a culminé à {value:.0f} Mo (limite {limit:.0f} Mo) : baissez "
            "upload_part_concurrency ou max_concurrent_uploads.",
        ),
        "all_good": (
            "All good: every figure is within its threshold.",
            "Tout va bien : chaque chiffre est dans sa limite.",
        ),
    }
)

_OTHERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "report_title": ("RL PostFlow optimisation report", "Rapport d'optimisation RL PostFlow"),
        "report_window": ("Window", "Période"),
        "report_recommendations": ("Recommendations", "Recommandations"),
        "report_figures": ("Figures", "Chiffres"),
        "report_figure": ("figure", "chiffre"),
        "report_value": ("value", "valeur"),
        "report_steps": ("Duration per step (seconds)", "Durée par étape (secondes)"),
        "report_speed": ("Upload speed by strategy (MB/s)", "Débit d'envoi par stratégie (Mo/s)"),
        "report_errors": ("Top error types", "Erreurs les plus fréquentes"),
        "report_endpoints": ("Frame.io calls per endpoint", "Appels à Frame.io par point d'accès"),
        "report_error_kinds": ("Frame.io errors by kind", "Erreurs Frame.io par type"),
        "report_alerts": ("Alerts fired", "Alertes déclenchées"),
        "report_unparseable": ("Unparseable names", "Noms illisibles"),
        "report_nothing": ("none", "aucun"),
        "embed_title": (
            "Weekly optimisation report ({window})",
            "Rapport d'optimisation hebdomadaire ({window})",
        ),
        "embed_delivered": ("Delivered (ASC MHL)", "Livré (ASC MHL)"),
        "report_artifacts": ("Chart and tables", "Graphique et tableaux"),
        "embed_delivered_files": ("{count} files: {histories}", "{count} fichiers : {histories}"),
        "chart_uploaded": ("files uploaded", "fichiers envoyés"),
        "chart_failed": ("failed", "en échec"),
        "chart_speed": ("mean MB/s", "Mo/s moyen"),
        "chart_per_day": ("files per day", "fichiers par jour"),
        "chart_empty": ("no ingests in this window", "aucun ingest sur cette période"),
    }
)

REPORT_TEXTS: Mapping[str, dict[str, str]] = MappingProxyType(
    {
        **{f"figure_{key}": {"en": en, "fr": fr} for key, (en, fr) in _FIGURES.items()},
        **{f"advice_{key}": {"en": en, "fr": fr} for key, (en, fr) in _ADVICE.items()},
        **{key: {"en": en, "fr": fr} for key, (en, fr) in _OTHERS.items()},
    }
)
