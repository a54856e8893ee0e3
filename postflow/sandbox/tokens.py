"""Tokens issued by the sandbox's IMS endpoints: access tokens, refresh tokens, auth codes.

Grants are persisted in the sandbox database, so a client keeps working across a sandbox restart
on the same data dir (as it would against the real IMS). Codes and refresh tokens are single-use:
`consume()` revokes them atomically, which is how refresh-token rotation is enforced.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from postflow.sandbox.db import Database

__all__ = ["Grant", "TokenStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh', 'code')),
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    redirect_uri TEXT,
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
"""

_PREFIXES = {"access": "sbx-at-", "refresh": "sbx-rt-", "code": "sbx-code-"}


@dataclass(frozen=True)
class Grant:
    """One issued token and what it was issued for.

    Attributes:
        token: The opaque token string.
        kind: "access", "refresh" or "code".
        client_id: IMS client the token belongs to.
        subject: "service" for client_credentials grants, "user" for user grants.
        scope: Space-separated scopes as requested.
        redirect_uri: For codes, the redirect URI given to /ims/authorize/v2.
        expires_at: Expiry as Unix time in seconds.
    """

    token: str
    kind: str
    client_id: str
    subject: str
    scope: str
    redirect_uri: str | None
    expires_at: float

    def expired(self, now: float | None = None) -> bool:
        """True once `expires_at` has passed."""
        return (time.time() if now is None else now) >= self.expires_at


class TokenStore:
    """Issue, look up, consume and revoke sandbox tokens. Thread-safe.

    Args:
        db: The shared database (the `tokens` table is created if missing).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        db.executescript(_SCHEMA)

    def issue(
        self,
        kind: str,
        *,
        client_id: str,
        subject: str,
        scope: str,
        ttl_seconds: float,
        redirect_uri: str | None = None,
    ) -> Grant:
        """Mint a new token valid for `ttl_seconds`."""
        grant = Grant(
            token=_PREFIXES[kind] + secrets.token_urlsafe(32),
            kind=kind,
            client_id=client_id,
            subject=subject,
            scope=scope,
            redirect_uri=redirect_uri,
            expires_at=time.time() + ttl_seconds,
        )
        self._db.execute(
            "INSERT INTO tokens (token, kind, client_id, subject, scope, redirect_uri, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (grant.token, kind, client_id, subject, scope, redirect_uri, grant.expires_at),
        )
        return grant

    def find(self, token: str, kind: str) -> Grant | None:
        """Return the unrevoked grant of this kind for `token` (possibly expired), else None."""
        row = self._db.query_one(
            "SELECT * FROM tokens WHERE token = ? AND kind = ? AND revoked = 0", (token, kind)
        )
        if row is None:
            return None
        return Grant(
            row["token"],
            row["kind"],
            row["client_id"],
            row["subject"],
            row["scope"],
            row["redirect_uri"],
            row["expires_at"],
        )

    def consume(self, token: str, kind: str) -> Grant | None:
        """Atomically look up and revoke a single-use token; None if unknown or already used."""
        with self._db.transaction():
            grant = self.find(token, kind)
            if grant is not None:
                self._db.execute("UPDATE tokens SET revoked = 1 WHERE token = ?", (token,))
            return grant

    def revoke(self, token: str) -> bool:
        """Revoke any token; True if it existed and was live."""
        cursor = self._db.execute(
            "UPDATE tokens SET revoked = 1 WHERE token = ? AND revoked = 0", (token,)
        )
        return cursor.rowcount == 1
