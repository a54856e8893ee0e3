"""The live alerts take the tuning block's thresholds, minimum samples and cooldown at each
tick (issue 21: "thresholds are read from the tuning block at each tick"), against a real
Prefect test server and a saved block."""

from __future__ import annotations

import uuid

from blocks.settings import PostflowTuning, load_block
from tasks.observe.alerts import AlertTracker
from tasks.observe.live_metrics import LiveWindow
from tasks.observe.metrics_emitter import MetricsEmitter, thresholds_of

# The memory rule reads this process's RSS: a long test session passes 500 MB by itself
# (seen at 513 and 529 MB in full parallel runs), so this test about the cache rule keeps it out.
CALM = {"alert_memory_mb": 1e6}


def test_a_threshold_edited_in_the_block_acts_at_the_next_tick(prefect_harness):
    name = f"tuning-{uuid.uuid4().hex[:8]}"
    PostflowTuning(**CALM).save(name)
    window = LiveWindow(window_seconds=600)
    for hit in [True] * 3 + [False] * 7:  # 30 % hits, 10 look-ups: below the default minimum
        window.record_cache(hit)
    tracker = AlertTracker(thresholds_of(PostflowTuning(**CALM)), 1800)

    def read() -> PostflowTuning | None:
        found = load_block(PostflowTuning, name)
        return found if isinstance(found, PostflowTuning) else None

    emitter = MetricsEmitter(3600, tracker, window, tuning=read)
    assert emitter.tick() == []  # 10 look-ups < 20: no alert
    PostflowTuning(alert_min_cache_lookups=10, **CALM).save(name, overwrite=True)
    fired = emitter.tick()
    assert [(t.rule.name, t.status) for t in fired] == [("cache_hit_rate", "fired")]
    PostflowTuning(alert_min_cache_lookups=10, alert_cache_hit_rate_min=0.2, **CALM).save(
        name, overwrite=True
    )
    assert [t.status for t in emitter.tick()] == ["resolved"]  # 30 % is fine against 20 %
