"""Pre-signed part URLs: SigV4-shaped query parameters, an HMAC over them, and their expiry.

Frame.io's part URLs are S3 SigV4 pre-signed PUT URLs. Each sandbox part URL carries::

    X-Amz-Algorithm=AWS4-HMAC-SHA256
    X-Amz-Credential=postflow-sandbox/<yyyymmdd>/us-east-1/s3/aws4_request
    X-Amz-Date=<yyyymmddTHHMMSSZ>        signing time, on the sandbox clock (`clock.py`)
    X-Amz-Expires=<seconds>              the sandbox setting `part_url_ttl_seconds`
    X-Amz-SignedHeaders=content-type;host;x-amz-acl
    X-Amz-Signature=<hex HMAC-SHA256>

The signature is an HMAC (key in `<data_dir>/upload-signing.key`) over the file ID, the part
number and every other parameter's exact text, so editing any of them (say a longer
`X-Amz-Expires`) is refused as 403 `SignatureDoesNotMatch`, as on S3. It is not AWS's real SigV4
algorithm; clients must treat the URL as opaque, as they must with Frame.io's.

Expiry instant = X-Amz-Date + X-Amz-Expires. A PUT whose request **arrives** after it gets S3's
403 AccessDenied "Request has expired" XML (with `X-Amz-Expires`, `Expires`, `ServerTime`,
`RequestId`, `HostId`). Expiry is judged on arrival only: a PUT that started in time finishes.
Whether S3 does the same for a long PUT is not documented (the S3-compatible OSS docs say the
check is made "at the moment it receives the request"). How long Frame.io's own part URLs live is
**not documented** either; the sandbox default (86400 s) is a guess, and clients should read
`X-Amz-Date` + `X-Amz-Expires` from each URL rather than assume it.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from starlette.responses import Response

from postflow.sandbox.clock import iso_z
from postflow.sandbox.defaults import DEFAULT_PART_URL_TTL_SECONDS
from postflow.sandbox.responses import s3_error

__all__ = [
    "AMZ_DATE_FORMAT",
    "MAX_PART_URL_TTL_SECONDS",
    "Refusal",
    "UrlSigner",
    "parse_amz_date",
]

SIGNING_KEY_FILENAME = "upload-signing.key"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_PART_URL_TTL_SECONDS = 604800  # SigV4's limit: 7 days
_SIGNED_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires")
_SIGNED_HEADERS = "content-type;host;x-amz-acl"


def parse_amz_date(text: str) -> int:
    """`X-Amz-Date` ("20250101T000000Z", UTC) as Unix seconds.

    Raises:
        ValueError: Not in the `yyyymmddTHHMMSSZ` form.
    """
    return calendar.timegm(time.strptime(text, AMZ_DATE_FORMAT))


@dataclass(frozen=True)
class Refusal:
    """Why a part PUT's URL is refused; `response()` is S3's 403 for it.

    Attributes:
        code: "SignatureDoesNotMatch" or "AccessDenied" (expired).
        expires_seconds: The URL's X-Amz-Expires in seconds (expired only).
        expires_at: Its expiry instant, Unix seconds (expired only).
        server_time: The sandbox clock when the request arrived, Unix seconds (expired only).
    """

    code: str
    expires_seconds: int = 0
    expires_at: int = 0
    server_time: float = 0.0

    def response(self) -> Response:
        """The S3 XML error answer (403, application/xml)."""
        if self.code != "AccessDenied":
            return s3_error(
                403,
                "The request signature we calculated does not match the signature you provided.",
                code="SignatureDoesNotMatch",
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
            f"<X-Amz-Expires>{self.expires_seconds}</X-Amz-Expires>"
            f"<Expires>{iso_z(self.expires_at)}</Expires>"
            f"<ServerTime>{iso_z(self.server_time)}</ServerTime>"
            f"<RequestId>{secrets.token_hex(8).upper()}</RequestId>"
            f"<HostId>{secrets.token_urlsafe(48)}</HostId></Error>"
        )
        return Response(body, status_code=403, media_type="application/xml")


class UrlSigner:
    """HMAC-SHA256 signer for part URLs, with a key persisted in the data dir.

    Args:
        key: Secret key bytes.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def load_or_create(cls, data_dir: Path) -> UrlSigner:
        """Read `<data_dir>/upload-signing.key`, creating it on first start."""
        path = data_dir / SIGNING_KEY_FILENAME
        if not path.exists():
            path.write_text(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def signature(self, file_id: str, part_no: int, params: dict[str, str]) -> str:
        """Hex HMAC over the file, the part and the exact text of every signed parameter."""
        signed = [params.get(name, "") for name in _SIGNED_PARAMS]
        message = "\n".join([file_id, str(part_no), *signed, params.get("X-Amz-SignedHeaders", "")])
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def query(
        self,
        file_id: str,
        part_no: int,
        *,
        now: float,
        expires_seconds: int = DEFAULT_PART_URL_TTL_SECONDS,
    ) -> str:
        """The pre-signed query string for one part.

        Args:
            file_id: The file the part belongs to.
            part_no: 1-based part number.
            now: Signing time, Unix seconds (the sandbox clock); whole seconds are kept.
            expires_seconds: URL lifetime in seconds (1..604800).
        """
        stamp = time.strftime(AMZ_DATE_FORMAT, time.gmtime(int(now)))
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"postflow-sandbox/{stamp[:8]}/us-east-1/s3/aws4_request",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(expires_seconds),
            "X-Amz-SignedHeaders": _SIGNED_HEADERS,
        }
        params["X-Amz-Signature"] = self.signature(file_id, part_no, params)
        return urlencode(params)

    def verify(
        self, file_id: str, part_no: int, params: dict[str, str], *, now: float
    ) -> Refusal | None:
        """Check a request's query at arrival time `now` (Unix seconds, the sandbox clock).

        Returns:
            None when the URL is valid; otherwise the refusal (bad signature first, then expiry).
        """
        given = params.get("X-Amz-Signature", "")
        if not hmac.compare_digest(given, self.signature(file_id, part_no, params)):
            return Refusal("SignatureDoesNotMatch")
        try:
            expires = int(params["X-Amz-Expires"])
            expires_at = parse_amz_date(params["X-Amz-Date"]) + expires
        except (KeyError, ValueError):
            return Refusal("SignatureDoesNotMatch")
        if now > expires_at:
            return Refusal("AccessDenied", expires, expires_at, now)
        return None
