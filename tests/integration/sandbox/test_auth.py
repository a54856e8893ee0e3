"""The sandbox's IMS: server-to-server tokens, refused secrets and tokens, the web-app flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from frameio import Frameio
from frameio.auth import AuthenticationError, ServerToServerAuth, WebAppAuth
from frameio.errors import UnauthorizedError

from postflow.sandbox import SANDBOX_PROJECT_NAME, SandboxServer
from tests.integration.sandbox.frameio_calls import NO_RETRY

pytestmark = pytest.mark.integration


def test_s2s_token_lists_account_workspace_and_project(
    sandbox: SandboxServer, client: Frameio
) -> None:
    accounts = list(client.accounts.index())
    workspaces = list(client.workspaces.index(sandbox.account_id))
    projects = list(client.projects.index(sandbox.account_id, sandbox.workspace_id))
    assert [a.id for a in accounts] == [sandbox.account_id]
    assert [w.id for w in workspaces] == [sandbox.workspace_id]
    assert [(p.name, p.root_folder_id) for p in projects] == [
        (SANDBOX_PROJECT_NAME, sandbox.root_folder_id)
    ]


def test_wrong_client_secret_is_refused(sandbox: SandboxServer, http: httpx.Client) -> None:
    auth = ServerToServerAuth(
        client_id=sandbox.client_id,
        client_secret="wrong",
        ims_base_url=sandbox.url,
        http_client=http,
    )
    with pytest.raises(AuthenticationError) as refused:
        auth.get_token()
    assert refused.value.error_code == "invalid_client"
    assert "client_secret" in (refused.value.error_description or "")


def test_token_not_issued_by_sandbox_is_unauthorized(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    client = Frameio(base_url=sandbox.url, token="made-up-token", httpx_client=http)
    with pytest.raises(UnauthorizedError) as refused:
        client.users.show(request_options=NO_RETRY)
    assert refused.value.status_code == 401
    assert refused.value.body.errors[0].detail == "Invalid access token"


def test_web_app_code_exchange_then_refresh_rotates_the_refresh_token(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    auth = WebAppAuth(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://localhost:8765/callback",
        ims_base_url=sandbox.url,
        http_client=http,
    )
    redirect = http.get(auth.get_authorization_url(state="xyz"), follow_redirects=False)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    first = auth.exchange_code(query["code"][0])
    second = auth.refresh()
    reused = http.post(
        f"{sandbox.url}/ims/token/v3",
        data={
            "grant_type": "refresh_token",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "refresh_token": first["refresh_token"],
        },
    )
    assert (redirect.status_code, query["state"]) == (302, ["xyz"])
    assert second["refresh_token"] != first["refresh_token"]
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert Frameio(base_url=sandbox.url, token=auth.get_token, httpx_client=http).users.show()
