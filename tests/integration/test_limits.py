"""Prefect global concurrency limits guarding Frame.io calls, on a real Prefect server."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from flows.ingest import ingest_file
from tasks.platform.limits import ensure_limits, limit_names
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration
NAMES = limit_names("postflow")


def test_limits_are_created_idempotently_with_slot_decay(prefect_harness):
    ensure_limits(10.0, 20, 3.0, 3)
    ensure_limits(10.0, 20, 3.0, 2)
    with get_client(sync_client=True) as client:
        limits = {
            n: client.read_global_concurrency_limit_by_name(n)
            for n in (NAMES.api, NAMES.folder_create, NAMES.uploads)
        }
    assert NAMES.api == "postflow-frameio-api" and NAMES.uploads == "postflow-uploads"
    assert (limits[NAMES.api].limit, limits[NAMES.api].slot_decay_per_second) == (20, 10.0)
    assert limits[NAMES.folder_create].slot_decay_per_second == 3.0
    assert limits[NAMES.uploads].limit == 2
    assert limits[NAMES.uploads].active_slots == 0


def test_another_installations_and_foreign_limits_are_left_alone(prefect_harness):
    other = limit_names("postflow-b")
    foreign = {
        other.api: (7, 1.5),
        other.uploads: (9, 0.0),
        "frameio-api": (4, 0.5),  # the name before installations: possibly someone else's
        "render-farm-slots": (12, 0.0),
    }
    with get_client(sync_client=True) as client:
        for name, (limit, decay) in foreign.items():
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=limit, slot_decay_per_second=decay)
            )
        before = {n: client.read_global_concurrency_limit_by_name(n) for n in foreign}
        created = ensure_limits(10.0, 20, 3.0, 3, installation="postflow")
        after = {n: client.read_global_concurrency_limit_by_name(n) for n in foreign}
    assert set(created) == {NAMES.api, NAMES.folder_create, NAMES.uploads}
    for name in foreign:
        assert after[name].model_dump() == before[name].model_dump(), name


def test_ingest_runs_under_the_limits_and_releases_the_upload_slot(pipeline, postflow_env):
    ensure_limits(10.0, 20, 3.0, 3, installation="studio-c")
    postflow_env(use_prefect_limits="true", installation="studio-c")
    result = ingest_file(str(make_file(pipeline.by_shot, "SC09_LIMIT_00001_V001.mov", 200_000)))
    with get_client(sync_client=True) as client:
        uploads = client.read_global_concurrency_limit_by_name(limit_names("studio-c").uploads)
    assert result["strategy"] == "multipart"
    assert [f.name for f in all_files(pipeline.project())] == ["SC09_LIMIT_00001_V001.mov"]
    assert uploads.active_slots == 0
