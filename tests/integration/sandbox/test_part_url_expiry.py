"""Part URLs expire like S3 pre-signed URLs: X-Amz-Date + X-Amz-Expires on the sandbox clock.

The sandbox clock is moved with ``POST /_sandbox/clock`` (no sleeping); the URL lifetime is the
``part_url_ttl_seconds`` setting (600 s in this module).
"""

from __future__ import annotations

import calendar
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from frameio import Frameio

from postflow.sandbox import SandboxServer
from tests.integration.sandbox.frameio_calls import (
    PART_BYTES,
    create_upload,
    put_part,
    random_file,
)

pytestmark = pytest.mark.integration

TTL = 600
HEADERS = {"x-amz-acl": "private", "Content-Type": "video/quicktime"}


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {
        "rate_limits": False,
        "target_part_bytes": PART_BYTES,
        "transcode_delay_seconds": 0,
        "part_url_ttl_seconds": TTL,
    }


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _advance(http: httpx.Client, sandbox: SandboxServer, seconds: float) -> dict[str, Any]:
    answer = http.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": seconds})
    answer.raise_for_status()
    return answer.json()


def _one_part_upload(
    client: Frameio, sandbox: SandboxServer, tmp_path: Path, size: int = 1000
) -> tuple[Path, str, str]:
    source = random_file(tmp_path, "a.mov", size)
    upload = create_upload(client, sandbox, source.name, size)
    (url,) = upload.upload_urls
    return source, upload.id, url.url


def test_part_urls_carry_a_parseable_date_and_lifetime(
    sandbox: SandboxServer, client: Frameio
) -> None:
    upload = create_upload(client, sandbox, "clip.mov", 3 * PART_BYTES)
    params = [_params(u.url) for u in upload.upload_urls]
    signed_at = calendar.timegm(time.strptime(params[0]["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    assert len(params) == 3
    assert {p["X-Amz-Expires"] for p in params} == {str(TTL)}
    assert abs(signed_at - time.time()) < 60
    assert params[0]["X-Amz-Credential"].split("/")[1] == params[0]["X-Amz-Date"][:8]


def test_a_put_just_before_expiry_is_stored(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source, file_id, url = _one_part_upload(client, sandbox, tmp_path)
    clock = _advance(http, sandbox, TTL - 10)
    response = put_part(http, url, source, 0, 1000, HEADERS)
    assert clock["offset_seconds"] == TTL - 10
    assert response.status_code == 200
    assert client.files.show_file_upload_status(sandbox.account_id, file_id).data.upload_complete


def test_a_put_after_expiry_gets_s3s_request_has_expired(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source, file_id, url = _one_part_upload(client, sandbox, tmp_path)
    _advance(http, sandbox, TTL / 2)
    _advance(http, sandbox, TTL / 2 + 2)  # cumulative: now past X-Amz-Date + X-Amz-Expires
    response = put_part(http, url, source, 0, 1000, HEADERS)
    error = ET.fromstring(response.content)
    signed_at = calendar.timegm(time.strptime(_params(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(signed_at + TTL))
    assert (response.status_code, response.headers["content-type"]) == (403, "application/xml")
    assert (error.findtext("Code"), error.findtext("Message")) == (
        "AccessDenied",
        "Request has expired",
    )
    assert (error.findtext("X-Amz-Expires"), error.findtext("Expires")) == (str(TTL), expires)
    assert error.findtext("ServerTime", "") > expires and error.findtext("HostId")
    assert not client.files.show_file_upload_status(
        sandbox.account_id, file_id
    ).data.upload_complete


def test_an_edited_x_amz_expires_is_a_signature_mismatch(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source, file_id, url = _one_part_upload(client, sandbox, tmp_path)
    forged = url.replace(f"X-Amz-Expires={TTL}", "X-Amz-Expires=604800")
    response = put_part(http, forged, source, 0, 1000, HEADERS)
    assert forged != url
    assert response.status_code == 403
    assert ET.fromstring(response.content).findtext("Code") == "SignatureDoesNotMatch"
    assert not client.files.show_file_upload_status(
        sandbox.account_id, file_id
    ).data.upload_complete


def test_clock_and_url_lifetime_are_set_over_http_and_reset(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client
) -> None:
    _advance(http, sandbox, 30)
    ttl = http.post(f"{sandbox.url}/_sandbox/settings", json={"part_url_ttl_seconds": 120})
    (url,) = create_upload(client, sandbox, "clip.mov", 10).upload_urls
    http.post(f"{sandbox.url}/_sandbox/reset")
    after_reset = http.get(f"{sandbox.url}/_sandbox/settings").json()
    assert (ttl.json(), _params(url.url)["X-Amz-Expires"]) == ({"part_url_ttl_seconds": 120}, "120")
    assert http.get(f"{sandbox.url}/_sandbox/clock").json()["offset_seconds"] == 0
    assert after_reset == {"part_url_ttl_seconds": TTL}
    assert (
        http.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": -1}).status_code == 422
    )
