"""What every /v4 endpoint shares: bearer auth, rate limits, error mapping, request bodies.

`v4_route(path, operation, handler)` wraps a handler `async (request, state) -> Response` so that:

1. a missing, unknown, revoked or expired bearer token -> 401;
2. `/v4/accounts/{account_id}/...` with another account ID -> 404;
3. the operation's leaky bucket is charged; when it is empty -> 429 with `Retry-After`;
4. `ApiProblem` / `AssetNotFound` / `InvalidOperation` become `{"errors": [...]}` bodies
   (status / 404 / 422);
5. every response carries `x-ratelimit-limit`, `-remaining` and `-window` (ms).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.sandbox.defaults import SANDBOX_ACCOUNT_ID
from postflow.sandbox.query import ApiProblem
from postflow.sandbox.responses import frameio_error
from postflow.sandbox.state import SandboxState
from postflow.sandbox.store import AssetNotFound, InvalidOperation

__all__ = ["Handler", "parse_data", "v4_route"]

Handler = Callable[[Request, SandboxState], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def v4_route(path: str, operation: str, handler: Handler, method: str = "GET") -> Route:
    """A Starlette route named `operation` running `handler` behind auth and rate limits."""

    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        decision = None
        try:
            _authenticate(request, state)
            _check_account(request)
            decision = state.limiter.check(operation)
            if decision is not None and not decision.allowed:
                state.stats.record_rate_limited()
                raise ApiProblem(
                    429,
                    f"Rate limit exceeded for {operation}: {decision.limit} "
                    f"calls per {decision.window_seconds:g} s",
                )
            response = await handler(request, state)
        except ApiProblem as problem:
            response = frameio_error(
                problem.status, problem.detail, source=problem.source, headers=problem.headers
            )
        except AssetNotFound as missing:
            response = frameio_error(404, str(missing))
        except InvalidOperation as invalid:
            source = {"pointer": invalid.pointer} if invalid.pointer else None
            response = frameio_error(422, invalid.detail, source=source)
        if decision is not None:
            response.headers.update(decision.headers())
        return response

    return Route(path, endpoint, methods=[method], name=operation)


async def parse_data(request: Request, model: type[M]) -> M:
    """Read `{"data": {...}}` and validate `data` with an SDK params model.

    Raises:
        ApiProblem: 400 for malformed JSON; 422 (with a `/data/...` pointer) for a missing
            `data` object or invalid fields.
    """
    try:
        body: Any = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiProblem(400, f"malformed JSON body: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiProblem(
            422, "body must be a JSON object with a data object", source={"pointer": "/data"}
        )
    try:
        return model.model_validate(body["data"])
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = "/data/" + "/".join(str(part) for part in first["loc"])
        raise ApiProblem(
            422, f"{pointer.removeprefix('/data/')}: {first['msg']}", source={"pointer": pointer}
        ) from exc


def _check_account(request: Request) -> None:
    account_id = request.path_params.get("account_id")
    if account_id is not None and account_id != SANDBOX_ACCOUNT_ID:
        raise ApiProblem(404, f"Account not found: {account_id}")


def _authenticate(request: Request, state: SandboxState) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "Missing bearer token")
    grant = state.tokens.find(token.strip(), "access")
    if grant is None:
        raise ApiProblem(401, "Invalid access token")
    if grant.expired():
        raise ApiProblem(401, "Access token expired")
