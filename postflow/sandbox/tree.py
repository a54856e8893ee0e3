"""The project tree as plain JSON: GET /_sandbox/tree and `SandboxServer.tree()`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from postflow.sandbox.defaults import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_ACCOUNT_NAME,
    SANDBOX_PROJECT_ID,
    SANDBOX_PROJECT_NAME,
    SANDBOX_ROOT_FOLDER_ID,
    SANDBOX_WORKSPACE_ID,
    SANDBOX_WORKSPACE_NAME,
)
from postflow.sandbox.render import file_status
from postflow.sandbox.state import SandboxState
from postflow.sandbox.store import Asset

__all__ = ["tree_snapshot"]


def tree_snapshot(state: SandboxState) -> dict[str, Any]:
    """The project tree as plain JSON.

    Shape::

        {"account": {"id", "name"}, "workspace": {"id", "name"},
         "project": {"id", "name", "root_folder_id"},
         "root": {"type": "folder", "id", "name", "children": [
             {"type": "folder", "id", "name", "children": [...]},
             {"type": "file", "id", "name", "size", "media_type", "status",
              "upload_complete", "sha256"},
             {"type": "version_stack", "id", "name", "head_version_id", "versions": [file, ...]}]}}

    Children are in creation order; stack versions oldest first. `sha256` is null until the
    upload is complete. Computing it reads the file once (then it is cached).
    """
    by_parent: dict[str | None, list[Asset]] = defaultdict(list)
    for asset in state.assets.all_assets():
        by_parent[asset.parent_id].append(asset)

    def node(asset: Asset) -> dict[str, Any]:
        if asset.type == "file":
            return {
                "type": "file",
                "id": asset.id,
                "name": asset.name,
                "size": asset.file_size,
                "media_type": asset.media_type,
                "status": file_status(asset, state.config.transcode_delay_seconds),
                "upload_complete": asset.upload_completed_at is not None,
                "sha256": state.sha256_of(asset),
            }
        if asset.type == "version_stack":
            versions = sorted(by_parent[asset.id], key=lambda a: (a.version_index or 0, a.seq))
            return {
                "type": "version_stack",
                "id": asset.id,
                "name": asset.name,
                "head_version_id": versions[-1].id if versions else None,
                "versions": [node(v) for v in versions],
            }
        return {
            "type": "folder",
            "id": asset.id,
            "name": asset.name,
            "children": [node(child) for child in by_parent[asset.id]],
        }

    root = state.assets.require(SANDBOX_ROOT_FOLDER_ID, "folder")
    return {
        "account": {"id": SANDBOX_ACCOUNT_ID, "name": SANDBOX_ACCOUNT_NAME},
        "workspace": {"id": SANDBOX_WORKSPACE_ID, "name": SANDBOX_WORKSPACE_NAME},
        "project": {
            "id": SANDBOX_PROJECT_ID,
            "name": SANDBOX_PROJECT_NAME,
            "root_folder_id": SANDBOX_ROOT_FOLDER_ID,
        },
        "root": node(root),
    }
