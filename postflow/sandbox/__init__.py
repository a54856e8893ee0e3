"""Local Frame.io v4 stand-in ("the sandbox") for tests, the demo and `postflow sandbox`.

A real HTTP server (Starlette on uvicorn, loopback) that the official `frameio` SDK cannot tell
from api.frame.io + Adobe IMS for the calls this project makes. Modules:

- `server`: `SandboxServer` (context manager) and the blocking `run_sandbox`.
- `defaults`: fixed IDs, credentials, rate limits, media types.
- `app`: the Starlette app; `ims`, `api_account`, `api_folders`, `api_files`: endpoints;
  `uploads`: part planning and the S3-like part PUT; `signing`: pre-signed part URLs
  (`X-Amz-Date` + `X-Amz-Expires`, expiry, S3's 403s); `clock`: the movable clock they use;
  `remote`: the remote-upload puller (fetches `source_url` with HEAD + ranged GETs, resuming);
  `admin`: /_sandbox/ endpoints; `tree`: the project tree as JSON.
- `store`, `records`, `tokens`, `db`: SQLite-backed state; `render`: SDK-validated responses.
- `faults`, `ratelimit`, `stats`: fault injection, leaky-bucket limits, counters.
"""

from postflow.sandbox.defaults import (
    DEFAULT_PART_URL_TTL_SECONDS,
    DEFAULT_SANDBOX_HOST,
    DEFAULT_SANDBOX_PORT,
    DEFAULT_TARGET_PART_BYTES,
    DEFAULT_TOKEN_TTL_SECONDS,
    SANDBOX_ACCOUNT_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PROJECT_ID,
    SANDBOX_PROJECT_NAME,
    SANDBOX_ROOT_FOLDER_ID,
    SANDBOX_WORKSPACE_ID,
    media_type_for,
)
from postflow.sandbox.faults import FaultRule
from postflow.sandbox.server import SandboxServer, run_sandbox
from postflow.sandbox.uploads import plan_parts

__all__ = [
    "DEFAULT_PART_URL_TTL_SECONDS",
    "DEFAULT_SANDBOX_HOST",
    "DEFAULT_SANDBOX_PORT",
    "DEFAULT_TARGET_PART_BYTES",
    "DEFAULT_TOKEN_TTL_SECONDS",
    "SANDBOX_ACCOUNT_ID",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_PROJECT_ID",
    "SANDBOX_PROJECT_NAME",
    "SANDBOX_ROOT_FOLDER_ID",
    "SANDBOX_WORKSPACE_ID",
    "FaultRule",
    "SandboxServer",
    "media_type_for",
    "plan_parts",
    "run_sandbox",
]
