"""The words of the live alerts' and the circuit breaker's automations, in English and French.

Prefect renders these Jinja templates when an automation fires (Prefect docs, "Automations":
``{{ event.payload... }}``). Each body line ``Name: value`` becomes a field of the Discord
embed (:func:`blocks.discord.alert_embed`), which knows the field names of both languages; the
``Alert id:`` line is the idempotency key and is never translated. The live alert's title,
what to check and its status come translated in the event's payload
(:meth:`tasks.observe.alerts.Transition.payload`); the labels are here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AlertTemplates", "alert_templates"]

_OPENED = "event.event.endswith('opened')"


@dataclass(frozen=True)
class AlertTemplates:
    """Subjects and bodies of the live-alert and circuit-breaker automations."""

    alert_subject: str
    alert_body: str
    circuit_subject: str
    circuit_body: str


def _alert_body(figure: str, threshold: str, window: str, check: str) -> str:
    return "\n".join(
        (
            f"{figure}: {{{{ event.payload.figure_text }}}}",
            f"{threshold}: {{{{ event.payload.threshold_text }}}}",
            f"{window}: {{{{ event.payload.window_seconds | round | int }}}} s",
            f"{check}: {{{{ event.payload.check }}}}",
            "Alert id: {{ event.payload.alert_id }}-{{ event.payload.status }}",
        )
    )


_EN = AlertTemplates(
    alert_subject="RL PostFlow alert {{ event.payload.status }}: {{ event.payload.title }}",
    alert_body=_alert_body("Figure", "Threshold", "Window", "Check"),
    circuit_subject=(
        "RL PostFlow alert: Frame.io circuit {{ 'opened' if " + _OPENED + " else 'closed' }}"
    ),
    circuit_body="\n".join(
        (
            "Figure: {{ event.payload.consecutive_failures | default(0) }} consecutive failures"
            " (last: {{ event.payload.last_error | default('') }})",
            "Threshold: {{ event.payload.failure_threshold | default('n/a') }} failures",
            "Check: {{ 'Frame.io status and credentials (`postflow health`); ingests wait and"
            " resume by themselves' if " + _OPENED + " else 'nothing: Frame.io answers"
            " again' }}",
            "Alert id: circuit-{{ event.id }}",
        )
    ),
)

_FR = AlertTemplates(
    alert_subject=(
        "Alerte RL PostFlow {{ event.payload.status_text | default(event.payload.status) }} : "
        "{{ event.payload.title }}"
    ),
    alert_body=_alert_body("Valeur", "Seuil", "Période", "À vérifier"),
    circuit_subject=(
        "Alerte RL PostFlow : disjoncteur Frame.io {{ 'ouvert' if " + _OPENED + " else 'refermé' }}"
    ),
    circuit_body="\n".join(
        (
            "Valeur: {{ event.payload.consecutive_failures | default(0) }} échecs consécutifs"
            " (dernier : {{ event.payload.last_error | default('') }})",
            "Seuil: {{ event.payload.failure_threshold | default('n/a') }} échecs",
            "À vérifier: {{ 'l’état de Frame.io et les identifiants (`postflow health`) ; les"
            " ingests attendent et reprennent seuls' if " + _OPENED + " else 'rien : Frame.io"
            " répond de nouveau' }}",
            "Alert id: circuit-{{ event.id }}",
        )
    ),
)


def alert_templates(language: str = "en") -> AlertTemplates:
    """The templates in ``language`` (``discord_language``: ``"en"`` or ``"fr"``; anything
    else reads as English)."""
    return _FR if language == "fr" else _EN
