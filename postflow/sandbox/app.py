"""Assemble the sandbox's Starlette app: IMS, /v4, part uploads, admin; stats and faults around.

Request path through the app (outermost first):
`StatsMiddleware` (count) -> `FaultMiddleware` (latency, injected status/drop) -> router ->
route (`v4_route` adds bearer auth, rate limits and error mapping for /v4).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postflow.sandbox import (
    admin,
    admin_review,
    api_account,
    api_files,
    api_folders,
    api_review,
    ims,
)
from postflow.sandbox.faults import FaultMiddleware
from postflow.sandbox.responses import frameio_error
from postflow.sandbox.state import SandboxState
from postflow.sandbox.stats import StatsMiddleware
from postflow.sandbox.uploads import put_part

__all__ = ["build_app"]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal sandbox error"
    return frameio_error(status, f"{detail}: {request.method} {request.url.path}")


def build_app(state: SandboxState) -> Starlette:
    """Build the ASGI app serving one sandbox state.

    Args:
        state: The sandbox's stores, configuration, fault plan and counters.

    Returns:
        A Starlette app with `app.state.sandbox = state`.
    """
    routes: list[BaseRoute] = [
        *ims.routes,
        *api_account.routes,
        *api_folders.routes,
        *api_files.routes,
        *api_review.routes,
        Route(
            "/_upload/{file_id}/{part_no:int}", put_part, methods=["PUT"], name="upload.put_part"
        ),
        *admin.routes,
        *admin_review.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(StatsMiddleware, stats=state.stats, routes=routes),
            Middleware(FaultMiddleware, plan=state.faults, stats=state.stats),
        ],
        exception_handlers={404: _http_error, 405: _http_error, Exception: _http_error},
    )
    app.state.sandbox = state
    return app
