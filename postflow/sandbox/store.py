"""The sandbox's asset tree: folders, files (with upload parts) and version stacks.

Rows live in SQLite (see `db.py`); each file's bytes live in `<data_dir>/blobs/<file_id>.bin`,
pre-sized at creation so parts can be written at their offsets in any order. All mutations run in
one transaction under the database lock, so concurrent requests cannot half-apply a move or a
version-stack creation. Row types and errors live in `records.py` (re-exported here).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from postflow.sandbox.db import Database, to_iso, utc_now
from postflow.sandbox.defaults import (
    SANDBOX_EPOCH,
    SANDBOX_PROJECT_ID,
    SANDBOX_PROJECTS,
    SANDBOX_ROOT_FOLDER_NAME,
)
from postflow.sandbox.records import (
    ASSET_SCHEMA,
    Asset,
    AssetNotFound,
    InvalidOperation,
    Part,
    StoreError,
)
from postflow.sandbox.stacks import MOVED_IN_POSITION, ReorderParams, ReorderRefused, reordered

__all__ = ["Asset", "AssetNotFound", "AssetStore", "InvalidOperation", "Part", "StoreError"]


class AssetStore:
    """CRUD over the asset tree. Thread-safe; every method is atomic.

    Args:
        db: The shared database.
        data_dir: Directory whose `blobs/` subdirectory holds file bytes.
    """

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self.blob_dir = data_dir / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        db.executescript(ASSET_SCHEMA)
        self._seed_root()

    # --- reads ------------------------------------------------------------------------------
    def get(self, asset_id: str) -> Asset | None:
        """Return the asset with this ID, or None."""
        row = self._db.query_one("SELECT * FROM assets WHERE id = ?", (asset_id,))
        return None if row is None else Asset.from_row(row)

    def require(self, asset_id: str, kind: str) -> Asset:
        """Return the asset, checking its type.

        Raises:
            AssetNotFound: Unknown ID, or an asset of another type.
        """
        asset = self.get(asset_id)
        if asset is None or asset.type != kind:
            raise AssetNotFound(kind, asset_id)
        return asset

    def children(self, parent_id: str) -> list[Asset]:
        """Direct children of a folder or version stack, in creation order."""
        rows = self._db.query("SELECT * FROM assets WHERE parent_id = ? ORDER BY seq", (parent_id,))
        return [Asset.from_row(row) for row in rows]

    def versions(self, stack_id: str) -> list[Asset]:
        """Files of a version stack, oldest first (the last one is the head version)."""
        rows = self._db.query(
            "SELECT * FROM assets WHERE parent_id = ? AND type = 'file'"
            " ORDER BY version_index, seq",
            (stack_id,),
        )
        return [Asset.from_row(row) for row in rows]

    def all_assets(self) -> list[Asset]:
        """Every asset, in creation order."""
        return [Asset.from_row(row) for row in self._db.query("SELECT * FROM assets ORDER BY seq")]

    def parts(self, file_id: str) -> list[Part]:
        """Upload parts of a file, by part number."""
        rows = self._db.query("SELECT * FROM parts WHERE file_id = ? ORDER BY part_no", (file_id,))
        return [
            Part(
                r["file_id"],
                r["part_no"],
                r["byte_offset"],
                r["size"],
                r["etag"],
                r["received_at"] is not None,
            )
            for r in rows
        ]

    def storage_bytes(self) -> int:
        """Total size in bytes of completely uploaded files."""
        row = self._db.query_one(
            "SELECT COALESCE(SUM(file_size), 0) AS total FROM assets "
            "WHERE type = 'file' AND upload_completed_at IS NOT NULL"
        )
        return int(row["total"]) if row is not None else 0

    def blob_path(self, file_id: str) -> Path:
        """Path of the data file holding a file's bytes (may not exist for unknown IDs)."""
        return self.blob_dir / f"{file_id}.bin"

    # --- folder and file creation ---------------------------------------------------------------
    def create_folder(self, parent_id: str, name: str) -> Asset:
        """Create a folder under a folder (duplicate sibling names are allowed, as on Frame.io).

        Raises:
            AssetNotFound: The parent is not an existing folder.
        """
        with self._db.transaction():
            self.require(parent_id, "folder")
            return self._insert("folder", name, parent_id)

    def create_file(
        self, parent_id: str, name: str, file_size: int, media_type: str, part_sizes: list[int]
    ) -> Asset:
        """Create a placeholder file awaiting `len(part_sizes)` parts, and its pre-sized blob.

        Raises:
            AssetNotFound: The parent is not an existing folder.
        """
        with self._db.transaction():
            self.require(parent_id, "folder")
            asset = self._insert(
                "file", name, parent_id, file_size=file_size, media_type=media_type
            )
            offset = 0
            for part_no, size in enumerate(part_sizes, start=1):
                self._db.execute(
                    "INSERT INTO parts (file_id, part_no, byte_offset, size) VALUES (?, ?, ?, ?)",
                    (asset.id, part_no, offset, size),
                )
                offset += size
            with self.blob_path(asset.id).open("wb") as blob:
                blob.truncate(file_size)
        return asset

    def record_part(
        self,
        file_id: str,
        part_no: int,
        etag: str,
        short_by: Callable[[], int] | None = None,
    ) -> Asset:
        """Mark a part as received; completes the upload when every part is in.

        Args:
            file_id: The file.
            part_no: 1-based part number.
            etag: The part's ETag (quoted MD5 hex).
            short_by: Called once, only when this part completes the file: bytes to leave out
                of the stored file (the short-store fault); 0 stores it whole.

        Returns:
            The file after the update (check `upload_completed_at`).

        Raises:
            AssetNotFound: Unknown file or part number.
        """
        now = to_iso(utc_now())
        with self._db.transaction():
            before = self.require(file_id, "file")
            cursor = self._db.execute(
                "UPDATE parts SET etag = ?, received_at = ? WHERE file_id = ? AND part_no = ?",
                (etag, now, file_id, part_no),
            )
            if cursor.rowcount != 1:
                raise AssetNotFound("part", f"{file_id}/{part_no}")
            missing = self._db.query_one(
                "SELECT COUNT(*) AS n FROM parts WHERE file_id = ? AND received_at IS NULL",
                (file_id,),
            )
            completed = now if missing is not None and missing["n"] == 0 else None
            self._db.execute(
                "UPDATE assets SET sha256 = NULL, updated_at = ?,"
                " upload_started_at = COALESCE(upload_started_at, ?),"
                " upload_completed_at = COALESCE(upload_completed_at, ?) WHERE id = ?",
                (now, now, completed, file_id),
            )
            if completed and before.upload_completed_at is None and short_by is not None:
                self._store_short(before, short_by())
            elif before.upload_completed_at is not None:  # a re-PUT must not regrow a short file
                with self.blob_path(file_id).open("r+b") as blob:
                    blob.truncate(before.file_size or 0)
            return self.require(file_id, "file")

    def _store_short(self, asset: Asset, missing_bytes: int) -> None:
        """Drop the last `missing_bytes` bytes of a file: its blob and its `file_size`."""
        if missing_bytes <= 0:
            return
        size = max(0, (asset.file_size or 0) - missing_bytes)
        self._db.execute("UPDATE assets SET file_size = ? WHERE id = ?", (size, asset.id))
        with self.blob_path(asset.id).open("r+b") as blob:
            blob.truncate(size)

    def set_file_size(self, file_id: str, file_size: int) -> Asset:
        """Record a remote upload's size once its source is known, and size its blob.

        Raises:
            AssetNotFound: Unknown file (deleted meanwhile).
        """
        now = to_iso(utc_now())
        with self._db.transaction():
            self.require(file_id, "file")
            self._db.execute(
                "UPDATE assets SET file_size = ?, updated_at = ?,"
                " upload_started_at = COALESCE(upload_started_at, ?) WHERE id = ?",
                (file_size, now, now, file_id),
            )
            with self.blob_path(file_id).open("r+b") as blob:
                blob.truncate(file_size)
            return self.require(file_id, "file")

    def complete_upload(self, file_id: str) -> Asset:
        """Mark a file's bytes as all received (remote uploads; parts complete themselves).

        Raises:
            AssetNotFound: Unknown file (deleted meanwhile).
        """
        now = to_iso(utc_now())
        with self._db.transaction():
            self.require(file_id, "file")
            self._db.execute(
                "UPDATE assets SET sha256 = NULL, updated_at = ?, upload_completed_at = ?,"
                " upload_started_at = COALESCE(upload_started_at, ?) WHERE id = ?",
                (now, now, now, file_id),
            )
            return self.require(file_id, "file")

    def set_sha256(self, file_id: str, digest: str) -> None:
        """Cache the sha256 hex digest of a completed file's bytes."""
        self._db.execute("UPDATE assets SET sha256 = ? WHERE id = ?", (digest, file_id))

    # --- moves, stacks, deletes ---------------------------------------------------------------
    def move_file(self, file_id: str, parent_id: str) -> Asset:
        """Move a file into a folder, or into a version stack (position: `stacks.py`).

        Moving a file out of a stack keeps the others' order; an emptied stack is deleted.

        Raises:
            AssetNotFound: Unknown file, or the target is neither a folder nor a version stack.
        """
        with self._db.transaction():
            asset = self.require(file_id, "file")
            target = self.get(parent_id)
            if target is None or target.type not in ("folder", "version_stack"):
                raise AssetNotFound("folder", parent_id)
            if asset.parent_id == parent_id:
                return asset
            index = None
            if target.type == "version_stack":
                indexes = [v.version_index or 0 for v in self.versions(parent_id)]
                top = MOVED_IN_POSITION == "top"
                index = (max(indexes) + 1) if top else (min(indexes) - 1)
            now = to_iso(utc_now())
            self._db.execute(
                "UPDATE assets SET parent_id = ?, version_index = ?, updated_at = ? WHERE id = ?",
                (parent_id, index, now, file_id),
            )
            for stack_id in (asset.parent_id, parent_id):
                self._refresh_stack(stack_id)
            return self.require(file_id, "file")

    def create_version_stack(self, folder_id: str, file_ids: list[str]) -> Asset:
        """Stack 2-10 files of a folder, oldest first; the last ID becomes the head version.

        Raises:
            AssetNotFound: The folder does not exist.
            InvalidOperation: Wrong count, duplicates, or a file that is not in that folder.
        """
        pointer = "/data/file_ids"
        if not 2 <= len(file_ids) <= 10:
            raise InvalidOperation("file_ids must contain between 2 and 10 file IDs", pointer)
        if len(set(file_ids)) != len(file_ids):
            raise InvalidOperation("file_ids must not contain duplicates", pointer)
        with self._db.transaction():
            self.require(folder_id, "folder")
            for file_id in file_ids:
                asset = self.get(file_id)
                if asset is None or asset.type != "file" or asset.parent_id != folder_id:
                    raise InvalidOperation(
                        f"file {file_id} is not a file in folder {folder_id}", pointer
                    )
            head = self.require(file_ids[-1], "file")
            stack = self._insert("version_stack", head.name, folder_id)
            for index, file_id in enumerate(file_ids, start=1):
                self._db.execute(
                    "UPDATE assets SET parent_id = ?, version_index = ? WHERE id = ?",
                    (stack.id, index, file_id),
                )
            return self.require(stack.id, "version_stack")

    def reorder_versions(self, stack_id: str, params: ReorderParams) -> list[Asset]:
        """Move one file of a stack to the top, the bottom, or above/below another one.

        Returns:
            The stack's files after the move, bottom (oldest) first.

        Raises:
            AssetNotFound: Unknown version stack.
            InvalidOperation: The reorder cannot be applied (see `stacks.reordered`).
        """
        with self._db.transaction():
            self.require(stack_id, "version_stack")
            current = [v.id for v in self.versions(stack_id)]
            try:
                order = reordered(current, params)
            except ReorderRefused as refused:
                raise InvalidOperation(str(refused), refused.pointer) from refused
            if order != current:
                now = to_iso(utc_now())
                for index, file_id in enumerate(order, start=1):
                    self._db.execute(
                        "UPDATE assets SET version_index = ? WHERE id = ?", (index, file_id)
                    )
                self._db.execute(
                    "UPDATE assets SET updated_at = ? WHERE id = ?", (now, params.target_file_id)
                )
                self._refresh_stack(stack_id)
            return self.versions(stack_id)

    def delete_file(self, file_id: str) -> None:
        """Delete a file, its parts and its bytes. A stack member leaves its stack (the others keep
        their order, the top one is the head); an emptied version stack goes too.

        Raises:
            AssetNotFound: Unknown file.
        """
        with self._db.transaction():
            asset = self.require(file_id, "file")
            self._db.execute("DELETE FROM parts WHERE file_id = ?", (file_id,))
            self._db.execute("DELETE FROM assets WHERE id = ?", (file_id,))
            self._refresh_stack(asset.parent_id)
        self.blob_path(file_id).unlink(missing_ok=True)

    def reset(self) -> None:
        """Delete everything except the seeded root folder, including all stored bytes."""
        with self._db.transaction():
            self._db.execute("DELETE FROM parts")
            roots = [root for _, root in SANDBOX_PROJECTS.values()]
            marks = ", ".join("?" * len(roots))
            self._db.execute(f"DELETE FROM assets WHERE id NOT IN ({marks})", roots)
            shutil.rmtree(self.blob_dir, ignore_errors=True)
            self.blob_dir.mkdir(parents=True, exist_ok=True)

    # --- internals ----------------------------------------------------------------------------
    def _insert(
        self,
        kind: str,
        name: str,
        parent_id: str | None,
        *,
        file_size: int | None = None,
        media_type: str | None = None,
        asset_id: str | None = None,
        created_at: str | None = None,
        project: str | None = None,
    ) -> Asset:
        asset_id = asset_id or str(uuid.uuid4())
        stamp = created_at or to_iso(utc_now())
        parent = self.get(parent_id) if parent_id else None
        project_id = parent.project_id if parent is not None else project or SANDBOX_PROJECT_ID
        self._db.execute(
            "INSERT INTO assets (id, type, name, parent_id, project_id, created_at, updated_at,"
            " file_size, media_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                asset_id,
                kind,
                name,
                parent_id,
                project_id,
                stamp,
                stamp,
                file_size,
                media_type,
            ),
        )
        return self.require(asset_id, kind)

    def _refresh_stack(self, stack_id: str | None) -> None:
        """Rename a stack after its head version, or delete it once it holds no files."""
        stack = self.get(stack_id) if stack_id else None
        if stack is None or stack.type != "version_stack":
            return
        versions = self.versions(stack.id)
        if not versions:
            self._db.execute("DELETE FROM assets WHERE id = ?", (stack.id,))
            return
        self._db.execute(
            "UPDATE assets SET name = ?, updated_at = ? WHERE id = ?",
            (versions[-1].name, to_iso(utc_now()), stack.id),
        )

    def _seed_root(self) -> None:
        with self._db.transaction():
            for project_id, (_, root_id) in SANDBOX_PROJECTS.items():
                if self.get(root_id) is None:
                    self._insert(
                        "folder",
                        SANDBOX_ROOT_FOLDER_NAME,
                        None,
                        asset_id=root_id,
                        created_at=SANDBOX_EPOCH,
                        project=project_id,
                    )
