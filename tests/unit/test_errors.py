"""The edge mapping of SDK/httpx errors to our hierarchy, one row per status."""

from __future__ import annotations

import httpx
import pytest
from frameio.core.api_error import ApiError
from frameio.errors import NotFoundError, TooManyRequestsError

from blocks.frameio import frameio_errors, map_frameio_error
from core.errors import (
    FrameioAuthError,
    FrameioNetworkError,
    FrameioNotFound,
    FrameioRateLimited,
    FrameioRejected,
    FrameioServerError,
    NamingError,
    PartUploadError,
    is_transient,
)

BODY = {"errors": [{"detail": "Folder not found", "title": "Not Found"}]}


@pytest.mark.parametrize(
    ("status", "expected", "transient"),
    [
        (400, FrameioRejected, False),
        (401, FrameioAuthError, False),
        (403, FrameioAuthError, False),
        (404, FrameioNotFound, False),
        (409, FrameioServerError, True),
        (422, FrameioRejected, False),
        (429, FrameioRateLimited, True),
        (500, FrameioServerError, True),
        (502, FrameioServerError, True),
        (503, FrameioServerError, True),
    ],
)
def test_status_codes_map_to_typed_errors(status, expected, transient):
    error = map_frameio_error("op", ApiError(status_code=status, headers={}, body=BODY))
    assert type(error) is expected
    assert error.status_code == status
    assert is_transient(error) is transient


def test_429_carries_retry_after_seconds():
    exc = TooManyRequestsError(body=BODY, headers={"Retry-After": "7"})
    error = map_frameio_error("files.show", exc)
    assert isinstance(error, FrameioRateLimited)
    assert error.retry_after_seconds == 7.0


def test_404_message_tells_the_user_what_to_check():
    error = map_frameio_error("projects.show", NotFoundError(body=BODY, headers={}))
    assert "POSTFLOW_FRAMEIO_PROJECT_ID" in str(error)
    assert error.detail == "Folder not found"


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
def test_transport_errors_are_transient_network_errors(exc):
    error = map_frameio_error("folders.index", exc)
    assert isinstance(error, FrameioNetworkError)
    assert is_transient(error)


def test_context_manager_raises_mapped_error_from_original():
    original = ApiError(status_code=503, headers={}, body=None)
    with pytest.raises(FrameioServerError) as info, frameio_errors("folders.create"):
        raise original
    assert info.value.__cause__ is original
    assert "folders.create" in str(info.value)


def test_permanent_and_unknown_errors_are_not_transient():
    assert not is_transient(NamingError("x.mov", "bad"))
    assert not is_transient(RuntimeError("bug"))
    assert is_transient(PartUploadError(1, "net", status_code=None))
    assert not is_transient(PartUploadError(1, "expired", status_code=403))


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        ("server_error", True),  # RFC 6749 5.2: the IMS failed; a later try may work
        ("temporarily_unavailable", True),
        ("http_503", True),  # the SDK's code for a 5xx without an OAuth body
        ("refresh_failed", True),  # the SDK wraps an unexpected error (a dropped connection)
        ("invalid_client", False),  # wrong credentials: retrying cannot help
        ("invalid_grant", False),
    ],
)
def test_an_ims_outage_is_transient_and_bad_credentials_are_not(code, transient):
    from frameio.auth import AuthenticationError

    mapped = map_frameio_error("ims.token", AuthenticationError(code, "detail"))
    assert is_transient(mapped) is transient
    assert code in str(mapped)
