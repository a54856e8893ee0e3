"""The delivery manifest: store rows, the ASC MHL history read back by ascmhl, and verify."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xxhash
from ascmhl import chain_xml_parser
from typer.testing import CliRunner

from blocks.store import open_store
from config.settings import PostflowSettings
from tasks.manifest import DeliveryLog, read_history, record_delivery, write_pending
from tasks.upload.job import UploadResult

runner = CliRunner()


@pytest.fixture
def settings(tmp_path: Path) -> PostflowSettings:
    (tmp_path / "BY_SHOT").mkdir()
    return PostflowSettings(watch_path=tmp_path / "BY_SHOT", state_dir=tmp_path / "state")


def _deliver(settings, rel_path: str, data: bytes, file_id: str, at: float = 1.8e9, **changes):
    source = Path(settings.watch_path) / rel_path
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    fields = {
        "file_id": file_id,
        "name": source.name,
        "size_bytes": len(data),
        "seconds": 0.1,
        "fingerprint": xxhash.xxh3_128_hexdigest(data),
        "strategy": "multipart",
        "view_url": f"https://next.frame.io/view/{file_id}",
        "mtime_ns": source.stat().st_mtime_ns,
    }
    return record_delivery(settings, str(source), UploadResult(**{**fields, **changes}), now=at)


def _root(settings) -> Path:
    return Path(settings.state_dir).absolute() / "mhl" / "postflow"


def test_a_generation_records_the_watch_folder_path_size_and_xxh128(settings):
    data = b"render" * 1000
    _deliver(settings, "SC01/SC01_UNDLM_00412_V002.mov", data, "f-1")
    written = write_pending(settings)
    [generation] = read_history(_root(settings))  # ascmhl's own loader and parser
    assert written.generation == generation.number == 1
    assert generation.entries == [
        ("SC01/SC01_UNDLM_00412_V002.mov", len(data), xxhash.xxh3_128_hexdigest(data), "original")
    ]
    assert written.file == generation.file and written.file.parent == _root(settings) / "ascmhl"


def test_two_batches_make_two_generations_and_the_chain_holds_both(settings):
    _deliver(settings, "A_V001.mov", b"a", "f-1")
    write_pending(settings)
    _deliver(settings, "B_V001.mov", b"b", "f-2", at=1.8e9 + 60)
    _deliver(settings, "C_V001.mov", b"c", "f-3", at=1.8e9 + 61)
    write_pending(settings)
    generations = read_history(_root(settings))  # raises when the chain does not match
    assert [g.number for g in generations] == [1, 2]
    assert [e[0] for e in generations[1].entries] == ["B_V001.mov", "C_V001.mov"]
    chain = chain_xml_parser.parse(str(_root(settings) / "ascmhl" / "ascmhl_chain.xml"))
    assert [g.ascmhl_filename for g in chain.generations] == [g.file.name for g in generations]
    assert [d.generation for d in DeliveryLog(open_store(settings)).listed()] == [1, 2, 2]


def test_a_skipped_file_or_an_unknown_fingerprint_is_no_delivery(settings):
    assert _deliver(settings, "A_V001.mov", b"a", "f-1", strategy="skipped") is None
    assert _deliver(settings, "B_V001.mov", b"b", "f-2", fingerprint="") is None
    assert DeliveryLog(open_store(settings)).listed() == []
    assert write_pending(settings).reason == "nothing pending"


def test_an_ingest_writes_a_generation_only_when_the_last_is_older_than_the_batch(settings):
    _deliver(settings, "A_V001.mov", b"a", "f-1")
    assert write_pending(settings, due_only=True).generation == 1  # the first: at once
    _deliver(settings, "B_V001.mov", b"b", "f-2")
    assert write_pending(settings, due_only=True).reason == "not due"
    later = write_pending(settings, due_only=True, now=4e9)
    assert later.generation == 2 and later.deliveries == 1


def test_another_holders_lease_keeps_this_process_from_writing(settings):
    _deliver(settings, "A_V001.mov", b"a", "f-1")
    other = DeliveryLog(open_store(settings))
    other.holder = "other-host:1"
    assert other.claim()
    assert write_pending(settings).reason == "another process is writing it"
    other.release()
    assert write_pending(settings).generation == 1


def test_a_manifest_that_cannot_be_written_leaves_the_ingest_alone(settings, tmp_path):
    from prefect.logging import disable_run_logger

    from flows.ingest import _manifest

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    broken = settings.model_copy(update={"manifest_dir": blocked})
    source = Path(settings.watch_path) / "A_V001.mov"
    source.write_bytes(b"a")
    result = UploadResult(
        file_id="f-1",
        name="A_V001.mov",
        size_bytes=1,
        seconds=0.1,
        fingerprint="ab" * 16,
        strategy="multipart",
        view_url="https://x/1",
    )
    with disable_run_logger():
        assert _manifest(broken, str(source), result) == "pending"
    [pending] = DeliveryLog(open_store(settings)).listed(pending_only=True)
    assert pending.file_id == "f-1"


def _manifest_cli(settings, *args: str):
    from postflow.cli.main import app

    env = {"POSTFLOW_WATCH_PATH": str(settings.watch_path)}
    env["POSTFLOW_STATE_DIR"] = str(settings.state_dir)
    return runner.invoke(app, ["manifest", *args], env=env)


def test_manifest_verify_says_ok_then_changed_after_one_byte_changes(settings):
    _deliver(settings, "SC01_UNDLM_00412_V002.mov", b"0123456789" * 100, "f-1")
    before = _manifest_cli(settings, "--verify", "--json")
    assert before.exit_code == 0, before.output
    assert '"status": "OK"' in before.output
    source = Path(settings.watch_path) / "SC01_UNDLM_00412_V002.mov"
    with open(source, "r+b") as handle:  # same size, one byte other
        handle.seek(500)
        handle.write(b"X")
    after = _manifest_cli(settings, "--verify", "--json")
    assert after.exit_code == 1
    assert '"status": "CHANGED"' in after.output


def test_manifest_verify_says_missing_for_a_deleted_source(settings):
    _deliver(settings, "A_V001.mov", b"a", "f-1")
    os.remove(Path(settings.watch_path) / "A_V001.mov")
    result = _manifest_cli(settings, "--verify")
    assert result.exit_code == 1
    assert "MISSING" in result.output
    assert "Traceback" not in result.output


def test_manifest_lists_deliveries_and_writes_the_pending_generation(settings):
    _deliver(settings, "A_V001.mov", b"a", "f-1")
    result = _manifest_cli(settings)
    assert result.exit_code == 0, result.output
    assert "Wrote generation 1" in result.output and "A_V001.mov" in result.output
    assert [g.number for g in read_history(_root(settings))] == [1]


def test_the_weekly_report_links_the_history_and_counts_the_window(settings):
    from tasks.manifest.summary import manifest_markdown, manifest_summaries

    _deliver(settings, "A_V001.mov", b"a", "f-1", at=1.0e9)  # before the window
    _deliver(settings, "B_V001.mov", b"b", "f-2", at=1.8e9)
    [row] = manifest_summaries(settings, since=1.5e9)
    assert row["deliveries"] == 1 and row["pending"] == 0
    assert row["latest_generation"].endswith(".mhl")
    assert row["history"] == str(_root(settings) / "ascmhl")
    assert row["latest_generation"] in manifest_markdown([row])
