"""Dispatch ledger: exactly once, across restarts."""

from __future__ import annotations

from blocks.store import local_store
from tasks.sensor.ledger import DispatchLedger


def test_a_key_is_dispatched_once(tmp_path):
    ledger = DispatchLedger(local_store(tmp_path))
    assert ledger.mark_dispatched("a:1:2") is True
    assert ledger.mark_dispatched("a:1:2") is False
    assert ledger.should_dispatch("a:1:2") is False


def test_finished_key_is_not_resent_after_restart(tmp_path):
    first = DispatchLedger(local_store(tmp_path))
    first.mark_dispatched("a:1:2")
    first.mark_finished("a:1:2", ok=True)
    second = DispatchLedger(local_store(tmp_path))
    assert second.should_dispatch("a:1:2") is False
    assert second.mark_dispatched("a:1:2") is False
    assert second.interrupted() == []


def test_failed_key_is_not_resent_either(tmp_path):
    first = DispatchLedger(local_store(tmp_path))
    first.mark_dispatched("bad:1:2")
    first.mark_finished("bad:1:2", ok=False)
    assert DispatchLedger(local_store(tmp_path)).should_dispatch("bad:1:2") is False
    assert first.counts()["failed"] == 1


def test_interrupted_dispatch_is_sent_again_after_restart(tmp_path):
    DispatchLedger(local_store(tmp_path)).mark_dispatched("a:1:2")
    second = DispatchLedger(local_store(tmp_path))
    assert second.interrupted() == ["a:1:2"]
    assert second.should_dispatch("a:1:2") is True
    assert second.mark_dispatched("a:1:2") is True


def test_a_key_finished_by_another_process_is_not_dispatched_here(tmp_path):
    here, there = DispatchLedger(local_store(tmp_path)), DispatchLedger(local_store(tmp_path))
    assert here.should_dispatch("a:1:2")  # nothing yet: both would send it
    there.mark_dispatched("a:1:2")
    there.mark_finished("a:1:2", ok=True)
    assert here.should_dispatch("a:1:2") is False
    assert here.mark_dispatched("a:1:2") is False


def test_a_retry_reopens_a_finished_key_until_it_finishes_again(tmp_path):
    ledger = DispatchLedger(local_store(tmp_path))
    ledger.mark_dispatched("a:1:2")
    ledger.mark_finished("a:1:2", ok=False)
    assert ledger.mark_retrying("a:1:2") is True
    assert ledger.mark_retrying("a:1:2") is False  # being ingested here
    assert DispatchLedger(local_store(tmp_path)).interrupted() == ["a:1:2"]
    ledger.mark_finished("a:1:2", ok=True)
    assert DispatchLedger(local_store(tmp_path)).interrupted() == []
