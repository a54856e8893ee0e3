"""Local (multipart) upload: part PUTs, progress, verification, Prefect limits.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class UploadSettings(BaseModel):
    """Local (multipart) upload: part PUTs, progress, verification, Prefect limits."""

    upload_part_concurrency: int = Field(
        4, ge=1, le=32, description="Part PUTs in flight per file."
    )
    upload_block_bytes: int = Field(
        1 << 20,
        ge=64 * 1024,
        le=64 * 2**20,
        description="Read size when streaming a part; bounds memory per part in flight.",
    )
    upload_part_retries: int = Field(5, ge=0, le=20, description="Retries per failed part PUT.")
    upload_status_timeout_seconds: float = Field(
        600.0, gt=0, description="How long to wait for Frame.io to report upload_complete."
    )
    upload_progress_log_bytes: int = Field(
        100 * 10**6, gt=0, description="Log upload progress every this many bytes."
    )
    upload_verify_sample_ranges: int = Field(
        0,
        ge=0,
        le=64,
        description="After an upload, download this many ranges of Frame.io's stored "
        "original and compare them with the source (0: off). Each costs "
        "upload_verify_sample_bytes of download and of source read.",
    )
    upload_verify_sample_bytes: int = Field(
        1 << 20,
        ge=1,
        le=256 * 2**20,
        description="Bytes per range of the sample check (upload_verify_sample_ranges).",
    )
    upload_hash_buffer_bytes: int = Field(
        1 << 30,
        ge=0,
        description="Cap on the memory (bytes) for blocks the parts read ahead of the "
        "fingerprint's frontier. An upload uses what it needs, up to (part concurrency + 1) x "
        "its part size (each byte then read once); past the cap a part waits to start until the "
        "frontier has moved on, and only a part larger than the cap is read again for the hash.",
    )

    use_prefect_limits: bool = Field(
        False,
        description="Guard Frame.io calls and uploads with Prefect global concurrency limits "
        "(<installation>-frameio-api, <installation>-frameio-folder-create, "
        "<installation>-uploads; `postflow up` creates them).",
    )
