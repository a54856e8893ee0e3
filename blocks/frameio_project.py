"""A Frame.io v4 project as the pipeline sees it: typed calls through the official SDK.

:class:`FrameioProject` wraps a ``frameio.Frameio`` client bound to one account and project.
Each method is one SDK call with its errors mapped (:func:`blocks.frameio.frameio_errors`) and
429 answers honoured: a 429 never has side effects, so the call is repeated after the
server's ``Retry-After`` (capped), whatever its method. Other transient failures are raised
for the Prefect task to retry with backoff, because a retried *create* must first look for
what the failed attempt may have created (the SDK would blindly POST again: its
``core/http_client.py`` retries 408, 409, 429 and 5xx whatever the method, so create calls
pass ``request_options={"max_retries": 0}``; https://github.com/Frameio/python-sdk).

Listing pages by hand with ``page_size=100`` on every request: ``links.next`` carries only the
cursor ("Pagination" in https://developer.adobe.com/frameio/guides), and the SDK pager requests
it bare, so pages after the first lose ``page_size``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

from frameio import Frameio
from frameio.files import (
    FileCreateLocalUploadParamsData,
    FileCreateRemoteUploadParamsData,
    FileMoveParamsData,
)
from frameio.folders import FolderCreateParamsData
from frameio.version_stacks import VersionStackCreateParamsData

from blocks.frameio import frameio_errors
from core.errors import FrameioRateLimited

T = TypeVar("T")
NO_SDK_RETRY: Any = MappingProxyType({"max_retries": 0})
PAGE_SIZE = 100


@dataclass(frozen=True)
class Asset:
    """A child of a folder or version stack, reduced to what the pipeline needs.

    Attributes:
        id: Frame.io id.
        name: as stored by Frame.io.
        type: ``"file"``, ``"folder"`` or ``"version_stack"``.
        file_size: bytes (files only, else None).
        status: ``created`` / ``uploaded`` / ``transcoded`` for files, else None.
        view_url: link that opens the asset in the Frame.io web app.
        created_at: ISO-8601 creation time.
        head_version_id: for version stacks, the id of the top version.
    """

    id: str
    name: str
    type: str
    view_url: str
    created_at: str
    file_size: int | None = None
    status: str | None = None
    head_version_id: str | None = None

    @classmethod
    def from_sdk(cls, item: Any) -> Asset:
        """Build from any SDK asset model (File, Folder, VersionStack, AssetWithIncludes_*)."""
        head = getattr(item, "head_version", None)
        status = getattr(item, "status", None)
        return cls(
            id=item.id,
            name=item.name,
            type=getattr(item, "type", None) or "file",
            view_url=item.view_url,
            created_at=item.created_at.isoformat(),
            file_size=getattr(item, "file_size", None),
            status=getattr(status, "value", status),
            head_version_id=head.id if head is not None else None,
        )


class FrameioProject:
    """One Frame.io project reached through the SDK.

    Args:
        client: a ready ``frameio.Frameio`` (see :meth:`FrameioCredentials.get_client`).
        account_id: v4 account id.
        project_id: v4 project id.
        max_retry_after_seconds: cap on a server's Retry-After that we wait for.
        rate_limit_retries: how many 429s in a row one call absorbs before raising.
        sleep: injected for tests.
        throttle: called with the operation name before every call (Prefect rate limits,
            :mod:`tasks.platform.limits`); a no-op by default.
    """

    def __init__(
        self,
        client: Frameio,
        account_id: str,
        project_id: str,
        *,
        max_retry_after_seconds: float = 120.0,
        rate_limit_retries: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        throttle: Callable[[str], None] = lambda _operation: None,
    ) -> None:
        self.client = client
        self._throttle = throttle
        self.account_id = account_id
        self.project_id = project_id
        self.max_retry_after_seconds = max_retry_after_seconds
        self.rate_limit_retries = rate_limit_retries
        self._sleep = sleep
        self.rate_limited_count = 0

    def _call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call; map its errors; wait out 429s (Retry-After, else backoff)."""
        for attempt in range(self.rate_limit_retries + 1):
            self._throttle(operation)
            try:
                with frameio_errors(operation):
                    return fn(*args, **kwargs)
            except FrameioRateLimited as exc:
                self.rate_limited_count += 1
                if attempt == self.rate_limit_retries:
                    raise
                wait = exc.retry_after_seconds
                if wait is None:
                    wait = min(2.0**attempt, 30.0) * (1 + random.random() * 0.25)
                self._sleep(min(wait, self.max_retry_after_seconds))
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One SDK call ``fn(*args, **kwargs)`` named ``operation``, with this project's error
        mapping, throttle and 429 waits (for calls outside this class, e.g.
        :mod:`blocks.frameio_review`).

        Raises:
            FrameioError: mapped from the SDK's errors (:func:`blocks.frameio.frameio_errors`).
        """
        return self._call(operation, fn, *args, **kwargs)

    @cached_property
    def project(self) -> Any:
        """The SDK ``Project`` (name, ``root_folder_id``, ``view_url``).

        Raises:
            FrameioNotFound: wrong account/project id.
            FrameioAuthError: credentials refused.
        """
        response = self._call(
            "projects.show", self.client.projects.show, self.account_id, self.project_id
        )
        return response.data

    @property
    def root_folder_id(self) -> str:
        """Id of the project's root folder."""
        return str(self.project.root_folder_id)

    def _pages(self, operation: str, fetch: Callable[..., Any], *args: Any) -> list[Any]:
        items: list[Any] = []
        after: str | None = None
        while True:
            pager = self._call(operation, fetch, *args, page_size=PAGE_SIZE, after=after)
            items.extend(pager.items or [])
            links = getattr(pager.response, "links", None)
            next_link = getattr(links, "next", None)
            if not next_link:
                return items
            after = (parse_qs(urlparse(next_link).query).get("after") or [None])[0]
            if not after:
                return items

    def list_children(self, folder_id: str) -> list[Asset]:
        """All children (files, folders, version stacks) of a folder, every page.

        Raises:
            FrameioNotFound: the folder does not exist.
        """
        raw = self._pages("folders.index", self.client.folders.index, self.account_id, folder_id)
        return [Asset.from_sdk(item) for item in raw]

    def list_versions(self, version_stack_id: str) -> list[Asset]:
        """All files in a version stack, every page."""
        fetch = self.client.version_stacks.index
        raw = self._pages("version_stacks.index", fetch, self.account_id, version_stack_id)
        return [Asset.from_sdk(item) for item in raw]

    def show_version_stack(self, version_stack_id: str) -> Asset:
        """One version stack's current record; ``head_version_id`` is its top file.

        Raises:
            FrameioNotFound: the stack does not exist (any more).
        """
        response = self._call(
            "version_stacks.show",
            self.client.version_stacks.show,
            self.account_id,
            version_stack_id,
        )
        return Asset.from_sdk(response.data)

    def create_folder(self, parent_id: str, name: str) -> Asset:
        """Create a sub-folder (never retried blindly by the SDK)."""
        response = self._call(
            "folders.create",
            self.client.folders.create,
            self.account_id,
            parent_id,
            data=FolderCreateParamsData(name=name),
            request_options=NO_SDK_RETRY,
        )
        return Asset.from_sdk(response.data)

    def create_local_upload(self, folder_id: str, name: str, file_size: int) -> Any:
        """Create the file placeholder; returns the SDK ``FileWithUploadUrls``.

        The answer's ``upload_urls[i].size`` is the byte length of part *i*, and
        ``media_type`` is the Content-Type every part PUT must carry (Frame.io "How To: Upload").
        """
        response = self._call(
            "files.create_local_upload",
            self.client.files.create_local_upload,
            self.account_id,
            folder_id,
            data=FileCreateLocalUploadParamsData(name=name, file_size=file_size),
            request_options=NO_SDK_RETRY,
        )
        return response.data

    def create_remote_upload(self, folder_id: str, name: str, source_url: str) -> Any:
        """Ask Frame.io to pull ``source_url`` into a new file (202; remote upload cap 50 GB).

        Returns the SDK ``FileRemoteUploadResponse.data`` (a File with ``status: created``);
        poll :meth:`upload_status` until ``upload_complete`` or ``upload_failed``.
        """
        response = self._call(
            "files.create_remote_upload",
            self.client.files.create_remote_upload,
            self.account_id,
            folder_id,
            data=FileCreateRemoteUploadParamsData(name=name, source_url=source_url),
            request_options=NO_SDK_RETRY,
        )
        return response.data

    def upload_status(self, file_id: str) -> Any:
        """``FileUploadStatus``: ``upload_complete`` and ``upload_failed`` booleans."""
        response = self._call(
            "files.show_file_upload_status",
            self.client.files.show_file_upload_status,
            self.account_id,
            file_id,
        )
        return response.data

    def show_file(self, file_id: str) -> Asset:
        """One file's current record."""
        response = self._call("files.show", self.client.files.show, self.account_id, file_id)
        return Asset.from_sdk(response.data)

    def original_download_url(self, file_id: str) -> str | None:
        """The file's original as stored: ``media_links.original.download_url`` (a pre-signed
        URL; never logged), or None when Frame.io gives none (``files.show`` with
        ``include=media_links.original``)."""
        response = self._call(
            "files.show",
            self.client.files.show,
            self.account_id,
            file_id,
            include="media_links.original",
        )
        links = getattr(response.data, "media_links", None)
        original = getattr(links, "original", None)
        return getattr(original, "download_url", None)

    def delete_file(self, file_id: str) -> None:
        """Delete a file (used for placeholders left by an interrupted upload)."""
        self._call("files.delete", self.client.files.delete, self.account_id, file_id)

    def move_file(self, file_id: str, parent_id: str) -> Asset:
        """Move a file into a folder or a version stack (it becomes the stack's head)."""
        response = self._call(
            "files.move",
            self.client.files.move,
            self.account_id,
            file_id,
            data=FileMoveParamsData(parent_id=parent_id),
        )
        return Asset.from_sdk(response.data)

    def create_version_stack(self, folder_id: str, file_ids: list[str]) -> Asset:
        """Stack 2-10 files of one folder, oldest first; the last becomes the head version."""
        response = self._call(
            "version_stacks.create",
            self.client.version_stacks.create,
            self.account_id,
            folder_id,
            data=VersionStackCreateParamsData(file_ids=file_ids),
            request_options=NO_SDK_RETRY,
        )
        return Asset.from_sdk(response.data)

    def walk(self, folder_id: str | None = None, max_depth: int = 6) -> list[tuple[int, Asset]]:
        """Depth-first listing ``[(depth, asset), ...]`` from a folder (the root by default);
        version stacks are expanded into their versions (depth + 1)."""
        out: list[tuple[int, Asset]] = []

        def visit(parent: str, depth: int) -> None:
            for child in sorted(self.list_children(parent), key=lambda a: (a.type, a.name)):
                out.append((depth, child))
                if depth + 1 >= max_depth:
                    continue
                if child.type == "folder":
                    visit(child.id, depth + 1)
                elif child.type == "version_stack":
                    out.extend((depth + 1, v) for v in self.list_versions(child.id))

        visit(folder_id or self.root_folder_id, 0)
        return out
