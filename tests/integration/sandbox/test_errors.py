"""Every Frame.io error the sandbox answers parses with the SDK's strictest error model.

`frameio.types.JsonErrorResponse` requires `errors[].detail`, `.title` and `.source.pointer`; the
per-status models (`NotFound`, `TooManyRequests`, ...) make title and source optional, so a body
that passes the generic model passes them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from frameio import Frameio
from frameio.errors import NotFoundError
from frameio.types import JsonErrorResponse

from postflow.sandbox import SandboxServer

pytestmark = pytest.mark.integration

ACCOUNT = "/v4/accounts/{account_id}"
Probe = Callable[[SandboxServer, httpx.Client, dict[str, str]], httpx.Response]


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"rate_limits": False}


def _v4(server: SandboxServer, path: str) -> str:
    return server.url + path.format(account_id=server.account_id, root=server.root_folder_id)


def _injected(status: int) -> Probe:
    def probe(server: SandboxServer, http: httpx.Client, auth: dict[str, str]) -> httpx.Response:
        server.inject_status(status, path="^/v4/me$")
        return http.get(f"{server.url}/v4/me", headers=auth)

    return probe


def _rate_limited(
    server: SandboxServer, http: httpx.Client, auth: dict[str, str]
) -> httpx.Response:
    server.set_rate_limits(True)
    url = _v4(server, ACCOUNT + "/folders/{root}/folders")
    responses = [http.post(url, headers=auth, json={"data": {"name": f"f{i}"}}) for i in range(8)]
    return next(r for r in responses if r.status_code == 429)


PROBES: dict[str, tuple[int, Probe]] = {
    "400-malformed-json": (
        400,
        lambda s, h, a: h.post(
            _v4(s, ACCOUNT + "/folders/{root}/folders"), headers=a, content=b"{not json"
        ),
    ),
    "400-query-parameter": (
        400,
        lambda s, h, a: h.get(_v4(s, ACCOUNT + "/folders/{root}/children?page_size=0"), headers=a),
    ),
    "401-no-token": (401, lambda s, h, a: h.get(f"{s.url}/v4/me")),
    "403-injected": (403, _injected(403)),
    "404-unknown-folder": (
        404,
        lambda s, h, a: h.get(
            _v4(s, ACCOUNT + "/folders/00000000-0000-4000-8000-000000000000"), headers=a
        ),
    ),
    "404-other-account": (
        404,
        lambda s, h, a: h.get(f"{s.url}/v4/accounts/nope/folders/{s.root_folder_id}", headers=a),
    ),
    "404-unknown-route": (404, lambda s, h, a: h.get(f"{s.url}/v4/nowhere", headers=a)),
    "405-wrong-method": (405, lambda s, h, a: h.delete(f"{s.url}/v4/me", headers=a)),
    "409-injected": (409, _injected(409)),
    "409-incomplete-content": (
        409,
        lambda s, h, a: h.get(
            f"{s.url}/_sandbox/files/"
            + h.post(
                _v4(s, ACCOUNT + "/folders/{root}/files/local_upload"),
                headers=a,
                json={"data": {"name": "a.mov", "file_size": 10}},
            ).json()["data"]["id"]
            + "/content"
        ),
    ),
    "422-invalid-field": (
        422,
        lambda s, h, a: h.post(
            _v4(s, ACCOUNT + "/folders/{root}/folders"), headers=a, json={"data": {"name": " "}}
        ),
    ),
    "429-rate-limited": (429, _rate_limited),
    "429-injected": (429, _injected(429)),
    "500-injected": (500, _injected(500)),
    "502-injected": (502, _injected(502)),
    "503-injected": (503, _injected(503)),
    "504-injected": (504, _injected(504)),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_error_body_validates_as_the_sdk_json_error_response(
    sandbox: SandboxServer, http: httpx.Client, name: str
) -> None:
    status, probe = PROBES[name]
    auth = {"Authorization": f"Bearer {sandbox.issue_access_token()}"}
    response = probe(sandbox, http, auth)
    parsed = JsonErrorResponse.model_validate(response.json())
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert parsed.errors[0].detail and parsed.errors[0].title


def test_field_errors_point_at_the_field_and_others_at_the_whole_request(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    auth = {"Authorization": f"Bearer {sandbox.issue_access_token()}"}
    field = PROBES["422-invalid-field"][1](sandbox, http, auth).json()["errors"][0]
    query = PROBES["400-query-parameter"][1](sandbox, http, auth).json()["errors"][0]
    missing = PROBES["404-unknown-folder"][1](sandbox, http, auth).json()["errors"][0]
    assert field["source"] == {"pointer": "/data/name"}
    assert query["source"] == {"pointer": "", "parameter": "page_size"}
    assert missing["source"] == {"pointer": ""}


def test_sdk_not_found_error_carries_source(sandbox: SandboxServer, http: httpx.Client) -> None:
    client = Frameio(base_url=sandbox.url, token=sandbox.issue_access_token(), httpx_client=http)
    with pytest.raises(NotFoundError) as missing:
        client.files.show(sandbox.account_id, "00000000-0000-4000-8000-000000000000")
    (error,) = missing.value.body.errors
    assert error.source is not None and error.source.pointer == ""
    assert error.title == "Not Found"
