"""Turn sandbox rows into Frame.io v4 JSON, validated by the official SDK's pydantic models.

Every /v4 response body goes through `respond(Model, body)`: the body is validated with the SDK's
own response model (e.g. `frameio.types.FolderAssetsWithIncludesResponse`) before it is sent, so
the sandbox cannot drift from the shapes the SDK parses. A validation failure is a sandbox bug and
surfaces as a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from starlette.responses import JSONResponse

from postflow.sandbox.db import utc_now
from postflow.sandbox.defaults import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_ACCOUNT_NAME,
    SANDBOX_EPOCH,
    SANDBOX_PROJECT_ID,
    SANDBOX_PROJECTS,
    SANDBOX_USER_EMAIL,
    SANDBOX_USER_ID,
    SANDBOX_USER_NAME,
    SANDBOX_WORKSPACE_ID,
    SANDBOX_WORKSPACE_NAME,
)
from postflow.sandbox.store import Asset

if TYPE_CHECKING:
    from postflow.sandbox.state import SandboxState

__all__ = ["Renderer", "file_status", "respond"]


def respond(model: type[BaseModel], body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Validate `body` with an SDK response model and send it as JSON.

    The body itself is sent (datetimes as ISO 8601), not the model's dump: the SDK models'
    JSON serializer re-resolves type hints per object and costs ~1 ms per list item.

    Raises:
        pydantic.ValidationError: When the body does not fit the model (a sandbox bug).
    """
    model.model_validate(body)
    return JSONResponse(to_jsonable_python(body), status_code=status)


def file_status(asset: Asset, transcode_delay_seconds: float, now: datetime | None = None) -> str:
    """ "created" until every part is in, then "uploaded", then "transcoded" after the delay."""
    if asset.upload_completed_at is None:
        return "created"
    elapsed = ((now or utc_now()) - asset.upload_completed_at).total_seconds()
    return "uploaded" if elapsed < transcode_delay_seconds else "transcoded"


class Renderer:
    """Build response dicts for one request.

    Args:
        state: The sandbox state (asset store, configuration).
        base_url: The request's base URL without a trailing slash, for view and media URLs.
        includes: Values of the request's `include` parameter.
    """

    def __init__(
        self, state: SandboxState, base_url: str, includes: frozenset[str] = frozenset()
    ) -> None:
        self.state = state
        self.base_url = base_url.rstrip("/")
        self.includes = includes

    # --- people and containers ------------------------------------------------------------------
    def user(self) -> dict[str, Any]:
        """The sandbox user as a `frameio.types.User`."""
        return {
            "id": SANDBOX_USER_ID,
            "name": SANDBOX_USER_NAME,
            "email": SANDBOX_USER_EMAIL,
            "avatar_url": None,
            "active": True,
        }

    def profile(self) -> dict[str, Any]:
        """The sandbox user as a `frameio.types.Profile` (GET /v4/me)."""
        return {
            "id": SANDBOX_USER_ID,
            "name": SANDBOX_USER_NAME,
            "email": SANDBOX_USER_EMAIL,
            "avatar_url": None,
        }

    def account(self) -> dict[str, Any]:
        """The single sandbox account as a `frameio.types.Account`."""
        return {
            "id": SANDBOX_ACCOUNT_ID,
            "display_name": SANDBOX_ACCOUNT_NAME,
            "roles": ["owner"],
            "storage_usage": self.state.assets.storage_bytes(),
            "storage_limit": None,
            "created_at": SANDBOX_EPOCH,
            "updated_at": SANDBOX_EPOCH,
        }

    def workspace(self) -> dict[str, Any]:
        """The single workspace as a `frameio.types.WorkspaceWithIncludes`."""
        body = {
            "id": SANDBOX_WORKSPACE_ID,
            "account_id": SANDBOX_ACCOUNT_ID,
            "name": SANDBOX_WORKSPACE_NAME,
            "created_at": SANDBOX_EPOCH,
            "updated_at": SANDBOX_EPOCH,
        }
        if "creator" in self.includes:
            body["creator"] = self.user()
        return body

    def project(self, project_id: str = SANDBOX_PROJECT_ID) -> dict[str, Any]:
        """A project (the first by default) as a `frameio.types.ProjectWithIncludes`."""
        name, root_folder_id = SANDBOX_PROJECTS[project_id]
        body = {
            "id": project_id,
            "name": name,
            "root_folder_id": root_folder_id,
            "workspace_id": SANDBOX_WORKSPACE_ID,
            "status": "active",
            "storage": self.state.assets.storage_bytes(),
            "restricted": False,
            "view_url": f"{self.base_url}/project/{project_id}",
            "created_at": SANDBOX_EPOCH,
            "updated_at": SANDBOX_EPOCH,
        }
        if "owner" in self.includes or "creator" in self.includes:
            body["owner"] = self.user()
        return body

    # --- assets -----------------------------------------------------------------------------
    def asset(self, asset: Asset) -> dict[str, Any]:
        """Any asset in its "with includes" shape, tagged by `type`."""
        if asset.type == "file":
            return self.file(asset)
        if asset.type == "version_stack":
            return self.version_stack(asset)
        return self.folder(asset)

    def folder(self, asset: Asset) -> dict[str, Any]:
        """A folder (`Folder` / `FolderWithIncludes` / children union member)."""
        return {**self._common(asset), "restricted": False}

    def file(self, asset: Asset) -> dict[str, Any]:
        """A file (`File` / `FileWithIncludes`), with `media_links` when any were included."""
        body = {
            **self._common(asset),
            "file_size": asset.file_size,
            "media_type": asset.media_type,
            "status": file_status(asset, self.state.config.transcode_delay_seconds),
        }
        wanted = sorted(
            i.removeprefix("media_links.") for i in self.includes if i.startswith("media_links.")
        )
        if wanted:
            body["media_links"] = {name: self._media_link(asset, name) for name in wanted}
        return body

    def version_stack(self, asset: Asset) -> dict[str, Any]:
        """A version stack with its `head_version` (its top file, see `stacks.py`)."""
        versions = self.state.assets.versions(asset.id)
        head = self.file(versions[-1]) if versions else None
        return {**self._common(asset), "head_version": head}

    def upload_status(self, asset: Asset) -> dict[str, Any]:
        """A `frameio.types.FileUploadStatus` for a file."""
        return {
            "id": asset.id,
            "filetype": asset.media_type or "application/octet-stream",
            "upload_complete": asset.upload_completed_at is not None,
            "upload_failed": self.state.remote.upload_failed(asset),
            "uploaded_at": asset.upload_started_at,
            "upload_completed_at": asset.upload_completed_at,
        }

    def view_url(self, asset_id: str) -> str:
        """Where the asset "opens in the web app": a sandbox page shaped like Frame.io's."""
        asset = self.state.assets.get(asset_id)
        project_id = asset.project_id if asset is not None else SANDBOX_PROJECT_ID
        return f"{self.base_url}/project/{project_id}/view/{asset_id}"

    def content_url(self, asset_id: str) -> str:
        """Download URL of a file's stored bytes."""
        return f"{self.base_url}/_sandbox/files/{asset_id}/content"

    def _common(self, asset: Asset) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": asset.id,
            "name": asset.name,
            "type": asset.type,
            "parent_id": asset.parent_id,
            "project_id": asset.project_id,
            "view_url": self.view_url(asset.id),
            "created_at": asset.created_at,
            "updated_at": asset.updated_at,
        }
        if "creator" in self.includes:
            body["creator"] = self.user()
        if "project" in self.includes:
            body["project"] = self.project()
        if "metadata" in self.includes:
            body["metadata"] = []
        return body

    def _media_link(self, asset: Asset, name: str) -> dict[str, Any] | None:
        if name != "original" or asset.upload_completed_at is None:
            return None  # transcodes do not exist in the sandbox: null, as for untranscoded files
        url = self.content_url(asset.id)
        return {"download_url": url, "inline_url": url}
