"""Local-upload parts: planning the split, issuing pre-signed URLs and the S3-like part PUT.

Frame.io answers `local_upload` with `upload_urls[{size, url}]` pointing at S3. The sandbox points
them back at itself (`/_upload/<file_id>/<part_no>?X-Amz-...&X-Amz-Signature=<hmac>`, signed as
`signing.py` describes) and checks each PUT like S3 checks a pre-signed URL:

- bad or missing signature, or any signed parameter edited -> 403 SignatureDoesNotMatch;
  arrived after X-Amz-Date + X-Amz-Expires (sandbox clock) -> 403 AccessDenied "Request has
  expired";
- `x-amz-acl: private` and `Content-Type: <media_type from create>` are signed headers, so a
  missing or different value -> 403 SignatureDoesNotMatch;
- no Content-Length (e.g. chunked) -> 411 MissingContentLength; a Content-Length other than that
  URL's `size` -> 400 (IncompleteBody / EntityTooLarge);
- otherwise the body is streamed to the file's blob at the part's offset (bounded memory) and the
  answer is 200 with `ETag: "<md5>"`. Re-PUTting a part overwrites it (idempotent).

Every PUT reaching the handler is counted (`Stats.record_part_put`), and so is every body byte
read, refused PUTs included: their bodies are read to the end before the answer.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from postflow.sandbox.responses import s3_error
from postflow.sandbox.store import AssetNotFound

if TYPE_CHECKING:
    from postflow.sandbox.state import SandboxState

__all__ = ["plan_parts", "put_part", "upload_urls"]


def plan_parts(file_size: int, target_part_bytes: int, *, uneven: bool = False) -> list[int]:
    """Split a file into part sizes the way Frame.io's docs example does.

    The part count is ceil(file_size / target_part_bytes) (at least 1); parts are an equal split
    rounded up, with the remainder on the last part: 50,645,990 bytes at a 17 MiB target ->
    [16881997, 16881997, 16881996]. With `uneven`, the first part is halved and the rest re-split
    (at least two parts when file_size >= 2), so clients must honour each URL's own `size`.

    Args:
        file_size: File size in bytes (>= 0).
        target_part_bytes: Desired part size in bytes (>= 1).
        uneven: Make part sizes deliberately unequal.

    Returns:
        Part sizes in bytes, summing to file_size.

    Raises:
        ValueError: On a negative size or a target below 1.
    """
    if file_size < 0 or target_part_bytes < 1:
        raise ValueError("file_size must be >= 0 and target_part_bytes >= 1")
    count = max(1, math.ceil(file_size / target_part_bytes))
    if uneven and file_size >= 2:
        first = max(1, math.ceil(file_size / max(2, count)) // 2)
        return [first, *_even_split(file_size - first, max(1, count - 1))]
    return _even_split(file_size, count)


def _even_split(total: int, count: int) -> list[int]:
    size = math.ceil(total / count) if total else 0
    sizes = [size] * (count - 1) + [total - size * (count - 1)]
    if sizes[-1] <= 0 < total:  # e.g. 10 bytes in 4 parts of 3: drop the empty tail
        return _even_split(total, count - 1)
    return sizes


def upload_urls(
    base_url: str, state: SandboxState, file_id: str, sizes: list[int]
) -> list[dict[str, object]]:
    """`[{"size": bytes, "url": absolute pre-signed URL}, ...]` in part order.

    Each URL is signed now on the sandbox clock and lives `state.part_url_ttl_seconds` seconds.
    """
    base = base_url.rstrip("/")
    now, ttl = state.clock.now(), state.part_url_ttl_seconds
    return [
        {
            "size": size,
            "url": f"{base}/_upload/{file_id}/{n}?"
            + state.signer.query(file_id, n, now=now, expires_seconds=ttl),
        }
        for n, size in enumerate(sizes, start=1)
    ]


async def put_part(request: Request) -> Response:
    """PUT /_upload/{file_id}/{part_no}: receive one part (see the module docstring)."""
    state: SandboxState = request.app.state.sandbox
    file_id: str = request.path_params["file_id"]
    part_no: int = request.path_params["part_no"]
    state.stats.record_part_put(file_id)
    now = state.clock.now()  # expiry is judged when the request arrives
    refusal = state.signer.verify(file_id, part_no, dict(request.query_params), now=now)
    if refusal is not None:
        return await _refuse(request, state, file_id, refusal.response())
    asset = state.assets.get(file_id)
    part = next((p for p in state.assets.parts(file_id) if p.part_no == part_no), None)
    if asset is None or asset.type != "file" or part is None:
        missing = s3_error(404, "The specified upload does not exist.", code="NoSuchUpload")
        return await _refuse(request, state, file_id, missing)
    refusal_response = _check_headers(request, asset.media_type or "", part.size)
    if refusal_response is not None:
        return await _refuse(request, state, file_id, refusal_response)
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    try:
        with state.assets.blob_path(file_id).open("r+b") as blob:
            blob.seek(part.offset)
            async for chunk in _counted(request, state, file_id):
                if written + len(chunk) > part.size:
                    too_large = s3_error(
                        400, "Your proposed upload exceeds the part size.", code="EntityTooLarge"
                    )
                    return await _refuse(request, state, file_id, too_large)
                blob.write(chunk)
                digest.update(chunk)
                written += len(chunk)
    except FileNotFoundError:
        missing = s3_error(404, "The specified upload does not exist.", code="NoSuchUpload")
        return await _refuse(request, state, file_id, missing)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; the part stays missing
    if written != part.size:
        return s3_error(
            400,
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            code="IncompleteBody",
        )
    etag = f'"{digest.hexdigest()}"'
    try:
        state.assets.record_part(file_id, part_no, etag, short_by=state.faults.take_short_store)
    except AssetNotFound:  # deleted while its part was in flight
        return s3_error(404, "The specified upload does not exist.", code="NoSuchUpload")
    return Response(status_code=200, headers={"ETag": etag})


async def _counted(request: Request, state: SandboxState, file_id: str) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk, each chunk's size added to the part-byte counters."""
    async for chunk in request.stream():
        if chunk:
            state.stats.record_part_bytes(file_id, len(chunk))
        yield chunk


async def _refuse(
    request: Request, state: SandboxState, file_id: str, refusal: Response
) -> Response:
    """Read (and count) whatever is left of the body, then answer `refusal`."""
    try:
        async for _ in _counted(request, state, file_id):
            pass
    except (ClientDisconnect, RuntimeError):  # gone, or the stream was already consumed
        pass
    return refusal


def _check_headers(request: Request, media_type: str, size: int) -> Response | None:
    headers = request.headers
    if headers.get("x-amz-acl") != "private":
        return s3_error(
            403,
            "The request signature we calculated does not match the signature "
            "you provided: signed header x-amz-acl must be 'private'.",
            code="SignatureDoesNotMatch",
        )
    if headers.get("content-type", "").strip() != media_type:
        return s3_error(
            403,
            "The request signature we calculated does not match the signature "
            f"you provided: signed header Content-Type must be '{media_type}'.",
            code="SignatureDoesNotMatch",
        )
    raw_length = headers.get("content-length")
    if raw_length is None or not raw_length.isdigit():
        return s3_error(
            411, "You must provide the Content-Length HTTP header.", code="MissingContentLength"
        )
    length = int(raw_length)
    if length < size:
        return s3_error(
            400,
            f"Content-Length {length} is smaller than this part's size {size}.",
            code="IncompleteBody",
        )
    if length > size:
        return s3_error(
            400,
            f"Content-Length {length} is larger than this part's size {size}.",
            code="EntityTooLarge",
        )
    return None
