"""The block for values users tune at run time without redeploying.

``PostflowTuning`` holds cache TTLs per kind (projects 1800 s, structure 3600 s, nomenclature
7200 s), retry counts and backoff, upload concurrency, the Frame.io request rate and the alert
thresholds. Flows load it at the start of each run (edit it in the Prefect UI, and the next run
uses the new values). The Discord webhook has its own block, :mod:`blocks.discord`.
"""

from __future__ import annotations

import inspect

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl

from config.settings import PostflowSettings


class PostflowTuning(Block):
    """Run-time tuning of RL PostFlow; every field names its unit.

    Example:
        >>> PostflowTuning(structure_cache_ttl_seconds=600).save("postflow-tuning")
    """

    _block_type_name = "PostFlow Tuning"
    _block_type_slug = "postflow-tuning"
    _description = "Cache TTLs, retries, upload concurrency and alert thresholds of RL PostFlow."
    _logo_url = HttpUrl("https://github.com/PrefectHQ.png")
    _documentation_url = HttpUrl("https://docs.prefect.io/v3/develop/blocks")

    projects_cache_ttl_seconds: int = Field(1800, ge=0, description="Project look-ups.")
    structure_cache_ttl_seconds: int = Field(3600, ge=0, description="Resolved shot folder ids.")
    nomenclature_cache_ttl_seconds: int = Field(7200, ge=0, description="Parsed rule files.")
    task_retries: int = Field(4, ge=0, le=20, description="Retries of transient failures.")
    task_retry_backoff_seconds: float = Field(2.0, ge=0, description="First retry delay.")
    upload_part_concurrency: int = Field(4, ge=1, le=32, description="Part PUTs per file.")
    # The next three act only with POSTFLOW_USE_PREFECT_LIMITS=true (Prefect global concurrency
    # limits shared by every host); without it each process paces itself to Frame.io's
    # x-ratelimit-* headers and uploads as many files at once as it runs ingests.
    max_concurrent_uploads: int = Field(
        3, ge=1, le=64, description="Uploads at once, all hosts (with use_prefect_limits only)."
    )
    frameio_requests_per_second: float = Field(
        10.0, gt=0, description="API call rate, all hosts (with use_prefect_limits only)."
    )
    frameio_burst: int = Field(
        20, ge=1, description="API calls allowed in a burst (with use_prefect_limits only)."
    )
    alert_error_rate: float = Field(0.05, ge=0, le=1, description="Ingest error rate.")
    alert_api_latency_seconds: float = Field(5.0, gt=0, description="Mean API latency.")
    alert_cache_hit_rate_min: float = Field(0.70, ge=0, le=1, description="Structure cache.")
    alert_memory_mb: float = Field(500.0, gt=0, description="Worker memory.")
    alert_upload_failure_rate: float = Field(0.10, ge=0, le=1, description="Upload failures.")
    alert_min_api_calls: int = Field(
        20, ge=1, description="Frame.io calls in the window before the error-rate alert can fire."
    )
    alert_min_latency_calls: int = Field(
        5, ge=1, description="Timed calls in the window before the latency alert can fire."
    )
    alert_min_cache_lookups: int = Field(
        20, ge=1, description="Look-ups in the window before the cache-hit alert can fire."
    )
    alert_min_uploads: int = Field(
        10, ge=1, description="Uploads in the window before the upload-failure alert can fire."
    )
    alert_cooldown_seconds: float = Field(
        1800.0, ge=0, description="A live alert does not fire again for this long."
    )
    alert_failed_ingests_per_hour: int = Field(3, ge=1, description="Escalation threshold.")
    alert_ingest_running_seconds: int = Field(3600, ge=60, description="A stuck ingest.")
    alert_sensor_silence_seconds: int = Field(600, ge=60, description="A silent sensor.")

    def apply(self, settings: PostflowSettings) -> PostflowSettings:
        """Return ``settings`` with the fields this block overrides."""
        return settings.model_copy(
            update={
                "structure_cache_ttl_seconds": self.structure_cache_ttl_seconds,
                "projects_cache_ttl_seconds": self.projects_cache_ttl_seconds,
                "nomenclature_cache_ttl_seconds": self.nomenclature_cache_ttl_seconds,
                "task_retries": self.task_retries,
                "task_retry_backoff_seconds": self.task_retry_backoff_seconds,
                "upload_part_concurrency": self.upload_part_concurrency,
            }
        )


def load_block(block_type: type[Block], name: str) -> Block | None:
    """Load a saved block document, or None when there is none by that name (or no API).

    For synchronous callers (every caller here: sync flows, tasks and the CLI). Prefect's
    ``Block.load`` is an ``@async_dispatch`` function typed ``Self | Coroutine``: it hands back
    a coroutine instead of the block inside a running event loop or an async flow/task, where
    ``await block_type.aload(name)`` is the call to use.

    Raises:
        TypeError: called from an async context (``Block.load`` returned a coroutine).
    """
    try:
        block = block_type.load(name)
    except ValueError:
        return None
    if isinstance(block, Block):
        return block
    if inspect.iscoroutine(block):
        block.close()  # never awaited: close it rather than leak a "never awaited" warning
    raise TypeError(
        f"load_block({block_type.__name__}, {name!r}) needs a synchronous context; "
        "use `await Block.aload(name)` in async code"
    )


def effective_settings(base: PostflowSettings | None = None) -> PostflowSettings:
    """Settings for a run: environment/.env, overridden by the saved tuning block when it
    exists (the Discord block is loaded where a message is sent: :mod:`tasks.notify.discord`)."""
    settings = base or PostflowSettings()
    tuning = load_block(PostflowTuning, settings.tuning_block)
    if isinstance(tuning, PostflowTuning):
        settings = tuning.apply(settings)
    return settings
