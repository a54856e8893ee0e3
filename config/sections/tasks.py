"""Prefect tasks: retries, heartbeats, caching and locks (the structure cache, listings).

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator


class TaskSettings(BaseModel):
    """Prefect tasks: retries, heartbeats, caching and locks (the structure cache, listings)."""

    task_retries: int = Field(4, ge=0, le=20, description="Retries of transient task failures.")
    ingest_heartbeat_seconds: int = Field(
        0,
        ge=0,
        description="Prefect heartbeats of ingest runs, every this many seconds (0: none; "
        "Prefect's minimum is 30). Off by default: Prefect 3.8.8 ends a run by joining its "
        "heartbeat thread, which sleeps in 1 s steps, so each small file took 0.5 s longer. "
        "Turn on for an automation that spots ingest runs whose process died.",
    )
    task_retry_backoff_seconds: float = Field(
        2.0, ge=0, description="First retry delay; doubles each retry (with jitter)."
    )
    max_retry_after_seconds: float = Field(
        120.0, ge=0, description="Cap on a server's Retry-After that we honour."
    )
    structure_cache_dir: Path | None = Field(
        None,
        description="Where structure cache records live; a directory all workers share for "
        "scale-out (default: Prefect's local result storage).",
    )
    lock_manager: Literal["file", "memory", "redis"] = Field(
        "file",
        description="Locks for folder creation, uploads and version stacks: file (flock in "
        "<state_dir>/locks; every process of one machine), memory (one process), or redis "
        "(several machines).",
    )
    redis_url: str = Field("redis://localhost:6379/0", description="Redis for the lock manager.")
    structure_cache_ttl_seconds: int = Field(
        3600, ge=0, description="How long a resolved SCENES/<scene>/<shot> folder id is cached."
    )
    folder_listing_ttl_seconds: int = Field(
        300,
        ge=0,
        description="How long a folder listing our writers share is reused (what SCENES holds, "
        "what a shot folder's stack holds), counted from the last real listing: a folder made "
        "by hand in the web app may go unseen this long (0: list every time).",
    )
    projects_cache_ttl_seconds: int = Field(
        1800,
        ge=0,
        description="How long a process reuses its Frame.io client and project look-up (0: "
        "for the process's life).",
    )
    nomenclature_cache_ttl_seconds: int = Field(
        7200,
        ge=0,
        description="How long parsed naming rules are reused before the file is read again "
        "(an edited file is read at once; 0: for the process's life).",
    )

    @field_validator("ingest_heartbeat_seconds")
    @classmethod
    def _prefect_heartbeat_minimum(cls, value: int) -> int:
        if 0 < value < 30:
            raise ValueError("use 0 (no heartbeats) or 30 s or more (Prefect's minimum)")
        return value
