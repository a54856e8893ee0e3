"""Adobe IMS stand-in: token (v3), authorize (v2) and revoke, at the paths the SDK builds.

- `POST /ims/token/v3` (form-encoded; client credentials in the form or as HTTP Basic):
  `client_credentials` -> access token; `authorization_code` (single-use code from authorize,
  same redirect_uri) and `refresh_token` (single-use: every refresh rotates it) -> access +
  refresh tokens. Answers `{"access_token", "token_type": "bearer", "expires_in"}` plus
  `"refresh_token"` for user grants.
- Unknown client_id -> 400 `invalid_client`; wrong secret -> 401 `invalid_client`; bad or used
  code / refresh token -> 400 `invalid_grant` ("... expired" when expired, which the SDK turns into
  `TokenExpiredError`); anything else -> 400 `invalid_request` / `unsupported_grant_type`.
- `GET /ims/authorize/v2` auto-approves: 302 to `redirect_uri?code=...&state=...`.
- `POST /ims/revoke` revokes the `token` form field.
PKCE parameters (SPA flow) are accepted but not verified.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from postflow.sandbox.defaults import AUTHORIZATION_CODE_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS
from postflow.sandbox.responses import ims_error
from postflow.sandbox.state import SandboxState
from postflow.sandbox.tokens import Grant

__all__ = ["routes"]

_NO_STORE = {"Cache-Control": "no-store"}


async def _form(request: Request) -> dict[str, str]:
    """Form fields merged over query parameters (IMS accepts client_id in either)."""
    fields = dict(request.query_params)
    fields.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return fields


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            return client_id, secret
        except (binascii.Error, UnicodeDecodeError):
            return "", None
    return form.get("client_id", ""), form.get("client_secret")


def _check_client(state: SandboxState, client_id: str, secret: str | None) -> Response | None:
    if client_id != state.config.client_id:
        return ims_error(400, "invalid_client", "invalid client_id parameter")
    if secret != state.config.client_secret:
        return ims_error(401, "invalid_client", "invalid client_secret parameter")
    return None


def _token_body(
    state: SandboxState, client_id: str, subject: str, scope: str, with_refresh: bool
) -> JSONResponse:
    ttl = state.config.token_ttl_seconds
    access = state.tokens.issue(
        "access", client_id=client_id, subject=subject, scope=scope, ttl_seconds=ttl
    )
    body: dict[str, object] = {
        "access_token": access.token,
        "token_type": "bearer",
        "expires_in": ttl,
    }
    if with_refresh:
        refresh = state.tokens.issue(
            "refresh",
            client_id=client_id,
            subject=subject,
            scope=scope,
            ttl_seconds=REFRESH_TOKEN_TTL_SECONDS,
        )
        body["refresh_token"] = refresh.token
    return JSONResponse(body, headers=_NO_STORE)


def _grant_problem(grant: Grant | None, client_id: str, what: str) -> Response | None:
    if grant is None or grant.client_id != client_id:
        return ims_error(400, "invalid_grant", f"invalid {what}")
    if grant.expired():
        return ims_error(400, "invalid_grant", f"{what} expired")
    return None


async def token(request: Request) -> Response:
    """POST /ims/token/v3."""
    state: SandboxState = request.app.state.sandbox
    form = await _form(request)
    client_id, secret = _client_credentials(request, form)
    refusal = _check_client(state, client_id, secret)
    if refusal is not None:
        return refusal
    grant_type = form.get("grant_type", "")
    if grant_type == "client_credentials":
        return _token_body(state, client_id, "service", form.get("scope", ""), False)
    if grant_type == "authorization_code":
        code = state.tokens.consume(form.get("code", ""), "code")
        problem = _grant_problem(code, client_id, "authorization code")
        if problem is not None:
            return problem
        assert code is not None
        if code.redirect_uri != form.get("redirect_uri"):
            return ims_error(400, "invalid_grant", "redirect_uri does not match the authorize call")
        return _token_body(state, client_id, "user", code.scope, True)
    if grant_type == "refresh_token":
        old = state.tokens.consume(form.get("refresh_token", ""), "refresh")
        problem = _grant_problem(old, client_id, "refresh token")
        if problem is not None:
            return problem
        assert old is not None
        return _token_body(state, client_id, old.subject, old.scope, True)
    if not grant_type:
        return ims_error(400, "invalid_request", "missing grant_type parameter")
    return ims_error(400, "unsupported_grant_type", f"unsupported grant_type {grant_type}")


async def authorize(request: Request) -> Response:
    """GET /ims/authorize/v2: auto-approve and redirect back with a code."""
    state: SandboxState = request.app.state.sandbox
    params = request.query_params
    redirect_uri = params.get("redirect_uri", "")
    if params.get("client_id") != state.config.client_id:
        return ims_error(400, "invalid_client", "invalid client_id parameter")
    if not redirect_uri:
        return ims_error(400, "invalid_request", "missing redirect_uri parameter")
    reply: dict[str, str] = {}
    if params.get("response_type") != "code":
        reply["error"] = "unsupported_response_type"
    else:
        code = state.tokens.issue(
            "code",
            client_id=state.config.client_id,
            subject="user",
            scope=params.get("scope", ""),
            ttl_seconds=AUTHORIZATION_CODE_TTL_SECONDS,
            redirect_uri=redirect_uri,
        )
        reply["code"] = code.token
    if "state" in params:
        reply["state"] = params["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(reply)}", status_code=302)


async def revoke(request: Request) -> Response:
    """POST /ims/revoke: revoke the `token` form field (200 even when unknown, like IMS)."""
    state: SandboxState = request.app.state.sandbox
    form = await _form(request)
    client_id, secret = _client_credentials(request, form)
    if client_id != state.config.client_id:
        return ims_error(400, "invalid_client", "invalid client_id parameter")
    if secret is not None and secret != state.config.client_secret:
        return ims_error(401, "invalid_client", "invalid client_secret parameter")
    state.tokens.revoke(form.get("token", ""))
    return Response(status_code=200)


routes: list[Route] = [
    Route("/ims/token/v3", token, methods=["POST"], name="ims.token"),
    Route("/ims/authorize/v2", authorize, methods=["GET"], name="ims.authorize"),
    Route("/ims/revoke", revoke, methods=["POST"], name="ims.revoke"),
]
