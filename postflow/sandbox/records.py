"""Row types, schema and errors of the sandbox's asset tree (see `store.AssetStore`).

Errors: `AssetNotFound` (-> HTTP 404) and `InvalidOperation` (-> HTTP 422) carry the data the API
layer needs to build Frame.io's `errors[]` body.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from postflow.sandbox.db import from_iso

__all__ = ["ASSET_SCHEMA", "Asset", "AssetNotFound", "InvalidOperation", "Part", "StoreError"]

ASSET_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('folder', 'file', 'version_stack')),
    name TEXT NOT NULL,
    parent_id TEXT,
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    file_size INTEGER,
    media_type TEXT,
    version_index INTEGER,
    upload_started_at TEXT,
    upload_completed_at TEXT,
    sha256 TEXT
);
CREATE INDEX IF NOT EXISTS assets_by_parent ON assets (parent_id, seq);
CREATE TABLE IF NOT EXISTS parts (
    file_id TEXT NOT NULL,
    part_no INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT,
    received_at TEXT,
    PRIMARY KEY (file_id, part_no)
);
"""


class StoreError(Exception):
    """Base class of the asset store's errors."""


class AssetNotFound(StoreError):
    """No asset of the wanted kind has this ID.

    Attributes:
        kind: "folder", "file", "version_stack" or "asset".
        asset_id: The ID that was looked up.
    """

    def __init__(self, kind: str, asset_id: str) -> None:
        super().__init__(f"{kind.replace('_', ' ').capitalize()} not found: {asset_id}")
        self.kind = kind
        self.asset_id = asset_id


class InvalidOperation(StoreError):
    """A well-formed request that the tree cannot satisfy.

    Attributes:
        detail: Human-readable reason.
        pointer: JSON pointer into the request body, e.g. "/data/file_ids", or None.
    """

    def __init__(self, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


@dataclass(frozen=True)
class Asset:
    """One folder, file or version stack. File-only fields are None for the other types."""

    seq: int
    id: str
    type: str
    name: str
    parent_id: str | None
    project_id: str
    created_at: datetime
    updated_at: datetime
    file_size: int | None
    media_type: str | None
    version_index: int | None
    upload_started_at: datetime | None
    upload_completed_at: datetime | None
    sha256: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Asset:
        values = dict(row)
        for key in ("created_at", "updated_at", "upload_started_at", "upload_completed_at"):
            values[key] = from_iso(values[key])
        return cls(**values)


@dataclass(frozen=True)
class Part:
    """One upload part of a file: bytes [offset, offset + size) of the file."""

    file_id: str
    part_no: int  # 1-based, like S3 partNumber
    offset: int
    size: int
    etag: str | None
    received: bool
