"""Dispatch ledger: exactly once, across restarts."""

from __future__ import annotations

from tasks.ledger import DispatchLedger


def test_a_key_is_dispatched_once(tmp_path):
    ledger = DispatchLedger(tmp_path / "l.jsonl")
    assert ledger.mark_dispatched("a:1:2") is True
    assert ledger.mark_dispatched("a:1:2") is False
    assert ledger.should_dispatch("a:1:2") is False


def test_finished_key_is_not_resent_after_restart(tmp_path):
    first = DispatchLedger(tmp_path / "l.jsonl")
    first.mark_dispatched("a:1:2")
    first.mark_finished("a:1:2", ok=True)
    second = DispatchLedger(tmp_path / "l.jsonl")
    assert second.should_dispatch("a:1:2") is False
    assert second.mark_dispatched("a:1:2") is False
    assert second.interrupted() == []


def test_failed_key_is_not_resent_either(tmp_path):
    first = DispatchLedger(tmp_path / "l.jsonl")
    first.mark_dispatched("bad:1:2")
    first.mark_finished("bad:1:2", ok=False)
    assert DispatchLedger(tmp_path / "l.jsonl").should_dispatch("bad:1:2") is False
    assert first.counts()["failed"] == 1


def test_interrupted_dispatch_is_sent_again_after_restart(tmp_path):
    DispatchLedger(tmp_path / "l.jsonl").mark_dispatched("a:1:2")
    second = DispatchLedger(tmp_path / "l.jsonl")
    assert second.interrupted() == ["a:1:2"]
    assert second.should_dispatch("a:1:2") is True
    assert second.mark_dispatched("a:1:2") is True


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "l.jsonl"
    ledger = DispatchLedger(path)
    ledger.mark_dispatched("a:1:2")
    ledger.mark_finished("a:1:2", ok=True)
    with path.open("a") as handle:
        handle.write('{"key": "b:1:2", "ev')
    reloaded = DispatchLedger(path)
    assert reloaded.should_dispatch("a:1:2") is False
    assert reloaded.should_dispatch("b:1:2") is True
