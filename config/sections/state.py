"""State across restarts and machines: the store, the manifest, leases, the installation.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator


class StateSettings(BaseModel):
    """State across restarts and machines: the store, the manifest, leases, the installation."""

    state_dir: Path = Field(
        Path(".postflow"),
        description="Local state: the state store's SQLite file (state.db) unless "
        "POSTFLOW_STATE_URL names a database, locks, reports, the local server's log.",
    )
    state_url: SecretStr | None = Field(
        None,
        description="The state store shared by several machines (ledger, identity records, "
        "retry queue, circuit breaker, warm runs, alert keys): a PostgreSQL URL, e.g. "
        "postgresql://user@host:5432/prefect, the password in libpq's ~/.pgpass or PGPASSFILE "
        "(one in the URL works too, never logged). Unset: <state_dir>/state.db (SQLite, one "
        "machine).",
    )
    state_schema: str = Field(
        "postflow",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of the state store's tables (created when missing), so "
        "the Prefect server's database can hold them beside its own; unused with SQLite.",
    )
    manifest_dir: Path | None = Field(
        None,
        description="Root of the ASC MHL delivery manifest: its history is <manifest_dir>/ascmhl, "
        "each delivered file recorded at its path relative to the watch folder "
        "(docs/how-it-behaves.md, 'Delivery manifest'). Unset: "
        "<state_dir>/mhl/<production or installation>, never inside the watch folder. Set to "
        "the watch folder itself so stock `ascmhl-debug verify` works there; several machines: "
        "a folder they all see. With a productions file, each production gets "
        "<manifest_dir>/<production> unless it names its own.",
    )
    manifest_batch_seconds: float = Field(
        3600.0,
        ge=0,
        le=7 * 86400,
        description="An ingest writes the deliveries not yet in the manifest as one new MHL "
        "generation when the last one is older than this (seconds; 0: after every ingest); "
        "`postflow manifest` and the weekly report write them at once.",
    )
    runner_lease_seconds: float = Field(
        60.0,
        ge=1,
        description="Lease of a postflow up's warm runner in the state store, renewed every "
        "third of it: once it has expired (the machine was killed), any up sharing the store "
        "marks the runner's runs Crashed and runs them again (seconds).",
    )
    installation: str = Field(
        "postflow",
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="Name of this installation (lower-case letters, digits, '-'; at most 40): "
        "what it creates on a shared Prefect server (automations, blocks, concurrency limits) "
        "and its rows in a shared state store carry it, so two installations never replace "
        "each other's.",
    )

    @field_validator("state_dir")
    @classmethod
    def _state_dir_is_a_folder(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file; point it at a folder (created when missing)")
        for parent in value.absolute().parents:  # the first that exists must be a folder
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(f"{parent} is a file, so {value} cannot be created")
                break
        return value
