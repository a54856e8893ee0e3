"""The watch folder: where renders land, when a file is complete, how ingests are dispatched.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

DEFAULT_NOMENCLATURE_PATH = Path(__file__).parents[1] / "nomenclature.toml"
DEFAULT_EXTENSIONS = (
    ".mov",
    ".mp4",
    ".avi",
    ".mkv",
    ".mxf",
    ".prores",
    ".dnxhd",
    ".r3d",
    ".braw",
)
DEFAULT_IGNORE_PATTERNS = (
    ".*",
    "._*",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    "*.tmp",
    "*.part",
    "*.partial",
    "*.filepart",
    "*.crdownload",
    "*~",
)


class WatchSettings(BaseModel):
    """The watch folder: where renders land, when a file is complete, how ingests are dispatched."""

    watch_path: Path = Field(Path("BY_SHOT"), description="The BY_SHOT watch folder.")
    watch_recursive: bool = Field(True, description="Also watch sub-folders of the watch folder.")
    poll_interval_seconds: float = Field(
        5.0, gt=0, le=3600, description="How often the polling observer lists the watch folder."
    )
    settle_seconds: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="Size and mtime must stay unchanged this long before a file is ready.",
    )
    tail_check_bytes: int = Field(
        65536,
        ge=0,
        le=16 * 2**20,
        description="Bytes at the end of the file read twice to confirm it is complete "
        "(LucidLink may report a final size before the last bytes are readable).",
    )
    use_polling_observer: bool = Field(
        True,
        description="Poll (works on LucidLink/FUSE, where other machines' writes fire no "
        "events); False uses the native inotify/FSEvents observer.",
    )
    extensions: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_EXTENSIONS, description="Accepted extensions."
    )
    ignore_patterns: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_IGNORE_PATTERNS, description="fnmatch patterns of junk and partial files."
    )
    nomenclature_path: Path = Field(
        DEFAULT_NOMENCLATURE_PATH, description="TOML file of ordered naming rules."
    )
    dispatch_mode: Literal["in_process", "deployment"] = Field(
        "in_process",
        description="in_process: the sensor runs ingests itself; deployment: it creates one "
        "ingest-file deployment run per file, which `postflow up` or a work pool's worker "
        "executes (`events`, the older name, is read as deployment).",
    )
    run_create_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="deployment mode: a file whose ingest run could not be created (Prefect "
        "API unreachable) is tried again after this long, doubling each attempt.",
    )
    run_create_max_attempts: int = Field(
        6,
        ge=1,
        le=20,
        description="deployment mode: attempts to create a file's run before giving up "
        "(logged with the command to ingest it by hand).",
    )
    ingest_concurrency: int = Field(
        2, ge=1, le=32, description="Files ingested at once by the in-process sensor."
    )
    container_check_enabled: bool = Field(
        True,
        description="A settled .mov/.mp4 without its moov atom or an MXF without its footer "
        "is not ready yet (structure walk, confirmed by ffprobe when on PATH).",
    )
    allow_inner_symlinks: bool = Field(
        False,
        description="Ingest a symlink whose target is a regular file inside the watch folder "
        "(other symlinks, FIFOs, sockets and devices are always refused).",
    )

    @field_validator("dispatch_mode", mode="before")
    @classmethod
    def _older_dispatch_mode_name(cls, value: object) -> object:
        """``events`` was deployment mode's name while an event trigger created the runs."""
        return "deployment" if value == "events" else value

    @field_validator("extensions", mode="before")
    @classmethod
    def _split_extensions(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if isinstance(value, list | tuple):
            return tuple(v.lower() if v.startswith(".") else f".{v.lower()}" for v in value)
        return value

    @field_validator("ignore_patterns", mode="before")
    @classmethod
    def _split_patterns(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value
