"""The five live alerts: rules, a tracker with a cooldown per alert, and their Prefect events.

The thresholds are those of the previous generation (error rate > 5 %, API latency > 5 s,
cache hit rate < 70 %, memory > 500 MB, upload failures > 10 %), read from the
``PostflowTuning`` block (:class:`tasks.observe.metrics.Thresholds`). :class:`AlertTracker` compares
each rolling figure of :mod:`tasks.observe.live_metrics` with its threshold and says what changed:

* the figure crosses and the alert is quiet -> **fired** (a new alert id), unless the same alert
  fired less than ``cooldown_seconds`` ago: then it is *suppressed* (no message, no resolve);
* the figure comes back (or has no data left in the window) while fired -> **resolved**.

A rate cannot fire on a handful of events: each rate alert needs a minimum sample in the window
(:attr:`AlertRule.min_sample`; defaults 20 Frame.io calls for the error rate, 5 for the
latency, 20 structure-cache look-ups, 10 uploads; the tuning block's ``alert_min_*``). Below it
the alert keeps its state: it neither fires nor resolves (calls stopped by an open circuit
breaker are no recovery); with no data at all in the window a fired alert resolves.

With a state store (:mod:`blocks.store`, table ``alert_states``), the time each alert last
fired is kept there: a restarted process, or another machine's, respects the cooldown of an
alert fired before it. So is each open incident (its alert id, cleared when it resolves): a
process that starts takes over the incidents left open, and resolves each once when its own
figures come back on a full sample: an empty window is not evidence. Each process judges its
own figures; with several machines, the first whose figures are back closes it.

Events (Prefect docs, "Events"): ``postflow.alert.<name>`` when fired and
``postflow.alert.<name>.resolved`` when resolved, resource ``postflow.alert.<name>``, payload
``{"alert", "status", "status_text", "alert_id", "figure", "threshold", "direction",
"window_seconds", "title", "figure_text", "threshold_text", "check"}``; ``title``, ``check``
and ``status_text`` follow ``discord_language`` (en, fr: :mod:`tasks.notify.messages`). The alert id
(``<name>-<unix seconds>``) is the idempotency key the Discord block uses to send each message
once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prefect.events import emit_event
from sqlalchemy import select, update

from blocks.store import StateStore
from blocks.store import tables as t
from tasks.notify.messages import text
from tasks.observe.metrics import Thresholds

__all__ = ["ALERT_PREFIX", "RULES", "AlertRule", "AlertTracker", "Transition", "emit_alert"]

ALERT_PREFIX = "postflow.alert."
RESOLVED_SUFFIX = ".resolved"


@dataclass(frozen=True)
class AlertRule:
    """One live alert.

    Attributes:
        name: the event suffix (``error_rate``...).
        title: human name, in English (resource names, automation descriptions); the
            messages take the title and what to check from :mod:`tasks.notify.messages` in the
            installation's language (``alert_title_<name>``, ``alert_check_<name>``).
        figure: key of the :meth:`tasks.observe.live_metrics.LiveWindow.figures` figure.
        limit: the :class:`tasks.observe.metrics.Thresholds` field holding its threshold.
        direction: ``"above"`` or ``"below"``: which side of the threshold is trouble.
        unit: ``"pct"``, ``"s"`` or ``"mb"`` (how figures are written).
        sample: the figure counting what ``figure`` is computed from (``api_calls``...), or
            "" when one sample is enough (memory).
        min_sample: the :class:`tasks.observe.metrics.Thresholds` field holding the smallest
            ``sample`` at which the alert may fire ("" with no ``sample``).
    """

    name: str
    title: str
    figure: str
    limit: str
    direction: str
    unit: str
    sample: str = ""
    min_sample: str = ""

    def crossed(self, value: float | None, threshold: float) -> bool:
        """Whether ``value`` is on the trouble side (None: no data, never crossed)."""
        if value is None:
            return False
        return value > threshold if self.direction == "above" else value < threshold

    def enough(self, figures: Mapping[str, Any], thresholds: Thresholds) -> bool:
        """Whether the window holds the rule's minimum sample (a missing count is 0)."""
        if not self.sample:
            return True
        return float(figures.get(self.sample) or 0) >= float(getattr(thresholds, self.min_sample))


RULES: tuple[AlertRule, ...] = (
    AlertRule("error_rate", "Frame.io error rate", "error_rate", "error_rate", "above", "pct",
              "api_calls", "min_api_calls"),
    AlertRule("api_latency", "Frame.io API latency", "api_latency_seconds_mean",
              "api_latency_seconds", "above", "s", "api_calls", "min_latency_calls"),
    AlertRule("cache_hit_rate", "Structure cache hit rate", "cache_hit_rate",
              "cache_hit_rate_min", "below", "pct", "cache_lookups", "min_cache_lookups"),
    AlertRule("memory", "Worker memory", "rss_mb", "memory_mb", "above", "mb"),
    AlertRule("upload_failures", "Upload failure rate", "upload_failure_rate",
              "upload_failure_rate", "above", "pct", "uploads", "min_uploads"),
)  # fmt: skip


def write_figure(value: float | None, unit: str) -> str:
    """``0.083, "pct"`` -> ``"8.3 %"``; ``"s"`` -> ``"7.20 s"``; ``"mb"`` -> ``"612 MB"``."""
    if value is None:
        return "n/a"
    if unit == "pct":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.0f} MB"


@dataclass(frozen=True)
class Transition:
    """A change to announce: ``status`` is ``"fired"`` or ``"resolved"``."""

    rule: AlertRule
    status: str
    alert_id: str
    figure: float | None
    threshold: float

    @property
    def event_name(self) -> str:
        """``postflow.alert.<name>`` or ``postflow.alert.<name>.resolved``."""
        suffix = RESOLVED_SUFFIX if self.status == "resolved" else ""
        return f"{ALERT_PREFIX}{self.rule.name}{suffix}"

    def payload(self, window_seconds: float, language: str = "en") -> dict[str, Any]:
        """The event payload (keys in the module docstring); ``title``, ``check`` and
        ``status_text`` in ``language`` (``discord_language``: ``"en"`` or ``"fr"``), the
        other keys as they are (automations and ``postflow alerts`` match on them)."""
        sign = ">" if self.rule.direction == "above" else "<"
        name = self.rule.name
        return {
            "alert": name,
            "status": self.status,
            "status_text": text(f"alert_{self.status}", language),
            "alert_id": self.alert_id,
            "figure": self.figure,
            "threshold": self.threshold,
            "direction": self.rule.direction,
            "window_seconds": window_seconds,
            "title": text(f"alert_title_{name}", language),
            "figure_text": write_figure(self.figure, self.rule.unit),
            "threshold_text": f"{sign} {write_figure(self.threshold, self.rule.unit)}",
            "check": text(f"alert_check_{name}", language),
        }


@dataclass
class _State:
    alert_id: str | None = None  # set while fired
    fired_at: float | None = None
    suppressed: bool = False  # crossed inside the cooldown: silent until it comes back
    adopted: bool = False  # an open incident taken over from the store (another process's)


class AlertTracker:
    """Decides, figure by figure, which alerts fire and which resolve (module docstring).

    Args:
        thresholds: the limits.
        cooldown_seconds: after an alert fired, it does not fire again for this long.
        clock: wall clock in seconds (alert ids and the cooldown use it).
        rules: the alerts to track (default: the five).
        store: where the last firing of each alert is shared (restarts, other machines);
            None: this process only. A store that cannot be read or written is ignored.
    """

    def __init__(
        self,
        thresholds: Thresholds,
        cooldown_seconds: float = 1800.0,
        clock: Callable[[], float] = time.time,
        rules: tuple[AlertRule, ...] = RULES,
        store: StateStore | None = None,
    ) -> None:
        self.store = store
        self.thresholds = thresholds
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self.rules = rules
        self._states = {rule.name: _State() for rule in rules}
        self._adopted = False

    def _adopt_open_incidents(self) -> None:
        """Take over the incidents the store holds open (fired, never resolved: a process that
        stopped or crashed while they were), so they resolve once instead of never."""
        self._adopted = True
        if self.store is None:
            return
        query = select(t.alert_states.c.alert, t.alert_states.c.alert_id, t.alert_states.c.fired_at)
        query = query.where(
            self.store.where(t.alert_states), t.alert_states.c.alert_id.is_not(None)
        )
        try:
            with self.store.read() as db:
                rows = db.execute(query).all()
        except OSError:  # StateStoreError: this process's incidents only
            return
        for alert, alert_id, fired_at in rows:
            state = self._states.get(alert)
            if state is not None and state.alert_id is None and alert_id:
                state.alert_id, state.fired_at = str(alert_id), fired_at
                state.adopted = True

    def evaluate(self, figures: Mapping[str, Any]) -> list[Transition]:
        """Compare ``figures`` with the thresholds; returns the alerts that fired or resolved."""
        if not self._adopted:
            self._adopt_open_incidents()
        now = self.clock()
        changes = []
        for rule in self.rules:
            state = self._states[rule.name]
            threshold = float(getattr(self.thresholds, rule.limit))
            value = figures.get(rule.figure)
            number = None if value is None else float(value)
            if number is not None and not rule.enough(figures, self.thresholds):
                continue  # a handful of events says nothing either way: no fire, no resolve
            if state.adopted and (number is None or not rule.enough(figures, self.thresholds)):
                continue  # another process's incident: closed on this one's evidence only
            crossed = rule.crossed(number, threshold)
            state.adopted = state.adopted and crossed
            if crossed and state.alert_id is None and not state.suppressed:
                fired_at = self._last_fired(rule.name, state.fired_at)
                cooling = fired_at is not None and now - fired_at < self.cooldown_seconds
                if cooling:
                    state.suppressed = True
                    continue
                state.alert_id, state.fired_at = f"{rule.name}-{now:.3f}", now
                self._fired(rule.name, state.alert_id, now)
                changes.append(Transition(rule, "fired", state.alert_id, value, threshold))
            elif not crossed and state.alert_id is not None:
                changes.append(Transition(rule, "resolved", state.alert_id, value, threshold))
                self._resolved(rule.name, state.alert_id)
                state.alert_id = None
            elif not crossed:
                state.suppressed = False
        return changes

    def _last_fired(self, alert: str, here: float | None) -> float | None:
        """The later of this process's last firing and the store's."""
        if self.store is None:
            return here
        query = select(t.alert_states.c.fired_at).where(
            self.store.where(t.alert_states), t.alert_states.c.alert == alert
        )
        try:
            with self.store.read() as db:
                stored = db.execute(query).scalar()
        except OSError:  # StateStoreError: judge by this process alone
            return here
        known = [f for f in (here, stored) if f is not None]
        return max(known) if known else None

    def _fired(self, alert: str, alert_id: str, now: float) -> None:
        if self.store is None:
            return
        row = {"alert": alert, "alert_id": alert_id, "fired_at": now, "suppressed": False}
        try:
            with self.store.write() as db:
                db.execute(self.store.upsert(t.alert_states, row))
        except OSError:
            return  # the next process may fire it once more: no worse than before

    def _resolved(self, alert: str, alert_id: str) -> None:
        """Close the stored incident (only if it is still this one: another process may have
        fired the alert again since)."""
        if self.store is None:
            return
        table = t.alert_states
        query = (
            update(table)
            .where(self.store.where(table), table.c.alert == alert, table.c.alert_id == alert_id)
            .values(alert_id=None)
        )
        try:
            with self.store.write() as db:
                db.execute(query)
        except OSError:
            return  # the next process resolves it once more: no worse than before

    def active(self) -> list[str]:
        """Names of the alerts fired and not yet resolved."""
        return [name for name, state in self._states.items() if state.alert_id is not None]


def emit_alert(transition: Transition, window_seconds: float, language: str = "en") -> Any:
    """Emit the transition's Prefect event (texts in ``language``); returns the Event, or
    None without an API."""
    name = transition.rule.name
    return emit_event(
        transition.event_name,
        resource={
            "prefect.resource.id": f"{ALERT_PREFIX}{name}",
            "prefect.resource.name": transition.rule.title,
        },
        payload=transition.payload(window_seconds, language),
    )
