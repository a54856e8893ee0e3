"""An outage at the very start of an ingest: every Frame.io call is retried, the first included."""

from __future__ import annotations

import pytest

from flows.ingest import ingest_file
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

PROJECT_SHOW = r"^/v4/accounts/[^/]+/projects/[^/]+$"


def test_token_endpoint_and_api_down_at_the_start_then_the_ingest_succeeds(pipeline):
    sandbox = pipeline.sandbox
    # More 503s than the SDK's own token retries (2), then the project look-up fails twice.
    sandbox.inject_status(503, count=4, path=r"^/ims/token/v3$", method="POST")
    sandbox.inject_status(503, count=2, path=PROJECT_SHOW, method="GET")
    state = ingest_file(
        str(make_file(pipeline.by_shot, "SC61_OUTAGE_00001_V001.mov", 50_000)), return_state=True
    )
    assert state.is_completed(), state.message
    assert sandbox.stats()["injected_status"] == 6
    assert [f.name for f in all_files(pipeline.project())] == ["SC61_OUTAGE_00001_V001.mov"]
