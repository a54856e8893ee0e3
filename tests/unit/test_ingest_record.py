"""One typed ingest record feeds the flow's result, the artifact, the event and the report."""

from __future__ import annotations

import pytest

from config.settings import PostflowSettings
from tasks.observe.ingest_record import EVENT_FIELDS, IngestRecord
from tasks.observe.metric_rows import EVENT_COLUMNS
from tasks.structure.naming import ShotName, load_nomenclature
from tasks.upload.job import UploadResult


@pytest.fixture
def shot() -> ShotName:
    settings = PostflowSettings()
    rules = load_nomenclature(settings.nomenclature_path, settings.extensions, (), 0)
    return rules.parse("SC01_UNDLM_00412_V002.mov")


def _record(shot: ShotName, production: str = "") -> IngestRecord:
    upload = UploadResult(
        file_id="f-1",
        name=shot.file,
        size_bytes=4_000_000,
        seconds=2.0,
        fingerprint="ab" * 16,
        strategy="multipart",
        view_url="https://next.frame.io/f-1",
        parts=1,
    )
    return IngestRecord("/w/BY_SHOT/" + shot.file, shot, upload, "folder-9", True, production)


def test_the_event_payload_is_the_records_event_fields(shot: ShotName) -> None:
    payload = _record(shot).event_payload()
    assert tuple(payload) == EVENT_FIELDS
    assert payload["path"] == "/w/BY_SHOT/" + shot.file
    assert payload["megabytes_per_second"] == 2.0
    assert payload["structure_cache_hit"] is True
    assert (payload["scene"], payload["version"]) == (shot.scene, shot.version)


def test_the_report_reads_back_every_event_field() -> None:
    assert [field for field in EVENT_FIELDS if field not in EVENT_COLUMNS] == []


def test_the_flow_result_and_the_artifact_row(shot: ShotName) -> None:
    result = _record(shot).as_dict()
    assert result["folder_id"] == "folder-9" and result["file_id"] == "f-1"
    assert result["folder_path"] == list(shot.folder_path)
    assert "production" not in result
    assert _record(shot, "feature-a").as_dict()["production"] == "feature-a"
    assert _record(shot).artifact_row()["folder_path"] == "/".join(shot.folder_path)
