"""Prefect global concurrency limits guarding Frame.io calls, on a real Prefect server."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

from flows.ingest import ingest_file
from tasks.limits import API_LIMIT, FOLDER_CREATE_LIMIT, UPLOADS_LIMIT, ensure_limits
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration


def test_limits_are_created_idempotently_with_slot_decay(prefect_harness):
    ensure_limits(10.0, 20, 3.0, 3)
    ensure_limits(10.0, 20, 3.0, 2)
    with get_client(sync_client=True) as client:
        limits = {
            n: client.read_global_concurrency_limit_by_name(n)
            for n in (API_LIMIT, FOLDER_CREATE_LIMIT, UPLOADS_LIMIT)
        }
    assert (limits[API_LIMIT].limit, limits[API_LIMIT].slot_decay_per_second) == (20, 10.0)
    assert limits[FOLDER_CREATE_LIMIT].slot_decay_per_second == 3.0
    assert limits[UPLOADS_LIMIT].limit == 2
    assert limits[UPLOADS_LIMIT].active_slots == 0


def test_ingest_runs_under_the_limits_and_releases_the_upload_slot(pipeline, postflow_env):
    ensure_limits(10.0, 20, 3.0, 3)
    postflow_env(use_prefect_limits="true")
    result = ingest_file(str(make_file(pipeline.by_shot, "SC09_LIMIT_00001_V001.mov", 200_000)))
    with get_client(sync_client=True) as client:
        uploads = client.read_global_concurrency_limit_by_name(UPLOADS_LIMIT)
    assert result["strategy"] == "multipart"
    assert [f.name for f in all_files(pipeline.project())] == ["SC09_LIMIT_00001_V001.mov"]
    assert uploads.active_slots == 0
