"""Configuration and shared state of one sandbox instance (one data dir).

Handlers reach it as `request.app.state.sandbox`; `SandboxServer` holds the same object, so the
Python API and the HTTP admin endpoints act on identical state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from postflow.sandbox.clock import SandboxClock
from postflow.sandbox.db import Database
from postflow.sandbox.defaults import (
    DEFAULT_PART_URL_TTL_SECONDS,
    DEFAULT_TARGET_PART_BYTES,
    DEFAULT_TOKEN_TTL_SECONDS,
    DEFAULT_TRANSCODE_DELAY_SECONDS,
    DEFAULT_WEBHOOK_RETRY_SECONDS,
    RATE_LIMITS,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
)
from postflow.sandbox.faults import FaultPlan
from postflow.sandbox.ratelimit import RateLimiter
from postflow.sandbox.remote import RemotePuller
from postflow.sandbox.review import ReviewStore
from postflow.sandbox.signing import MAX_PART_URL_TTL_SECONDS, UrlSigner
from postflow.sandbox.stats import Stats
from postflow.sandbox.store import Asset, AssetStore
from postflow.sandbox.tokens import TokenStore
from postflow.sandbox.webhook_delivery import WebhookDeliverer

__all__ = ["SandboxConfig", "SandboxState", "check_part_url_ttl"]

_HASH_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SandboxConfig:
    """Tunables of a sandbox instance.

    Attributes:
        target_part_bytes: Desired upload part size in bytes (part count = ceil(size / this)).
        uneven_parts: Split uploads into deliberately unequal parts.
        rate_limits: Enforce the documented per-operation limits (429 + Retry-After).
        token_ttl_seconds: `expires_in` of issued access tokens.
        transcode_delay_seconds: How long a completed file reports "uploaded" before "transcoded".
        stack_reorder: Serve the version-stack reorder call (in the v4 API reference, not in the
            `frameio` 4.0.0 SDK); False answers it 404, to test a client's fallback.
        second_project: Serve a second project (another production) next to the first.
        part_url_ttl_seconds: Lifetime of part upload URLs in seconds (their `X-Amz-Expires`,
            1..604800); the starting value of `SandboxState.part_url_ttl_seconds`. Frame.io's
            own lifetime is not documented.
        webhook_retry_seconds: First retry delay of a failed webhook delivery (doubles).
        client_id: The one registered IMS client ID.
        client_secret: Its secret.
    """

    target_part_bytes: int = DEFAULT_TARGET_PART_BYTES
    uneven_parts: bool = False
    rate_limits: bool = True
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS
    transcode_delay_seconds: float = DEFAULT_TRANSCODE_DELAY_SECONDS
    stack_reorder: bool = True
    second_project: bool = False
    part_url_ttl_seconds: int = DEFAULT_PART_URL_TTL_SECONDS
    webhook_retry_seconds: float = DEFAULT_WEBHOOK_RETRY_SECONDS
    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = SANDBOX_CLIENT_SECRET

    def __post_init__(self) -> None:
        if self.target_part_bytes < 1:
            raise ValueError("target_part_bytes must be >= 1")
        if self.token_ttl_seconds < 1:
            raise ValueError("token_ttl_seconds must be >= 1")
        check_part_url_ttl(self.part_url_ttl_seconds)


def check_part_url_ttl(seconds: int) -> int:
    """Return `seconds` if it is a valid part-URL lifetime (1..604800 s, SigV4's range).

    Raises:
        ValueError: Outside that range.
    """
    if not 1 <= seconds <= MAX_PART_URL_TTL_SECONDS:
        raise ValueError(f"part_url_ttl_seconds must be between 1 and {MAX_PART_URL_TTL_SECONDS}")
    return seconds


class SandboxState:
    """Everything a sandbox request handler needs.

    Args:
        data_dir: Directory for `sandbox.sqlite3`, `blobs/` and the URL signing key.
        config: Tunables.

    Raises:
        sqlite3.Error: When the database cannot be opened.
    """

    def __init__(self, data_dir: Path, config: SandboxConfig) -> None:
        self.data_dir = data_dir
        self.config = config
        self.db = Database(data_dir)
        self.assets = AssetStore(self.db, data_dir)
        self.tokens = TokenStore(self.db)
        self.signer = UrlSigner.load_or_create(data_dir)
        self.limiter = RateLimiter(RATE_LIMITS, enabled=config.rate_limits)
        self.faults = FaultPlan()
        self.stats = Stats()
        self.remote = RemotePuller(self.assets)
        self.clock = SandboxClock()
        self.review = ReviewStore(self.db)
        self.webhooks = WebhookDeliverer(
            self.db,
            self.assets,
            self.review,
            self.clock.now,
            config.transcode_delay_seconds,
            config.webhook_retry_seconds,
        )
        # Lifetime in seconds of part URLs issued from now on (POST /_sandbox/settings).
        self.part_url_ttl_seconds = config.part_url_ttl_seconds

    def sha256_of(self, asset: Asset) -> str | None:
        """sha256 hex of a completely uploaded file's bytes (cached), or None if incomplete."""
        if asset.type != "file" or asset.upload_completed_at is None:
            return None
        if asset.sha256:
            return asset.sha256
        digest = hashlib.sha256()
        with self.assets.blob_path(asset.id).open("rb") as blob:
            while chunk := blob.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
        self.assets.set_sha256(asset.id, digest.hexdigest())
        return digest.hexdigest()

    def reset(self) -> None:
        """Empty the tree (keeping the root folder and issued tokens), faults, stats and limits;
        the clock goes back to the wall clock and the part-URL lifetime to the configured one."""
        self.assets.reset()
        self.clock.reset()
        self.part_url_ttl_seconds = self.config.part_url_ttl_seconds
        self.faults.clear()
        self.stats.reset()
        self.limiter.reset()
        self.remote.forget()
        self.webhooks.reset()
        self.review.reset()

    def close(self) -> None:
        """Stop remote-upload pulls and webhook deliveries, and close the database."""
        self.remote.close()
        self.webhooks.close()
        self.db.close()
