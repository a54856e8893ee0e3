"""The five live alerts: thresholds, cooldown, resolve; the alert embed and its idempotency."""

from __future__ import annotations

import pytest

from blocks.discord import alert_embed, alert_key
from blocks.sent_keys import SentKeys
from blocks.store import local_store
from tasks.observe.alerts import AlertTracker
from tasks.observe.metrics import Thresholds


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


GOOD = {  # with a full sample behind each rate
    "api_calls": 500,
    "cache_lookups": 500,
    "uploads": 500,
    "error_rate": 0.0,
    "api_latency_seconds_mean": 0.2,
    "cache_hit_rate": 0.9,
    "rss_mb": 120.0,
    "upload_failure_rate": 0.0,
}
BAD = {
    "api_calls": 500,
    "cache_lookups": 500,
    "uploads": 500,
    "error_rate": 0.08,
    "api_latency_seconds_mean": 7.2,
    "cache_hit_rate": 0.5,
    "rss_mb": 612.0,
    "upload_failure_rate": 0.2,
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> AlertTracker:
    return AlertTracker(Thresholds(), cooldown_seconds=1800, clock=clock)


def test_each_crossed_threshold_fires_once(tracker):
    fired = tracker.evaluate(BAD)
    assert {t.rule.name for t in fired} == {
        "error_rate",
        "api_latency",
        "cache_hit_rate",
        "memory",
        "upload_failures",
    }
    assert all(t.status == "fired" for t in fired)
    assert tracker.evaluate(BAD) == []  # still crossed: no second message


def test_a_figure_that_comes_back_resolves_once(tracker):
    [fired] = tracker.evaluate({**GOOD, "error_rate": 0.5})
    [resolved] = tracker.evaluate(GOOD)
    assert (resolved.rule.name, resolved.status) == ("error_rate", "resolved")
    assert resolved.alert_id == fired.alert_id
    assert tracker.evaluate(GOOD) == []


def test_no_data_counts_as_back(tracker):
    tracker.evaluate({**GOOD, "api_latency_seconds_mean": 9.0})
    [resolved] = tracker.evaluate({**GOOD, "api_latency_seconds_mean": None})
    assert resolved.status == "resolved"


def test_flapping_inside_the_cooldown_stays_silent(tracker, clock):
    tracker.evaluate({**GOOD, "upload_failure_rate": 0.5})
    tracker.evaluate(GOOD)
    clock.now += 600
    assert tracker.evaluate({**GOOD, "upload_failure_rate": 0.5}) == []
    assert tracker.evaluate(GOOD) == []  # nothing fired, nothing to resolve
    clock.now += 1200
    [again] = tracker.evaluate({**GOOD, "upload_failure_rate": 0.5})
    assert again.status == "fired"


def test_payload_carries_figure_threshold_window_and_advice(tracker):
    [fired] = tracker.evaluate({**GOOD, "cache_hit_rate": 0.42})
    payload = fired.payload(900)
    assert fired.event_name == "postflow.alert.cache_hit_rate"
    assert payload["figure_text"] == "42.0 %" and payload["threshold_text"] == "< 70.0 %"
    assert payload["window_seconds"] == 900
    assert "structure_cache_ttl_seconds" in payload["check"]


BODY = "Figure: 8.3 %\nThreshold: > 5.0 %\nWindow: 900 s\nCheck: credentials\nAlert id: e-1-fired"


def test_alert_body_becomes_a_red_embed_with_its_key_in_the_footer():
    embed = alert_embed("RL PostFlow alert fired: Frame.io error rate", BODY)
    assert embed is not None
    assert [f["name"] for f in embed.fields] == ["Figure", "Threshold", "Window", "Check"]
    assert embed.color == int("e74c3c", 16)
    assert embed.footer["text"] == "Alert id: e-1-fired"
    assert alert_key(BODY) == "e-1-fired"


def test_resolved_alert_is_green_and_plain_text_stays_plain():
    embed = alert_embed("RL PostFlow alert resolved: Frame.io error rate", BODY)
    assert embed is not None and embed.color == int("2ecc71", 16)
    assert alert_embed("RL PostFlow: ingest failed", "Shot file: x\nAlert id: k") is None


def test_a_key_is_claimed_once_across_restarts(tmp_path):
    assert SentKeys(local_store(tmp_path)).claim("error_rate-1-fired")
    assert not SentKeys(local_store(tmp_path)).claim("error_rate-1-fired")  # a new process
    keys = SentKeys(local_store(tmp_path))
    keys.release("error_rate-1-fired")  # the send failed: a retry may send it
    assert keys.claim("error_rate-1-fired")


def test_only_the_newest_keys_are_kept(tmp_path):
    keys = SentKeys(local_store(tmp_path), max_keys=2, clock=iter(range(3)).__next__)
    for n in range(3):
        assert keys.claim(f"k{n}")
    assert SentKeys(local_store(tmp_path)).claim("k0")  # forgotten: the oldest
    assert not SentKeys(local_store(tmp_path)).claim("k2")


def test_the_same_alert_delivered_twice_reaches_discord_once(discord):
    from blocks.discord import PostflowDiscord

    block = PostflowDiscord(webhook_url=discord.webhook_url)
    body = BODY.replace("e-1-fired", f"e-{id(block)}-fired")  # a key of this test only
    block.notify(body, "RL PostFlow alert fired: Frame.io error rate")
    block.notify(body, "RL PostFlow alert fired: Frame.io error rate")  # Prefect's redelivery
    block.notify(body.replace("-fired", "-resolved"), "RL PostFlow alert resolved: x")
    [fired, resolved] = discord.wait_for(2)
    assert fired["payload"]["embeds"][0]["title"].startswith("RL PostFlow alert fired")
    assert resolved["payload"]["embeds"][0]["title"] == "RL PostFlow alert resolved: x"
    assert len(discord.messages) == 2


def test_two_discord_blocks_each_get_the_alert_once(discord):
    """Review finding: the sent-key claim was per installation, so a second postflow-discord
    block (another channel) dropped every alert the first had sent. Seen failing: 1 message."""
    import uuid

    from blocks.discord import PostflowDiscord

    first, second = (PostflowDiscord(webhook_url=discord.webhook_url) for _ in "ab")
    first._block_document_id, second._block_document_id = uuid.uuid4(), uuid.uuid4()
    body = BODY.replace("e-1-fired", f"e-{uuid.uuid4().hex}-fired")
    for block in (first, second, second):  # the last: Prefect's redelivery to the second
        block.notify(body, "RL PostFlow alert fired: Frame.io error rate")
    discord.wait_for(2)
    assert len(discord.messages) == 2


def test_a_restarted_tracker_keeps_the_cooldown_of_an_alert_fired_before(tmp_path):
    clock = Clock()
    figures = {"error_rate": 0.5, "api_calls": 100}
    first = AlertTracker(Thresholds(), 1800, clock=clock, store=local_store(tmp_path))
    assert [c.status for c in first.evaluate(figures)] == ["fired"]
    clock.now += 60
    again = AlertTracker(Thresholds(), 1800, clock=clock, store=local_store(tmp_path))
    assert again.evaluate(figures) == []  # inside the cooldown: silent
    assert [c.status for c in again.evaluate({**figures, "error_rate": 0.0})] == ["resolved"]
    clock.now += 1800
    later = AlertTracker(Thresholds(), 1800, clock=clock, store=local_store(tmp_path))
    assert [c.status for c in later.evaluate(figures)] == ["fired"]  # cooldown over


# Issue 21: an alert needs a minimum sample in its window before it can fire.
SMALL = {  # one new shot in a quiet window, one failed call in three, one failed upload in two
    "api_calls": 3,
    "api_failures": 1,
    "error_rate": 1 / 3,
    "api_latency_seconds_mean": 7.2,
    "cache_lookups": 2,
    "cache_hit_rate": 0.0,
    "uploads": 2,
    "upload_failure_rate": 0.5,
}


def test_below_its_minimum_sample_no_rate_alert_fires(tracker):
    assert tracker.evaluate(SMALL) == []


@pytest.mark.parametrize(
    ("alert", "count", "minimum"),
    [
        ("error_rate", "api_calls", "min_api_calls"),
        ("api_latency", "api_calls", "min_latency_calls"),
        ("cache_hit_rate", "cache_lookups", "min_cache_lookups"),
        ("upload_failures", "uploads", "min_uploads"),
    ],
)
def test_each_rate_alert_fires_once_its_sample_reaches_the_minimum(tracker, alert, count, minimum):
    needed = getattr(Thresholds(), minimum)
    assert needed > 1  # a documented default, not "any sample"
    below = {**BAD, count: needed - 1}
    assert alert not in {t.rule.name for t in tracker.evaluate(below)}
    at = {**BAD, count: needed}
    assert alert in {t.rule.name for t in tracker.evaluate(at)}


def test_a_fired_alert_whose_sample_shrinks_below_the_minimum_holds(tracker):
    """A handful of events is no recovery either (review finding: an open circuit breaker
    stops the calls, and the alert resolved while Frame.io still failed)."""
    assert "cache_hit_rate" in {t.rule.name for t in tracker.evaluate(BAD)}
    shrunk = {**BAD, "cache_lookups": 1, "cache_hit_rate": 1.0}
    assert [t for t in tracker.evaluate(shrunk) if t.rule.name == "cache_hit_rate"] == []
    assert "cache_hit_rate" in tracker.active()
    resolved = [t for t in tracker.evaluate(GOOD) if t.rule.name == "cache_hit_rate"]
    assert [t.status for t in resolved] == ["resolved"]  # back on a full sample


def test_an_open_incident_survives_a_restart_and_resolves_once(tmp_path):
    clock = Clock()
    first = AlertTracker(Thresholds(), 1800, clock=clock, store=local_store(tmp_path))
    [fired] = [t for t in first.evaluate(BAD) if t.rule.name == "memory"]
    clock.now += 60
    restarted = AlertTracker(Thresholds(), 1800, clock=clock, store=local_store(tmp_path))
    assert restarted.evaluate({}) == []  # an empty window is no evidence: still open
    assert restarted.evaluate(BAD) == []  # still crossed: the incident is open, no new alert
    assert "memory" in restarted.active()
    resolved = [t for t in restarted.evaluate(GOOD) if t.rule.name == "memory"]
    assert [(t.status, t.alert_id) for t in resolved] == [("resolved", fired.alert_id)]
    again = AlertTracker(Thresholds(), 1800, clock=clock, store=local_store(tmp_path))
    assert again.evaluate(GOOD) == []  # resolved once: the next process has nothing open


def test_alert_texts_follow_the_installations_language(tracker):
    [fired] = [t for t in tracker.evaluate(BAD) if t.rule.name == "cache_hit_rate"]
    english, french = fired.payload(900), fired.payload(900, "fr")
    assert english["title"] == "Structure cache hit rate"
    assert french["title"] == "Taux de succès du cache de structure"
    assert french["status_text"] == "déclenchée" and english["status_text"] == "fired"
    assert "partagez structure_cache_dir" in french["check"]
    # what automations and `postflow alerts` match on stays the same in every language
    assert {k: french[k] for k in ("alert", "status", "alert_id", "figure", "threshold")} == {
        k: english[k] for k in ("alert", "status", "alert_id", "figure", "threshold")
    }
