"""Runtime settings of RL PostFlow (pydantic-settings, env prefix ``POSTFLOW_``, ``.env`` support).

Every field names its unit (``settle_seconds``, ``part_size_bytes``). Secrets are ``SecretStr``
and are never logged; in production they live in Prefect blocks, and these settings only name
the blocks. The defaults run the demo against the local sandbox.

Example:
    >>> from config.settings import PostflowSettings
    >>> PostflowSettings(watch_path="/mnt/lucid/BY_SHOT").poll_interval_seconds
    5.0
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.dotenv_file import warn_once

warn_once()  # a .env line python-dotenv cannot parse is said once, not per read
DEFAULT_NOMENCLATURE_PATH = Path(__file__).with_name("nomenclature.toml")
DISCORD_BLOCK_SLUG = "postflow-discord"  # blocks.discord.PostflowDiscord's block type slug
# Block-name settings and what their default adds to the installation's name
BLOCK_SUFFIXES = MappingProxyType(
    {
        "frameio_credentials_block": "frameio",
        "discord_block": "discord",
        "tuning_block": "tuning",
        "tunnel_token_block": "tunnel-token",
        "review_webhook_block": "frameio-webhook",
    }
)

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


def _block_refs(value: object) -> object:
    """``"slack-webhook/on-call, custom-webhook/ops"`` -> a tuple of ``<slug>/<name>`` refs."""
    if not isinstance(value, str):
        return value
    refs = tuple(ref.strip() for ref in value.split(",") if ref.strip())
    for ref in refs:
        slug, _, name = ref.partition("/")
        if not slug or not name:
            raise ValueError(f"{ref!r} is not <block-type-slug>/<block-name> (slack-webhook/ops)")
    return refs


class PostflowSettings(BaseSettings):
    """All tunable settings; read from ``POSTFLOW_*`` environment variables and ``.env``.

    Raises:
        pydantic.ValidationError: when a value is out of bounds or of the wrong type.
    """

    model_config = SettingsConfigDict(
        env_prefix="POSTFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Watch folder and readiness
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

    # Recovery: retry queue and circuit breaker of the in-process sensor
    retry_base_delay_seconds: float = Field(
        30.0, gt=0, le=3600, description="Wait before the first retry of a transient failure."
    )
    retry_max_delay_seconds: float = Field(
        1800.0, gt=0, le=86400, description="Cap on the doubling wait between retries."
    )
    retry_give_up_after_seconds: float = Field(
        86400.0,
        gt=0,
        le=30 * 86400,
        description="Stop retrying a file this long after it first failed.",
    )
    circuit_failure_threshold: int = Field(
        5, ge=1, le=1000, description="Consecutive transient failures that open the breaker."
    )
    circuit_cool_down_seconds: float = Field(
        60.0, gt=0, le=3600, description="Wait after the breaker opens before one probe ingest."
    )
    circuit_max_cool_down_seconds: float = Field(
        900.0, gt=0, le=86400, description="Cap on the cool-down, which doubles per failed probe."
    )

    # Frame.io
    frameio_api_base_url: str = Field(
        "https://api.frame.io", description="Frame.io API base URL, without /v4."
    )
    frameio_ims_base_url: str = Field(
        "https://ims-na1.adobelogin.com", description="Adobe IMS base URL for tokens."
    )
    frameio_account_id: str = Field("", description="Frame.io v4 account id (UUID).")
    frameio_project_id: str = Field("", description="Frame.io v4 project id (UUID).")
    frameio_credentials_block: str = Field(
        "",
        description="Name of the FrameioCredentials Prefect block (empty: "
        "<installation>-frameio, postflow-frameio for the default installation).",
    )
    frameio_client_id: str = Field(
        "", description="IMS client id, used when no credentials block is saved."
    )
    frameio_client_secret: SecretStr = Field(
        SecretStr(""), description="IMS client secret, used when no credentials block is saved."
    )
    frameio_redirect_uri: str = Field(
        "https://localhost:8976/callback",
        description="OAuth Web App redirect URI, as registered in the Adobe Developer Console "
        "(Adobe requires HTTPS even for localhost). An https:// URI: `postflow login` asks you "
        "to paste the URL the browser lands on; http://127.0.0.1:PORT/...: it receives the "
        "code itself (accepted by the sandbox's IMS, not by Adobe's).",
    )
    frameio_timeout_seconds: float = Field(60.0, gt=0, description="Per-request timeout.")

    # Upload
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
        "fingerprint's frontier. An upload uses what it needs, up to part concurrency x its "
        "part size (each byte then read once); past the cap a block is read again for the hash.",
    )

    use_prefect_limits: bool = Field(
        False,
        description="Guard Frame.io calls and uploads with Prefect global concurrency limits "
        "(<installation>-frameio-api, <installation>-frameio-folder-create, "
        "<installation>-uploads; `postflow up` creates them).",
    )

    # Retries and caching of Prefect tasks
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

    # Notifications (block names only: the webhook URL is a secret and lives in the block)
    discord_block: str = Field(
        "",
        description="Name of the PostflowDiscord block (Discord webhook) for the per-file "
        "embeds and the weekly report; with no such block saved, nothing is sent (empty: "
        "<installation>-discord, postflow-discord for the default installation).",
    )
    alerts_block: str = Field(
        "",
        description="<block type slug>/<name> of the notification block the automations use "
        "(any Prefect notification block); empty: the Discord block, "
        "postflow-discord/<discord_block>.",
    )
    tuning_block: str = Field(
        "",
        description="PostflowTuning block overriding TTLs, retries, ... (empty: "
        "<installation>-tuning, postflow-tuning for the default installation).",
    )

    # Live metrics and alerts (the thresholds and cooldown are in the PostflowTuning block)
    metrics_window_seconds: float = Field(
        900.0,
        gt=0,
        description="Rolling window of the live figures the alerts compare (seconds).",
    )
    metrics_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the working process emits postflow.metrics and checks the "
        "alert thresholds (seconds).",
    )

    # State
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

    # Remote upload: Frame.io pulls the file through a tunnel from our Range server
    upload_strategy: Literal["auto", "multipart", "remote"] = Field(
        "multipart",
        description="multipart (default): our process sends the parts. auto/remote (opt-in): "
        "Frame.io pulls the file through a tunnel to our Range server when the tunnel is "
        "healthy and the file is under the remote-upload cap, else multipart; a failed remote "
        "upload falls back to multipart. With tunnel_mode=quick the file is reachable at a "
        "public URL (signed, expiring): for testing; use a named tunnel in production.",
    )
    remote_upload_max_bytes: int = Field(
        50 * 10**9, gt=0, description="Frame.io's remote-upload size cap (50 GB)."
    )
    remote_upload_timeout_seconds: float = Field(
        3600.0, gt=0, description="How long to wait for Frame.io to finish pulling a file."
    )
    range_server_host: str = Field("127.0.0.1", description="Interface of the Range server.")
    range_server_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="TCP port of the Range server; 0 picks a free one (quick tunnel). A named "
        "tunnel needs the fixed port of its Cloudflare ingress rule (docs/remote-upload.md).",
    )
    range_chunk_bytes: int = Field(
        1 << 20, ge=64 * 1024, description="Read size when serving (measured: 1 MiB >> 64 KiB)."
    )
    share_token_ttl_seconds: int = Field(
        4 * 3600, gt=0, description="Lifetime of a signed file URL."
    )
    share_secret: SecretStr | None = Field(
        None, description="HMAC key for file URLs; random per process when unset."
    )
    tunnel_mode: Literal["quick", "named", "off"] = Field(
        "quick",
        description="Only with upload_strategy auto/remote: cloudflared quick tunnel "
        "(account-less, public trycloudflare.com URL, for testing), named tunnel (token block, "
        "your hostname: the production choice), or none.",
    )
    tunnel_hostname: str = Field("", description="Public hostname of a named tunnel.")
    tunnel_token_block: str = Field(
        "",
        description="Prefect Secret block holding a named tunnel token (empty: "
        "<installation>-tunnel-token, postflow-tunnel-token for the default installation).",
    )
    cloudflared_path: str = Field("cloudflared", description="cloudflared executable.")
    tunnel_start_timeout_seconds: float = Field(
        60.0, gt=0, description="How long to wait for the tunnel to become ready."
    )
    tunnel_canary_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=600,
        description="Named tunnel: how long the start-up self-check keeps fetching a signed "
        "canary URL through the public hostname while nothing answers; then remote uploads are "
        "off for this process.",
    )

    # Several productions (config/productions.py)
    productions_file: Path | None = Field(
        None,
        description="TOML file declaring several productions, each a watch folder mapped to "
        "its own Frame.io project (docs/productions.md); unset: one production, "
        "from watch_path and frameio_project_id.",
    )
    production: str = Field(
        "", description="Name of the production these settings are for (set per production)."
    )
    discord_language: Literal["en", "fr"] = Field(
        "en", description="Language of the Discord messages: en (English) or fr (French)."
    )
    notify_blocks: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_block_refs)] = Field(
        (),
        description="Extra Prefect notification blocks that also get every message (per-file, "
        "alerts, weekly report) as text, comma-separated <block-type-slug>/<block-name>, e.g. "
        "slack-webhook/on-call,ms-teams-webhook/post; the Discord block keeps its embeds "
        "(empty: Discord only).",
    )

    # --- the review loop (tasks/review/): Frame.io webhooks back into Discord -----------------
    review_webhook_url: str = Field(
        "",
        description="Public URL Frame.io delivers review webhooks to (the receiver's "
        "/frameio/webhook); empty: https://<tunnel_hostname>/frameio/webhook with a named "
        "tunnel, else no webhook (the poll only).",
    )
    review_webhook_name: str = Field(
        "RL PostFlow review",
        description="Name of our Frame.io webhook (found again by name and URL; others are "
        "never touched).",
    )
    review_webhook_block: str = Field(
        "", description="Block keeping the webhook's id and signing secret."
    )
    review_receiver_host: str = Field("127.0.0.1", description="Interface of the receiver.")
    review_receiver_port: int = Field(
        8792, ge=0, le=65535, description="TCP port of the webhook receiver (0: any free one)."
    )
    review_poll_interval_seconds: float = Field(
        60.0, ge=0, description="Seconds between review polls (0: no poll)."
    )
    review_poll_files: int = Field(
        30, ge=1, le=1000, description="Files read per review poll (three calls each at most)."
    )

    @model_validator(mode="after")
    def _block_names_of_the_installation(self) -> PostflowSettings:
        """Unset block names become ``<installation>-<what>``: two installations on one
        Prefect server never load or overwrite each other's blocks."""
        for field, suffix in BLOCK_SUFFIXES.items():
            if not getattr(self, field):
                setattr(self, field, f"{self.installation}-{suffix}")
        if not self.alerts_block:
            self.alerts_block = f"{DISCORD_BLOCK_SLUG}/{self.discord_block}"
        return self

    @field_validator("tunnel_mode")
    @classmethod
    def _named_tunnel_has_a_fixed_port(cls, value: str, info: ValidationInfo) -> str:
        """A token tunnel forwards to the origin of its ingress rule in Cloudflare, not to
        whatever port this process happens to bind: the two must name the same port
        (``range_server_port`` is declared, so validated, before ``tunnel_mode``)."""
        if value == "named" and info.data.get("range_server_port") == 0:
            raise ValueError(
                "tunnel_mode=named forwards to the port of its ingress rule in Cloudflare: set "
                "POSTFLOW_RANGE_SERVER_PORT to it (the rule's service is "
                "http://127.0.0.1:<port>)"
            )
        return value

    @field_validator("dispatch_mode", mode="before")
    @classmethod
    def _older_dispatch_mode_name(cls, value: object) -> object:
        """``events`` was deployment mode's name while an event trigger created the runs."""
        return "deployment" if value == "events" else value

    @field_validator("ingest_heartbeat_seconds")
    @classmethod
    def _prefect_heartbeat_minimum(cls, value: int) -> int:
        if 0 < value < 30:
            raise ValueError("use 0 (no heartbeats) or 30 s or more (Prefect's minimum)")
        return value

    @field_validator("retry_max_delay_seconds")
    @classmethod
    def _max_delay_not_below_base(cls, value: float, info: ValidationInfo) -> float:
        """The doubling wait starts at the base delay and stops at the max: max < base would
        make the first retry wait longer than the cap (``retry_base_delay_seconds`` is
        declared, so validated, first)."""
        base = info.data.get("retry_base_delay_seconds")
        if base is not None and value < base:
            raise ValueError(
                f"below POSTFLOW_RETRY_BASE_DELAY_SECONDS={base:g}; make the max delay at least "
                "the base delay"
            )
        return value

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

    def frameio_ids_missing(self) -> list[str]:
        """Return the names of the Frame.io id settings that are still empty."""
        names = ("frameio_account_id", "frameio_project_id")
        return [f"POSTFLOW_{n.upper()}" for n in names if not getattr(self, n)]
