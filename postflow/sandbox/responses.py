"""Error bodies in the three dialects the sandbox speaks.

- Frame.io v4: `{"errors": [{"detail", "title", "source": {"pointer", ...}}]}` with JSON content
  type; the SDK maps 400/401/403/404/409/422/429 to its typed errors and parses this body into
  `.body`. Every item carries `title` and `source.pointer`, the fields the SDK's generic
  `frameio.types.JsonErrorResponse` requires (its per-status models make them optional). Errors
  not caused by a body field point at the whole request document: `""` (RFC 6901); query
  parameter errors keep `source.parameter` beside it.
- Adobe IMS: `{"error": code, "error_description": text}`; the SDK's auth module reads `error`
  (only when the content type is application/json) and raises `AuthenticationError(code, text)`.
- S3 (part PUTs): `<Error><Code/><Message/><RequestId/></Error>` as application/xml.
"""

from __future__ import annotations

import secrets
from xml.sax.saxutils import escape

from starlette.responses import JSONResponse, Response

__all__ = ["frameio_error", "ims_error", "s3_error", "STATUS_TITLES", "S3_CODES"]

STATUS_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

S3_CODES: dict[int, str] = {
    400: "BadRequest",
    403: "AccessDenied",
    404: "NoSuchUpload",
    411: "MissingContentLength",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "SlowDown",
    504: "GatewayTimeout",
}


def frameio_error(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    source: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a Frame.io v4 error response.

    Args:
        status: HTTP status, e.g. 404.
        detail: Human-readable explanation.
        title: Short title; defaults to the status phrase ("Not Found").
        source: e.g. {"pointer": "/data/name"} for body fields or {"parameter": "page_size"};
            `pointer` defaults to "" (the whole request).
        headers: Extra headers (rate-limit headers, Retry-After).
    """
    error: dict[str, object] = {
        "detail": detail,
        "title": title or STATUS_TITLES.get(status, "Error"),
        "source": {"pointer": "", **(source or {})},
    }
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


def ims_error(
    status: int, code: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Build an Adobe IMS error response, e.g. 401 `invalid_client`."""
    return JSONResponse(
        {"error": code, "error_description": description}, status_code=status, headers=headers
    )


def s3_error(
    status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """Build an S3-style XML error response, e.g. 403 `SignatureDoesNotMatch`."""
    code = code or S3_CODES.get(status, "InternalError")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml", headers=headers)
