"""One ingest's record, in one typed shape: the ingest flow's result, its table artifact, the
``postflow.upload.completed`` event's payload and the weekly report's rows all come from it.

Before, the event's fields were listed in :mod:`tasks.observe.events` and again as the report's
columns in :mod:`tasks.observe.metric_rows`; now both read :data:`EVENT_FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.structure.naming import ShotName
from tasks.upload.job import UploadResult

__all__ = ["EVENT_FIELDS", "IngestRecord"]

EVENT_FIELDS: tuple[str, ...] = (
    "path",
    "file",
    "scene",
    "shot",
    "version",
    "size_bytes",
    "seconds",
    "fingerprint",
    "re_render",
    "strategy",
    "strategy_reason",
    "megabytes_per_second",
    "parts",
    "retried_parts",
    "rate_limited",
    "file_id",
    "view_url",
    "structure_cache_hit",
)
"""The keys of a ``postflow.upload.completed`` payload that describe the file and its upload
(the event adds the process sample, ``cpu_percent`` and ``rss_mb``); the report reads back the
same keys as columns."""


@dataclass(frozen=True)
class IngestRecord:
    """What one ingest did, for every reader.

    Attributes:
        path: the source's absolute path.
        shot: the parsed name (scene, shot, version, folder path, rule).
        upload: what the upload did (file id, link, bytes, seconds, strategy...).
        folder_id: the shot folder's Frame.io id.
        structure_cache_hit: the shot folder came from the structure cache (no Frame.io call).
        production: the production's name when several share the installation, else "".
        manifest: where the ASC MHL manifest entry was written ("" when not a new delivery,
            ``"pending"`` or ``"<dir> (pending: <reason>)"`` when it waits).
    """

    path: str
    shot: ShotName
    upload: UploadResult
    folder_id: str
    structure_cache_hit: bool
    production: str = ""
    manifest: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The flow run's result (JSON-able): the shot's and the upload's fields, ``folder_id``,
        ``manifest``, and ``production`` when set. ``folder_path`` is a list."""
        record: dict[str, Any] = {
            **self.shot.as_dict(),
            **self.upload.as_dict(),
            "folder_id": self.folder_id,
        }
        if self.production:
            record["production"] = self.production
        record["manifest"] = self.manifest
        return record

    def artifact_row(self) -> dict[str, Any]:
        """The ingest's table-artifact row: :meth:`as_dict` with ``folder_path`` joined by
        ``/`` (a Prefect table cell shows a string)."""
        row = self.as_dict()
        row["folder_path"] = "/".join(self.shot.folder_path)
        return row

    def event_payload(self) -> dict[str, Any]:
        """The :data:`EVENT_FIELDS` of this record (the event's payload before the process
        sample)."""
        values = {
            **self.as_dict(),
            "path": self.path,
            "structure_cache_hit": self.structure_cache_hit,
        }
        return {key: values.get(key) for key in EVENT_FIELDS}
