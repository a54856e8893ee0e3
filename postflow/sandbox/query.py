"""Query-string handling shared by the /v4 list endpoints: include, sort, cursor pagination.

Pagination mirrors Frame.io: `page_size` 1..100 (default 50), an opaque `after` cursor, and
`links.next` = the request *path* plus `?after=<cursor>` only. Other parameters (page_size, sort,
include, type) are not carried over; clients must send them again on every page, exactly as the
SDK pager fails to do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from starlette.requests import Request

from postflow.sandbox.defaults import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

__all__ = [
    "ApiProblem",
    "Page",
    "bool_param",
    "include_param",
    "paginate",
    "sort_items",
    "type_param",
]

T = TypeVar("T")

ASSET_INCLUDES = frozenset(
    {
        "media_links.original",
        "media_links.thumbnail",
        "media_links.thumbnail_high_quality",
        "media_links.video_h264_180",
        "media_links.high_quality",
        "media_links.efficient",
        "media_links.scrub_sheet",
        "creator",
        "project",
        "metadata",
    }
)
FOLDER_INCLUDES = frozenset({"creator", "project", "metadata"})
SORTS = frozenset(
    {
        "name_asc",
        "name_desc",
        "created_at_asc",
        "created_at_desc",
        "updated_at_asc",
        "updated_at_desc",
        "file_size_asc",
        "file_size_desc",
    }
)
CHILD_TYPES = frozenset({"file", "folder", "version_stack"})


class ApiProblem(Exception):
    """A request the API answers with a Frame.io `errors[]` body.

    Attributes:
        status: HTTP status (400, 401, 404, 422, 429, ...).
        detail: Human-readable explanation.
        source: e.g. {"parameter": "page_size"} or {"pointer": "/data/name"}, or None.
        headers: Extra response headers.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        source: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.source = source
        self.headers = headers or {}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list endpoint.

    Attributes:
        items: The page's items (at most page_size).
        next_link: Relative path with only `?after=<cursor>`, or None on the last page.
        total_count: Number of items over all pages when include_total_count=true, else None.
    """

    items: list[T]
    next_link: str | None
    total_count: int | None

    def envelope(self, data: list[Any]) -> dict[str, Any]:
        """`{"data": data, "links": {"next": ...}}` plus `total_count` when it was asked for."""
        body: dict[str, Any] = {"data": data, "links": {"next": self.next_link}}
        if self.total_count is not None:
            body["total_count"] = self.total_count
        return body


def bool_param(request: Request, name: str) -> bool:
    """Parse a boolean query parameter ("true"/"false", absent = False).

    Raises:
        ApiProblem: 400 for any other value.
    """
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiProblem(400, f"{name} must be true or false", source={"parameter": name})


def include_param(request: Request, allowed: Collection[str]) -> frozenset[str]:
    """Parse `include=a,b` against the endpoint's allowed values.

    Raises:
        ApiProblem: 400 naming the first unknown value.
    """
    raw = request.query_params.get("include") or ""
    values = frozenset(v.strip() for v in raw.split(",") if v.strip())
    unknown = sorted(values - frozenset(allowed))
    if unknown:
        raise ApiProblem(
            400, f"invalid include value: {unknown[0]}", source={"parameter": "include"}
        )
    return values


def type_param(request: Request) -> frozenset[str] | None:
    """Parse the children `type` filter ("file", "folder", "version_stack", comma-separated)."""
    raw = request.query_params.get("type")
    if not raw:
        return None
    values = frozenset(v.strip() for v in raw.split(",") if v.strip())
    if not values or values - CHILD_TYPES:
        raise ApiProblem(400, f"invalid type filter: {raw}", source={"parameter": "type"})
    return values


def sort_items(
    request: Request,
    items: Sequence[T],
    keys: dict[str, Callable[[T], Any]],
    allowed: Collection[str] = SORTS,
) -> list[T]:
    """Order items by `sort=<field>_<asc|desc>`; without it, keep the given (creation) order.

    Args:
        request: The incoming request.
        items: Items in creation order.
        keys: field name ("name", "created_at", ...) -> key function.
        allowed: Accepted sort values for this endpoint.

    Raises:
        ApiProblem: 400 for an unknown sort value.
    """
    raw = request.query_params.get("sort")
    if not raw:
        return list(items)
    field, _, direction = raw.rpartition("_")
    if raw not in allowed or field not in keys:
        raise ApiProblem(400, f"invalid sort value: {raw}", source={"parameter": "sort"})
    return sorted(items, key=keys[field], reverse=direction == "desc")


def paginate(request: Request, items: Sequence[T]) -> Page:
    """Cut one page out of `items` (already filtered and sorted).

    Returns:
        A `Page` of at most page_size items.

    Raises:
        ApiProblem: 400 for a page_size outside 1..100 or an unreadable cursor.
    """
    page_size = _page_size(request)
    offset = _decode_cursor(request.query_params.get("after"))
    end = offset + page_size
    next_link = f"{request.url.path}?after={_encode_cursor(end)}" if end < len(items) else None
    total = len(items) if bool_param(request, "include_total_count") else None
    return Page(list(items[offset:end]), next_link, total)


def _page_size(request: Request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiProblem(
            400,
            f"page_size must be an integer between 1 and {MAX_PAGE_SIZE}",
            source={"parameter": "page_size"},
        )
    return size


def _encode_cursor(offset: int) -> str:
    token = base64.urlsafe_b64encode(f"sbx:{offset}".encode()).decode().rstrip("=")
    return quote(token, safe="")


def _decode_cursor(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        prefix, _, number = text.partition(":")
        offset = int(number)
        if prefix != "sbx" or offset < 0:
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ApiProblem(400, "invalid after cursor", source={"parameter": "after"}) from exc
    return offset
