"""/v4 file endpoints: local upload, show, upload status, move, delete.

`local_upload` creates a placeholder file (status "created"), pre-sizes its blob and returns
pre-signed part URLs pointing back at this sandbox (see `uploads.py`). The file's `media_type` is
derived from the name's extension and must be sent as Content-Type on every part PUT.
`remote_upload` creates a file (status "created") and answers 202 at once; the sandbox then pulls
`source_url` itself in the background (see `remote.py`) and reports the outcome through
`upload status` (`upload_complete` / `upload_failed`), like Frame.io.
"""

from __future__ import annotations

from frameio.files import (
    FileCreateLocalUploadParamsData,
    FileCreateRemoteUploadParamsData,
    FileMoveParamsData,
)
from frameio.types import (
    FileRemoteUploadResponse,
    FileResponse,
    FileUploadStatusResponse,
    FileWithIncludesResponse,
    FileWithUploadUrlsResponse,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.sandbox.defaults import MAX_FILE_SIZE_BYTES, media_type_for
from postflow.sandbox.query import ASSET_INCLUDES, ApiProblem, include_param
from postflow.sandbox.remote import valid_source_url
from postflow.sandbox.render import Renderer, respond
from postflow.sandbox.state import SandboxState
from postflow.sandbox.uploads import plan_parts, upload_urls
from postflow.sandbox.v4 import parse_data, v4_route

__all__ = ["routes"]

_ACCOUNT = "/v4/accounts/{account_id}"
_FILE = f"{_ACCOUNT}/files/{{file_id}}"


async def create_local_upload(request: Request, state: SandboxState) -> Response:
    """POST .../folders/{folder_id}/files/local_upload `{"data": {"name", "file_size"}}` -> 201."""
    data = await parse_data(request, FileCreateLocalUploadParamsData)
    name = data.name.strip()
    if not name:
        raise ApiProblem(422, "name must not be blank", source={"pointer": "/data/name"})
    if isinstance(data.file_size, bool) or not 0 <= data.file_size <= MAX_FILE_SIZE_BYTES:
        raise ApiProblem(
            422,
            f"file_size must be between 0 and {MAX_FILE_SIZE_BYTES} bytes",
            source={"pointer": "/data/file_size"},
        )
    sizes = plan_parts(
        data.file_size, state.config.target_part_bytes, uneven=state.config.uneven_parts
    )
    asset = state.assets.create_file(
        request.path_params["folder_id"], name, data.file_size, media_type_for(name), sizes
    )
    base_url = str(request.base_url)
    body = Renderer(state, base_url).file(asset)
    body["upload_urls"] = upload_urls(base_url, state, asset.id, sizes)
    return respond(FileWithUploadUrlsResponse, {"data": body}, status=201)


async def create_remote_upload(request: Request, state: SandboxState) -> Response:
    """POST .../folders/{folder_id}/files/remote_upload `{"data": {"name", "source_url"}}` -> 202.

    Answers `FileRemoteUploadResponse`: `data` (the File, status "created") and
    `links.status`; the pull runs in the background.
    """
    data = await parse_data(request, FileCreateRemoteUploadParamsData)
    name = data.name.strip()
    if not name:
        raise ApiProblem(422, "name must not be blank", source={"pointer": "/data/name"})
    if not valid_source_url(data.source_url):
        pointer = {"pointer": "/data/source_url"}
        raise ApiProblem(422, "source_url must be an absolute http(s) URL", source=pointer)
    folder_id = request.path_params["folder_id"]
    asset = state.assets.create_file(folder_id, name, 0, media_type_for(name), [])
    state.remote.start(asset.id, data.source_url)
    account_id = request.path_params["account_id"]
    body = {
        "data": Renderer(state, str(request.base_url)).file(asset),
        "links": {"status": f"/v4/accounts/{account_id}/files/{asset.id}/status"},
    }
    return respond(FileRemoteUploadResponse, body, status=202)


async def show_file(request: Request, state: SandboxState) -> Response:
    """GET .../files/{file_id} -> FileWithIncludesResponse."""
    asset = state.assets.require(request.path_params["file_id"], "file")
    renderer = Renderer(state, str(request.base_url), include_param(request, ASSET_INCLUDES))
    return respond(FileWithIncludesResponse, {"data": renderer.file(asset)})


async def show_upload_status(request: Request, state: SandboxState) -> Response:
    """GET .../files/{file_id}/status -> FileUploadStatusResponse."""
    asset = state.assets.require(request.path_params["file_id"], "file")
    body = Renderer(state, str(request.base_url)).upload_status(asset)
    return respond(FileUploadStatusResponse, {"data": body})


async def move_file(request: Request, state: SandboxState) -> Response:
    """PATCH .../files/{file_id}/move `{"data": {"parent_id"}}` -> FileResponse.

    The parent may be a folder or a version stack; a file moved into a stack becomes its head.
    """
    data = await parse_data(request, FileMoveParamsData)
    if not data.parent_id:
        raise ApiProblem(422, "parent_id is required", source={"pointer": "/data/parent_id"})
    asset = state.assets.move_file(request.path_params["file_id"], data.parent_id)
    return respond(FileResponse, {"data": Renderer(state, str(request.base_url)).file(asset)})


async def delete_file(request: Request, state: SandboxState) -> Response:
    """DELETE .../files/{file_id} -> 204."""
    state.assets.delete_file(request.path_params["file_id"])
    return Response(status_code=204)


routes: list[Route] = [
    v4_route(
        f"{_ACCOUNT}/folders/{{folder_id}}/files/local_upload",
        "files.local_upload",
        create_local_upload,
        method="POST",
    ),
    v4_route(
        f"{_ACCOUNT}/folders/{{folder_id}}/files/remote_upload",
        "files.remote_upload",
        create_remote_upload,
        method="POST",
    ),
    v4_route(_FILE, "files.show", show_file),
    v4_route(_FILE, "files.delete", delete_file, method="DELETE"),
    v4_route(f"{_FILE}/status", "files.status", show_upload_status),
    v4_route(f"{_FILE}/move", "files.move", move_file, method="PATCH"),
]
