"""The state store on a real PostgreSQL: its own schema, scopes, row locks, the import."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from blocks.store import open_store
from blocks.store import tables as t
from config.settings import PostflowSettings
from tasks.recovery.circuit import CircuitBreaker, read_circuit_state
from tasks.recovery.retry_queue import RetryQueue
from tests.integration import store_helpers
from tests.integration.store_helpers import PASSWORD

postgres_url, machines = store_helpers.postgres_url, store_helpers.machines  # the fixtures

pytestmark = pytest.mark.integration


def test_the_tables_live_in_their_own_schema(machines):
    machines("a")
    store = open_store(PostflowSettings())
    assert store.dialect == "postgresql"
    schema = PostflowSettings().state_schema
    with store.read() as db:
        names = db.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": schema},
        ).scalars()
        assert {"ledger", "uploads", "retry_queue", "circuit", "warm_runs"} <= set(names)
        assert (
            db.execute(
                text("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'")
            ).scalar()
            == 0
        )


def test_two_installations_on_one_database_never_see_each_others_rows(machines, monkeypatch):
    machines("a")
    ours = RetryQueue(open_store(PostflowSettings()))
    monkeypatch.setenv("POSTFLOW_INSTALLATION", "studio-b")
    theirs = RetryQueue(open_store(PostflowSettings()))
    ours.add("A/a.mov:1:2", "/w/A/a.mov", "FrameioServerError", transient=True)
    assert theirs.pending() == []
    assert [e.key for e in ours.pending()] == ["A/a.mov:1:2"]


def test_concurrent_failures_on_two_machines_count_every_one(machines):
    # Each thread is a recorder of its own (its own connection): FOR UPDATE serialises them.
    machines("a")
    settings = PostflowSettings()

    def fail() -> None:
        recorder = CircuitBreaker(open_store(settings), failure_threshold=1000, owner=False)
        for _ in range(10):
            recorder.record_failure(transient=True, error_kind="FrameioServerError")

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    machines("b")
    assert read_circuit_state(open_store(PostflowSettings()))["consecutive_failures"] == 40


def test_each_machine_s_old_files_are_imported_into_the_one_store(machines):
    for name in ("a", "b"):
        state_dir = machines(name)
        state_dir.mkdir(parents=True)
        line = {"key": f"{name}.mov:1:2", "event": "dispatched", "at": 1.0}
        (state_dir / "dispatched.jsonl").write_text(json.dumps(line) + "\n")
        open_store(PostflowSettings())
        assert (state_dir / "dispatched.jsonl.imported").is_file()
    with open_store(PostflowSettings()).read() as db:
        keys = sorted(db.execute(select(t.ledger.c.key)).scalars())
    assert keys == ["a.mov:1:2", "b.mov:1:2"]


def test_the_password_is_never_logged_nor_raised(machines, monkeypatch, caplog):
    machines("a")
    with caplog.at_level(logging.DEBUG):
        store = open_store(PostflowSettings())
        with store.read() as db:
            db.execute(select(t.meta))
        monkeypatch.setenv("POSTFLOW_STATE_URL", f"postgresql://prefect:{PASSWORD}@127.0.0.1:1/x")
        with pytest.raises(OSError) as caught:
            open_store(PostflowSettings())
    assert PASSWORD not in caplog.text and PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(store)


def test_a_password_file_keeps_the_password_out_of_the_url(postgres_url, tmp_path, monkeypatch):
    """With password authentication on, a URL without a password is refused, and libpq's
    password file (``PGPASSFILE``, or ``~/.pgpass``; PostgreSQL docs, libpq "The Password
    File") supplies it: the settings file then holds no secret (docs/several-machines.md)."""
    import psycopg

    admin = make_url(postgres_url)
    role, password = f"r_{secrets.token_hex(4)}", secrets.token_hex(8)
    with psycopg.connect(admin.set(drivername="postgresql").render_as_string(False)) as db:
        db.autocommit = True
        db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        db.execute(f"GRANT CREATE ON DATABASE {admin.database} TO {role}")
        hba = Path(db.execute("SHOW hba_file").fetchone()[0])
        rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())  # first match wins: this role needs a password
        db.execute("SELECT pg_reload_conf()")
    url = f"postgresql://{role}@{admin.host}:{admin.port}/{admin.database}"  # no password
    monkeypatch.setenv("POSTFLOW_STATE_URL", url)
    monkeypatch.setenv("POSTFLOW_STATE_SCHEMA", role)
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "nothing-here"))
    with pytest.raises(OSError, match="password"):
        open_store(PostflowSettings())

    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{admin.port}:{admin.database}:{role}:{password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with open_store(PostflowSettings()).read() as db:
        assert db.execute(select(t.meta)).all() is not None


def test_an_upload_checkpoint_made_on_one_machine_is_resumed_from_on_another(machines, tmp_path):
    import os

    from blocks.part_uploader import Part
    from tasks.upload.checkpoint import Checkpoints

    machines("a")
    mount_a, mount_b = tmp_path / "a" / "BY_SHOT", tmp_path / "b" / "BY_SHOT"
    for mount in (mount_a, mount_b):
        mount.mkdir(parents=True)
        (mount / "SC01_V001.mov").write_bytes(b"x" * 10)
    on_a = Checkpoints(open_store(PostflowSettings()), mount_a)
    parts = [Part(1, 0, 6, "https://s3.example/p1"), Part(2, 6, 4, "https://s3.example/p2")]
    stat = os.stat(mount_a / "SC01_V001.mov")
    on_a.start(str(mount_a / "SC01_V001.mov"), stat, "file-1", "folder-1", "video/quicktime", parts)
    on_a.part_done("file-1", 1, "ab" * 16)
    machines("b")
    on_b = Checkpoints(open_store(PostflowSettings()), mount_b)
    found = on_b.get(str(mount_b / "SC01_V001.mov"))
    assert found is not None and found.file_id == "file-1" and found.done == {1: "ab" * 16}
    assert [(p.offset, p.size) for p in found.parts] == [(0, 6), (6, 4)]
    on_b.drop(str(mount_b / "SC01_V001.mov"), "file-1")
    assert on_a.get(str(mount_a / "SC01_V001.mov")) is None
