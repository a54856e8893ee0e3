"""Deterministic constants of the Frame.io v4 sandbox.

Everything a client needs to talk to a fresh sandbox is fixed here, so tests, the demo and the CLI
can hard-code the same IDs and credentials. IDs are UUID4-shaped strings like Frame.io's.
"""

from __future__ import annotations

from pathlib import PurePath

# --- credentials (one registered IMS client, used for S2S and Web App grants) ---------------
SANDBOX_CLIENT_ID = "postflow-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"

# --- the seeded hierarchy: Account -> Workspace -> Project -> root Folder --------------------
SANDBOX_USER_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e601"
SANDBOX_USER_NAME = "PostFlow Sandbox User"
SANDBOX_USER_EMAIL = "sandbox-user@postflow.invalid"

SANDBOX_ACCOUNT_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e602"
SANDBOX_ACCOUNT_NAME = "RL PostFlow Sandbox Account"

SANDBOX_WORKSPACE_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e603"
SANDBOX_WORKSPACE_NAME = "RL PostFlow"

SANDBOX_PROJECT_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e604"
SANDBOX_PROJECT_NAME = "RL PostFlow Sandbox"

SANDBOX_ROOT_FOLDER_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e605"
SANDBOX_ROOT_FOLDER_NAME = "root"

# A second project (another production), served only with ``second_project=True``.
SANDBOX_SECOND_PROJECT_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6b4"
SANDBOX_SECOND_PROJECT_NAME = "RL PostFlow Sandbox B"
SANDBOX_SECOND_ROOT_FOLDER_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6b5"

# project id -> (name, root folder id)
SANDBOX_PROJECTS = {
    SANDBOX_PROJECT_ID: (SANDBOX_PROJECT_NAME, SANDBOX_ROOT_FOLDER_ID),
    SANDBOX_SECOND_PROJECT_ID: (SANDBOX_SECOND_PROJECT_NAME, SANDBOX_SECOND_ROOT_FOLDER_ID),
}

# Timestamp given to the seeded account/workspace/project/root folder (ISO 8601, UTC).
SANDBOX_EPOCH = "2025-01-01T00:00:00+00:00"

# --- server defaults ----------------------------------------------------------------------------
DEFAULT_SANDBOX_HOST = "127.0.0.1"
DEFAULT_SANDBOX_PORT = 8790
DEFAULT_TARGET_PART_BYTES = 32 * 1024 * 1024
DEFAULT_TOKEN_TTL_SECONDS = 86399  # what IMS v3 returns as expires_in
REFRESH_TOKEN_TTL_SECONDS = 14 * 24 * 3600
AUTHORIZATION_CODE_TTL_SECONDS = 600
# Lifetime of part upload URLs (X-Amz-Expires). Frame.io does not document its own: a guess.
DEFAULT_PART_URL_TTL_SECONDS = 24 * 3600
# A completed file reports status "uploaded" for this long, then "transcoded".
DEFAULT_TRANSCODE_DELAY_SECONDS = 1.0
# A webhook delivery that failed is retried after this, doubling (Frame.io: 15 s plus jitter).
DEFAULT_WEBHOOK_RETRY_SECONDS = 15.0
MAX_FILE_SIZE_BYTES = 5 * 1024**4  # "up to 5TB"

# --- pagination (Frame.io: page_size 1..100, default 50) ------------------------------------
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

# --- documented per-operation rate limits: operation -> (calls, window seconds) --------------
# Source: the `Rate Limits:` lines of the frameio 4.0.0 SDK docstrings ("per account_user").
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "users.show": (100, 60.0),
    "accounts.index": (100, 60.0),
    "workspaces.index": (100, 60.0),
    "workspaces.show": (100, 60.0),
    "projects.index": (100, 60.0),
    "projects.account_index": (100, 60.0),
    "projects.show": (100, 60.0),
    "folders.show": (100, 60.0),
    "folders.index": (100, 60.0),  # /children
    "folders.list": (5, 1.0),  # /folders
    "folders.create": (3, 1.0),
    "files.list": (5, 1.0),
    "files.local_upload": (5, 1.0),
    "files.remote_upload": (5, 1.0),
    "files.status": (5, 1.0),
    "files.show": (10, 1.0),
    "files.move": (100, 60.0),
    "files.delete": (100, 60.0),
    "version_stacks.list": (5, 1.0),
    "version_stacks.create": (10, 60.0),
    "version_stacks.reorder": (10, 60.0),
    "version_stacks.show": (100, 60.0),
    "version_stacks.index": (100, 60.0),
    "webhooks.index": (100, 60.0),
    "webhooks.show": (100, 60.0),
    "webhooks.create": (10, 60.0),
    "webhooks.update": (10, 60.0),
    "webhooks.delete": (60, 60.0),
    "comments.index": (100, 60.0),  # not in the SDK docstrings: assumed like comments.show
    "comments.show": (100, 60.0),
    "comments.create": (100, 60.0),
    "comments.update": (10, 60.0),
    "metadata.show": (100, 60.0),
    "metadata.bulk_update": (10, 60.0),
}

# --- media types by extension (lower case, with the dot) -------------------------------------
MEDIA_TYPES: dict[str, str] = {
    ".mov": "video/quicktime",
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mxf": "application/mxf",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".wav": "audio/wav",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".exr": "image/x-exr",
    ".dpx": "image/x-dpx",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".zip": "application/zip",
}
FALLBACK_MEDIA_TYPE = "application/octet-stream"


def media_type_for(name: str) -> str:
    """Return the media type the sandbox assigns to a file name.

    Args:
        name: File name such as "SHOT_010_v002.mov"; only the extension matters (case-insensitive).

    Returns:
        e.g. "video/quicktime" for .mov, "video/mp4" for .mp4, else "application/octet-stream".
    """
    return MEDIA_TYPES.get(PurePath(name).suffix.lower(), FALLBACK_MEDIA_TYPE)
