"""The sensor started on a state dir an earlier version left: its log lines reach the run log."""

from __future__ import annotations

import logging
from pathlib import Path

from config.settings import PostflowSettings
from flows.sensor import _watch_one


def test_an_interrupted_ingest_whose_key_holds_raw_bytes_is_logged_in_utf8(tmp_path: Path) -> None:
    state, watch = tmp_path / "state", tmp_path / "BY_SHOT"
    state.mkdir()
    watch.mkdir()
    (state / "dispatched.jsonl").write_bytes(
        b'{"key": "SC01/\xffA_V001.mov:1:2", "event": "dispatched", "at": 1}\n'
    )
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("postflow.test-sensor-state")
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        _watch_one(PostflowSettings(state_dir=state, watch_path=watch), None, logger)
    finally:
        logger.removeHandler(handler)
    [record] = [r for r in records if "interrupted by a restart" in r.getMessage()]
    message = record.getMessage()
    message.encode("utf-8")  # Prefect's API log handler (orjson) refuses lone surrogates
    assert "SC01/\\xffA_V001.mov:1:2" in message
