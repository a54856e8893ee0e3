"""Large renders (issue 19): an interrupted multipart upload resumes from its checkpoint, an
unfinished file never stays in Frame.io, and what Frame.io stored is checked against what was
read. Small files with the sandbox's 256 KiB parts stand in for multi-GB renders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import xxhash
from prefect.settings import PREFECT_API_URL

from blocks.store import local_store
from core.errors import DeliveryMismatch
from flows.ingest import ingest_file
from tasks.upload.checkpoint import Checkpoints
from tasks.upload.run import progress_for
from tasks.upload.sample_check import check_samples
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

NAME = "SC01_UNDLM_00412_V001.mov"
PART = 256 * 1024  # the sandbox fixture's part size
PARTS = 32
SIZE = PARTS * PART - 1000


def _checkpoints(pipeline) -> Checkpoints:
    return Checkpoints(local_store(Path(os.environ["POSTFLOW_STATE_DIR"])), pipeline.by_shot)


def _sent_bytes(pipeline, file_id: str) -> int:
    return int(pipeline.sandbox.stats()["part_bytes_by_file"].get(file_id, 0))


def _only_file(pipeline):
    (only,) = all_files(pipeline.project())
    return only


def test_a_killed_ingest_resumes_and_sends_at_most_1_1_times_the_file(
    pipeline, postflow_env
) -> None:
    postflow_env(upload_part_concurrency=2, upload_progress_log_bytes=10**9)
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    pipeline.sandbox.set_latency(0.05)  # slow enough to stop it part-way
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    postflow = Path(sys.executable).with_name("postflow")
    child = subprocess.Popen(
        [str(postflow), "ingest", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    puts: dict[str, int] = {}
    while time.monotonic() < deadline and child.poll() is None:
        puts = pipeline.sandbox.stats()["part_puts_by_file"]
        if puts and max(puts.values()) >= 0.65 * PARTS:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    _mark_killed_runs_crashed(str(path))
    assert puts and max(puts.values()) >= 0.65 * PARTS, f"never reached 65 %: {puts}"
    pipeline.sandbox.set_latency(0)

    result = ingest_file(str(path))

    (first_id,) = puts
    assert result["file_id"] == first_id and result["resumed_parts"] >= 0.6 * PARTS
    assert _sent_bytes(pipeline, first_id) <= 1.1 * SIZE
    assert pipeline.sandbox.stored_bytes(first_id) == path.read_bytes()
    assert result["fingerprint"] == xxhash.xxh3_128_hexdigest(path.read_bytes())
    assert [f.id for f in all_files(pipeline.project())] == [first_id]


def _mark_killed_runs_crashed(path: str) -> None:
    """What ``postflow up``'s recovery does for a dead runner: the killed process's run is
    left Running on the session's Prefect server, where later tests' history would see it."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    running = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
    )
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_run_filter=running):
            if run.parameters.get("path") == path:
                client.set_flow_run_state(run.id, Crashed(message="killed by the test"), force=True)


def _fail_part_puts_after(pipeline, parts: int) -> None:
    """Every part PUT after the first ``parts`` gets a 503: an outage mid-upload."""
    stored = {"n": 0}

    def count(delta: int) -> None:
        stored["n"] += delta
        if stored["n"] >= parts * PART:
            pipeline.sandbox.inject_status(503, count=10_000, path=r"/_upload/", method="PUT")

    return count  # type: ignore[return-value]


def _interrupted(pipeline, postflow_env, seed: int, parts: int) -> Path:
    """A render whose first ingest stored ``parts`` parts, then failed in an outage (cleared
    afterwards): its checkpoint and unfinished Frame.io file are left for the resume path."""
    postflow_env(upload_part_concurrency=1, upload_part_retries=0, task_retries=0)
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=seed)
    with progress_for(str(path), _fail_part_puts_after(pipeline, parts)):
        assert ingest_file(str(path), return_state=True).is_failed()
    pipeline.sandbox.clear_faults()
    return path


def test_an_outage_mid_upload_keeps_the_parts_and_the_next_ingest_resumes(
    pipeline, postflow_env
) -> None:
    path = _interrupted(pipeline, postflow_env, seed=2, parts=10)
    kept = _checkpoints(pipeline).get(str(path))
    assert kept is not None and len(kept.done) >= 10

    result = ingest_file(str(path))

    assert result["file_id"] == kept.file_id and result["resumed_parts"] == len(kept.done)
    assert _sent_bytes(pipeline, kept.file_id) <= 1.1 * SIZE
    assert pipeline.sandbox.stored_bytes(kept.file_id) == path.read_bytes()
    assert _checkpoints(pipeline).get(str(path)) is None


def test_expired_part_urls_start_a_clean_new_file(pipeline, postflow_env) -> None:
    path = _interrupted(pipeline, postflow_env, seed=3, parts=10)
    kept = _checkpoints(pipeline).get(str(path))
    assert kept is not None
    pipeline.sandbox.state.clock.advance(2 * 86400)  # past every URL's X-Amz-Expires

    result = ingest_file(str(path))

    assert result["file_id"] != kept.file_id and result["resumed_parts"] == 0
    assert [f.id for f in all_files(pipeline.project())] == [result["file_id"]]
    assert pipeline.sandbox.stored_bytes(result["file_id"]) == path.read_bytes()


def test_a_url_that_expires_mid_upload_restarts_the_file_at_once(pipeline, postflow_env) -> None:
    postflow_env(upload_part_concurrency=1, task_retries=0)
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=4)
    moved = {"done": False}

    def expire_half_way(delta: int) -> None:
        progress["n"] += delta
        if progress["n"] >= SIZE // 2 and not moved["done"]:
            moved["done"] = True
            pipeline.sandbox.state.clock.advance(2 * 86400)

    progress = {"n": 0}
    with progress_for(str(path), expire_half_way):
        result = ingest_file(str(path))

    assert [f.id for f in all_files(pipeline.project())] == [result["file_id"]]
    assert pipeline.sandbox.stored_bytes(result["file_id"]) == path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_source_damaged_mid_put_leaves_nothing_in_frameio(
    pipeline, postflow_env, damage: str
) -> None:
    postflow_env(upload_part_concurrency=1, task_retries=0)
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=5)
    sent = {"n": 0}

    def damage_at_a_third(delta: int) -> None:
        sent["n"] += delta
        if sent["n"] >= SIZE // 3 and path.exists():
            os.truncate(path, SIZE // 2)
            if damage == "deleted":
                os.truncate(path, 0)  # the bytes are gone, as on a filespace
                path.unlink()

    with progress_for(str(path), damage_at_a_third):
        state = ingest_file(str(path), return_state=True)

    assert state.is_failed()
    assert all_files(pipeline.project()) == []
    assert _checkpoints(pipeline).get(str(path)) is None


def test_a_short_file_in_frameio_is_deleted_and_sent_again(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=6)
    armed = httpx.post(
        f"{pipeline.sandbox.url}/_sandbox/faults/short_store",
        json={"count": 1, "missing_bytes": 1000},
    )
    assert armed.status_code == 201

    result = ingest_file(str(path))

    only = _only_file(pipeline)
    assert only.id == result["file_id"] and only.file_size == SIZE
    assert pipeline.sandbox.stored_bytes(result["file_id"]) == path.read_bytes()
    assert pipeline.sandbox.stats()["part_bytes_received"] == 2 * SIZE


def test_a_source_gone_before_its_resume_deletes_the_unfinished_file(
    pipeline, postflow_env
) -> None:
    path = _interrupted(pipeline, postflow_env, seed=7, parts=5)
    assert len(all_files(pipeline.project())) == 1  # kept for the resume path
    path.unlink()

    assert ingest_file(str(path), return_state=True).is_failed()

    assert all_files(pipeline.project()) == []
    assert _checkpoints(pipeline).get(str(path)) is None


def test_the_sample_check_compares_stored_ranges_and_catches_a_changed_byte(
    pipeline, postflow_env
) -> None:
    postflow_env(upload_verify_sample_ranges=4, upload_verify_sample_bytes=4096)
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=8)
    result = ingest_file(str(path))  # the check ran inside and passed
    project = pipeline.project()
    assert check_samples(project, result["file_id"], str(path), SIZE, 4, 4096) == 4 * 4096
    blob = pipeline.sandbox.stored_path(result["file_id"])
    with blob.open("r+b") as handle:  # Frame.io's copy goes bad at its last byte
        handle.seek(SIZE - 1)
        last = handle.read(1)
        handle.seek(SIZE - 1)
        handle.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(DeliveryMismatch, match=f"at byte {SIZE - 4096}"):
        check_samples(project, result["file_id"], str(path), SIZE, 4, 4096)


def test_an_ingest_over_the_progress_threshold_keeps_a_progress_artifact_on_its_run(
    pipeline, postflow_env
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    from tasks.upload.progress_artifact import artifact_key

    postflow_env(upload_progress_log_bytes=SIZE // 4)
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=9)
    state = ingest_file(str(path), return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(NAME)])),
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            ),
        )
    assert [(a.type, a.data) for a in artifacts] == [("progress", 100.0)]


def test_a_damaged_checkpoint_restarts_the_upload_and_deletes_its_file(
    pipeline, postflow_env
) -> None:
    from sqlalchemy import update

    from blocks.store import tables as t

    path = _interrupted(pipeline, postflow_env, seed=10, parts=5)
    kept = _checkpoints(pipeline).get(str(path))
    assert kept is not None
    store = local_store(Path(os.environ["POSTFLOW_STATE_DIR"]))
    with store.write() as db:  # a damaged row: its part list is not JSON any more
        db.execute(update(t.upload_checkpoints).values(parts='[[12, "https://s3'))

    result = ingest_file(str(path))

    assert result["file_id"] != kept.file_id and result["resumed_parts"] == 0
    assert [f.id for f in all_files(pipeline.project())] == [result["file_id"]]
    assert pipeline.sandbox.stored_bytes(result["file_id"]) == path.read_bytes()
