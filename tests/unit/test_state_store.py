"""The state store on its default SQLite file: scopes, transactions, and the one-time import."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from sqlalchemy import select

from blocks.store import local_store, open_store, redacted
from blocks.store import tables as t
from blocks.store.legacy import import_file, import_state_dir
from config.settings import PostflowSettings
from core.errors import StateStoreError


def _keys(store, table=t.ledger):
    with store.read() as db:
        return sorted(db.execute(select(table.c.key).where(store.where(table))).scalars())


def _mark(store, key):
    with store.write() as db:
        db.execute(store.insert_missing(t.ledger, {"key": key, "dispatched_at": 1.0}))


def test_installations_and_productions_sharing_a_file_never_see_each_others_rows(tmp_path):
    ours, other = local_store(tmp_path), local_store(tmp_path, installation="studio-b")
    film = local_store(tmp_path, production="chrono")
    _mark(ours, "a:1:2")
    _mark(other, "b:1:2")
    _mark(film, "c:1:2")
    assert _keys(ours) == ["a:1:2"]
    assert _keys(other) == ["b:1:2"]
    assert _keys(film) == ["c:1:2"]


def test_the_sqlite_file_is_in_wal_mode(tmp_path):
    store = local_store(tmp_path)
    with store.read() as db:
        assert db.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "state.db").is_file()


def test_read_modify_writes_of_many_threads_lose_no_update(tmp_path):
    store = local_store(tmp_path)
    with store.write() as db:
        db.execute(store.insert_missing(t.meta, {"name": "n", "value": "0"}))

    def bump():
        for _ in range(20):
            with store.write() as db:
                row = select(t.meta.c.value).where(t.meta.c.name == "n")
                value = int(db.execute(store.locked(row)).scalar_one())
                db.execute(t.meta.update().where(t.meta.c.name == "n").values(value=str(value + 1)))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.read() as db:
        assert db.execute(select(t.meta.c.value).where(t.meta.c.name == "n")).scalar() == "80"


def test_a_failed_transaction_writes_nothing(tmp_path):
    store = local_store(tmp_path)
    with pytest.raises(RuntimeError), store.write() as db:
        db.execute(store.insert_missing(t.ledger, {"key": "a:1:2", "dispatched_at": 1.0}))
        raise RuntimeError("half-way")
    assert _keys(store) == []


def test_undecodable_file_names_round_trip():
    name = "shot\udcff.mov:1:2"
    stored = t.encode_text(name)
    stored.encode("utf-8")  # storable
    assert t.decode_text(stored) == name
    assert t.decode_text('"quoted".mov') == '"quoted".mov'


def test_a_password_in_the_url_is_never_shown():
    assert redacted("postgresql://u:s3cret@db:5432/p") == "postgresql://u:***@db:5432/p"


def test_an_unsupported_url_is_refused_without_its_password(tmp_path):
    settings = PostflowSettings(state_dir=tmp_path, state_url="mysql://u:s3cret@db/p")
    with pytest.raises(StateStoreError) as caught:
        open_store(settings)
    assert "s3cret" not in str(caught.value) and "postgresql://" in str(caught.value)


def test_an_unreachable_postgresql_is_a_state_store_error_without_its_password(tmp_path):
    url = "postgresql://u:s3cret@127.0.0.1:1/p?connect_timeout=2"
    with pytest.raises(StateStoreError) as caught:
        open_store(PostflowSettings(state_dir=tmp_path, state_url=url))
    assert "s3cret" not in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert isinstance(caught.value, OSError)  # callers that survived a bad state dir survive it


def _write_old_state(state_dir):
    state_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        {"key": "A/a.mov:1:2", "event": "dispatched", "at": 10.0},
        {"key": "A/a.mov:1:2", "event": "finished", "ok": True, "at": 11.0},
        {"key": "A/b.mov:1:2", "event": "dispatched", "at": 12.0},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"key": "torn'
    (state_dir / "dispatched.jsonl").write_text(text)
    uploads = {"/w/A/a.mov": {"size_bytes": 1, "mtime_ns": 2, "fingerprint": "ff", "file_id": "F"}}
    (state_dir / "uploads.json").write_text(json.dumps(uploads))
    entry = {
        "key": "A/c.mov:1:2",
        "path": "/w/A/c.mov",
        "error_kind": "FrameioServerError",
        "attempts": 2,
        "first_failed_at": 5.0,
        "next_attempt_at": 6.0,
    }
    (state_dir / "retry-queue.json").write_text(json.dumps({"format": 1, "queued": {"k": entry}}))
    circuit = {"state": "open", "consecutive_failures": 5, "opened_at": 7.0}
    (state_dir / "circuit.json").write_text(json.dumps(circuit))
    run = {"1b4e28ba-2fa1-11d2-883f-0016d3cca427": {"pid": 999999, "started_at": 1.0}}
    (state_dir / "warm-runs.json").write_text(json.dumps(run))


def test_the_old_json_state_is_imported_once_and_the_files_are_kept_renamed(tmp_path):
    state_dir = tmp_path / "state"
    _write_old_state(state_dir)
    store = open_store(PostflowSettings(state_dir=state_dir))
    assert _keys(store) == ["A/a.mov:1:2", "A/b.mov:1:2"]
    with store.read() as db:
        ledger = {r.key: r for r in db.execute(select(t.ledger))}
        assert ledger["A/a.mov:1:2"].ok is True and ledger["A/b.mov:1:2"].finished_at is None
        assert db.execute(select(t.uploads.c.file_id)).scalar() == "F"
        assert db.execute(select(t.retry_queue.c.attempts)).scalar() == 2
        assert db.execute(select(t.circuit.c.state)).scalar() == "open"
        assert db.execute(select(t.warm_runs.c.run_id)).scalar().startswith("1b4e28ba")
    left = sorted(p.name for p in state_dir.iterdir() if not p.name.startswith("state.db"))
    assert left == [
        "circuit.json.imported",
        "dispatched.jsonl.imported",
        "retry-queue.json.imported",
        "uploads.json.imported",
        "warm-runs.json.imported",
    ]
    assert import_state_dir(store, state_dir) == 0  # nothing left to import


def test_a_corrupt_old_file_is_named_once_kept_and_the_rest_imported(tmp_path, caplog):
    state_dir = tmp_path / "state"
    _write_old_state(state_dir)
    (state_dir / "circuit.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="postflow.state"):
        store = open_store(PostflowSettings(state_dir=state_dir))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(state_dir / "circuit.json") in warnings[0]
    assert (state_dir / "circuit.json.corrupt").read_text() == "{not json"
    assert _keys(store) == ["A/a.mov:1:2", "A/b.mov:1:2"]


def test_importing_again_keeps_the_rows_already_in_the_store(tmp_path):
    store = local_store(tmp_path / "db")
    with store.write() as db:
        db.execute(store.insert_missing(t.alert_keys, {"key": "k1", "sent_at": 99.0}))
    old = tmp_path / "postflow-sent-alert-keys.json"
    old.write_text(json.dumps({"k1": 1.0, "k2": 2.0}))
    assert import_file(store, old) == 2
    with store.read() as db:
        rows = dict(db.execute(select(t.alert_keys.c.key, t.alert_keys.c.sent_at)).all())
    assert rows == {"k1": 99.0, "k2": 2.0}
    assert not old.exists() and old.with_name(old.name + ".imported").is_file()


def test_a_store_written_by_a_newer_version_is_refused_with_what_to_do(tmp_path):
    from blocks.store.engine import engine_for, sqlite_url

    store = local_store(tmp_path)
    with store.write() as db:
        db.execute(t.meta.update().where(t.meta.c.name == "schema_version").values(value="99"))
    with pytest.raises(StateStoreError, match="newer postflow.*upgrade postflow"):
        engine_for(sqlite_url(tmp_path), schema="another-key")  # a process opening it afresh


def test_a_source_whose_name_starts_with_two_dots_is_keyed_inside_the_watch_folder() -> None:
    from tasks.upload.identity import source_key

    assert source_key("/w/BY_SHOT", "/w/BY_SHOT/..SC01_V001.mov") == "..SC01_V001.mov"
    assert source_key("/w/BY_SHOT", "/w/other/SC01_V001.mov") == "/w/other/SC01_V001.mov"
    assert source_key(None, "/w/BY_SHOT/SC01_V001.mov") == "/w/BY_SHOT/SC01_V001.mov"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("circuit.json", '{"state": "open", "opened_at": "abc"}'),
        ("circuit.json", '{"state": "open", "consecutive_failures": [1]}'),
        ("retry-queue.json", '{"queued": ["not", "a", "mapping"]}'),
    ],
)
def test_an_old_file_of_the_wrong_shape_is_set_aside_with_one_warning(
    tmp_path, caplog, name, content
):
    state_dir = tmp_path / "state"
    _write_old_state(state_dir)
    (state_dir / name).write_text(content)
    with caplog.at_level(logging.WARNING, logger="postflow.state"):
        store = open_store(PostflowSettings(state_dir=state_dir))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(state_dir / name) in warnings[0]
    assert (state_dir / f"{name}.corrupt").read_text() == content
    assert _keys(store) == ["A/a.mov:1:2", "A/b.mov:1:2"]


def test_ledger_lines_with_undecodable_bytes_are_imported_or_skipped(tmp_path, caplog):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "dispatched.jsonl").write_bytes(
        b'{"key": "A/\xff.mov:1:2", "event": "dispatched", "at": 1}\n'
        b"\xff\xfe\x00 torn\n"
        b'{"key": "A/b.mov:1:2", "event": "finished", "at": "x", "ok": true}\n'
        b'{"key": "A/c.mov:1:2", "event": "dispatched", "at": 2}\n'
    )
    with caplog.at_level(logging.WARNING, logger="postflow.state"):
        store = open_store(PostflowSettings(state_dir=state_dir))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert sorted(t.decode_text(k) for k in _keys(store)) == ["A/c.mov:1:2", "A/\udcff.mov:1:2"]
