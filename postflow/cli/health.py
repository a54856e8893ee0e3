"""``postflow health``: every check the pipeline depends on, each with its fix, and a score.

Required checks (any failure makes the installation unhealthy and ``postflow health`` exit 1):
settings, watch folder, Frame.io (reachable, token accepted), the Frame.io project and its root
folder, the Prefect API, disk space in the state directory. Recommended checks lower the
score only: deployments and automations present, the Discord block saved, cloudflared
installed (only when remote uploads use a tunnel).

The Frame.io probe builds a fresh SDK client (never the in-process cached project), so a
Frame.io that went away since the last ingest is seen as gone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from prefect.client.orchestration import get_client

from blocks.discord import PostflowDiscord
from blocks.frameio_project import FrameioProject
from config.sections.state import StateSettings
from config.sections.watch import WatchSettings
from config.settings import PostflowSettings
from core.errors import FrameioAuthError, FrameioNotFound, PostflowError
from postflow.serve.deployments import PREFECT_YAML
from postflow.setup.automations import AUTOMATIONS_YAML, automation_name
from tasks.clients import load_credentials

MIN_FREE_BYTES = 1_000_000_000  # 1 GB in the state directory
PROBE_TIMEOUT_SECONDS = 10.0
REQUIRED_WEIGHT, RECOMMENDED_WEIGHT = 14, 4


@dataclass(frozen=True)
class Check:
    """One health check's outcome.

    Attributes:
        name: what was checked, e.g. ``"Frame.io reachable"``.
        ok: passed.
        detail: what was found.
        fix: what to do when it failed ("" when ok).
        required: a failure makes the installation unhealthy (else it lowers the score only).
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def weight(self) -> int:
        """Points of this check in the 0-100 score."""
        return REQUIRED_WEIGHT if self.required else RECOMMENDED_WEIGHT


def score(checks: list[Check]) -> int:
    """Health score 0-100: the weighted share of checks that passed."""
    total = sum(c.weight for c in checks)
    return round(100 * sum(c.weight for c in checks if c.ok) / total) if total else 0


def healthy(checks: list[Check]) -> bool:
    """True when every required check passed."""
    return all(c.ok for c in checks if c.required)


def _fs_type(path: Path) -> str:
    """Filesystem type of the mount holding ``path`` (Linux /proc/mounts; "" elsewhere)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    best, kind = "", ""
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and target.startswith(fields[1]) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return kind


def check_watch_path(settings: WatchSettings) -> Check:
    """The watch folder exists and is listable; native events on FUSE (LucidLink) fail."""
    name, path = "Watch folder readable", Path(settings.watch_path)
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        return Check(
            name,
            False,
            f"{path} is not a readable folder",
            "mount the filespace or set POSTFLOW_WATCH_PATH",
        )
    fs = _fs_type(path)
    if not settings.use_polling_observer and "fuse" in fs:
        return Check(
            name,
            False,
            f"{path} is on {fs} with native events (misses remote writes)",
            "set POSTFLOW_USE_POLLING_OBSERVER=true",
        )
    mode = "polling" if settings.use_polling_observer else "native events"
    return Check(name, True, f"{path} ({fs or 'unknown fs'}, {mode})")


def check_frameio(settings: PostflowSettings) -> list[Check]:
    """Two checks: Frame.io reachable with the token accepted, and the project's root folder."""
    reach, proj = "Frame.io reachable, token valid", "Frame.io project and root folder"
    skipped = Check(proj, False, "not checked: Frame.io not reachable", "fix the check above")
    try:
        credentials = load_credentials(settings)
        client = credentials.get_client(timeout_seconds=PROBE_TIMEOUT_SECONDS, max_retries=0)
        project = FrameioProject(
            client,
            settings.frameio_account_id,
            settings.frameio_project_id,
            max_retry_after_seconds=5.0,
            rate_limit_retries=1,
        )
        root = project.root_folder_id
    except FrameioNotFound as exc:
        return [
            Check(reach, True, f"{settings.frameio_api_base_url} answered"),
            Check(
                proj,
                False,
                str(exc),
                "check POSTFLOW_FRAMEIO_ACCOUNT_ID and POSTFLOW_FRAMEIO_PROJECT_ID",
            ),
        ]
    except FrameioAuthError as exc:
        return [
            Check(reach, False, str(exc), "renew the credentials (postflow setup / login)"),
            skipped,
        ]
    except Exception as exc:  # noqa: BLE001 - any failure is a finding, not a crash
        return [
            Check(
                reach,
                False,
                f"{settings.frameio_api_base_url}: {exc}",
                "check the network, POSTFLOW_FRAMEIO_API_BASE_URL and credentials",
            ),
            skipped,
        ]
    ok = Check(reach, True, f"{settings.frameio_api_base_url} answered, token accepted")
    try:
        children = project.list_children(root)
    except Exception as exc:  # noqa: BLE001
        return [ok, Check(proj, False, f"root folder {root}: {exc}", "check project access")]
    name = getattr(project.project, "name", settings.frameio_project_id)
    return [ok, Check(proj, True, f"{name}: root folder {root} ({len(children)} items)")]


def _names_in(path: Path, key: str) -> set[str]:
    return {d["name"] for d in (yaml.safe_load(path.read_text()) or {}).get(key, [])}


def check_prefect(installation: str = "postflow") -> list[Check]:
    """The Prefect API answers; the deployments of prefect.yaml and ``installation``'s
    automations of automations.yaml exist there (recommended)."""
    name = "Prefect API reachable"
    try:
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
            if error is not None:
                raise error
            url = str(client.api_url)
            deployments = {d.name for d in client.read_deployments()}
            automations = {a.name for a in client.read_automations()}
    except Exception as exc:  # noqa: BLE001
        return [
            Check(
                name,
                False,
                f"{type(exc).__name__}: {exc}",
                "start it (postflow up) or set PREFECT_API_URL",
            )
        ]
    checks = [Check(name, True, url)]
    for label, wanted, found, fix in (
        (
            "Deployments present",
            _names_in(PREFECT_YAML, "deployments"),
            deployments,
            "postflow up (or prefect deploy --all)",
        ),
        (
            "Automations present",
            {automation_name(n, installation) for n in _names_in(AUTOMATIONS_YAML, "automations")},
            automations,
            "postflow automations apply",
        ),
    ):
        missing = sorted(wanted - found)
        detail = f"missing: {', '.join(missing)}" if missing else f"{len(wanted)} found"
        checks.append(Check(label, not missing, detail, fix if missing else "", required=False))
    return checks


def check_disk(settings: StateSettings) -> Check:
    """At least 1 GB free where the state directory lives (ledger, reports, cache records)."""
    path = Path(settings.state_dir).resolve()
    while not path.exists():
        path = path.parent
    free = shutil.disk_usage(path).free
    detail = f"{free / 1e9:.1f} GB free at {path} (need 1 GB)"
    fix = "free space or move POSTFLOW_STATE_DIR"
    return Check("Disk space (state dir)", free >= MIN_FREE_BYTES, detail, fix)


def check_discord(block_name: str) -> Check:
    """The Discord block is saved (without it no Discord message is sent, and the automations'
    alerts have nowhere to go unless ``POSTFLOW_ALERTS_BLOCK`` names another block)."""
    name = "Discord block saved"
    fix = "set POSTFLOW_DISCORD_WEBHOOK_URL, then run postflow setup"
    try:
        PostflowDiscord.load(block_name)
    except ValueError:
        detail = f"no block {block_name!r}: no Discord messages"
        return Check(name, False, detail, fix, required=False)
    except Exception as exc:  # noqa: BLE001 - no Prefect API (checked on its own above)
        return Check(name, False, f"cannot read it: {type(exc).__name__}", fix, required=False)
    return Check(name, True, f"block {block_name!r}", required=False)


def check_recovery(settings: PostflowSettings) -> Check:
    """The sensor's circuit breaker is closed and no file has been given up on
    (:mod:`tasks.sensor.recovery`: open while Frame.io keeps failing; retries are automatic)."""
    from blocks.store import open_store
    from config.productions import production_settings
    from tasks.recovery.circuit import read_circuit_state
    from tasks.recovery.retry_queue import read_retry_queue

    details, ok = [], True
    for production in production_settings(settings):
        try:
            store = open_store(production)
            circuit, queue = read_circuit_state(store), read_retry_queue(store)
        except OSError as exc:  # StateStoreError: unreachable, unreadable
            fix = "check POSTFLOW_STATE_URL (or POSTFLOW_STATE_DIR) and that the database is up"
            return Check("Frame.io circuit and retries", False, str(exc), fix, required=False)
        detail = (
            f"circuit {circuit['state']}, {queue['queued']} file(s) waiting to retry, "
            f"{queue['gave_up']} given up"
        )
        if circuit.get("last_error"):
            detail += f" (last error: {circuit['last_error']})"
        details.append(f"{production.production}: {detail}" if production.production else detail)
        ok = ok and circuit["state"] == "closed" and queue["gave_up"] == 0
    detail = "; ".join(details)
    fix = "check Frame.io's status; given-up files: postflow ingest PATH"
    return Check("Frame.io circuit and retries", ok, detail, "" if ok else fix, required=False)


def check_optional(settings: PostflowSettings) -> list[Check]:
    """Discord block saved; cloudflared installed when a tunnel is used."""
    discord = check_discord(settings.discord_block)
    if settings.tunnel_mode == "off" or settings.upload_strategy == "multipart":
        tunnel = Check(
            "cloudflared (optional)", True, "not needed (no remote uploads)", required=False
        )
    else:
        found = shutil.which(settings.cloudflared_path)
        tunnel = Check(
            "cloudflared (optional)",
            bool(found),
            found or "not found: multipart only",
            "install cloudflared for remote uploads",
            required=False,
        )
    return [discord, tunnel]


def run_checks(load_settings: Callable[[], PostflowSettings]) -> list[Check]:
    """Run every check in order; settings that do not validate stop the dependent ones."""
    try:
        settings = load_settings()
    except (ValueError, PostflowError) as exc:
        return [
            Check(
                "Settings valid",
                False,
                str(exc).splitlines()[0],
                "fix the POSTFLOW_* variables or .env",
            )
        ]
    missing = settings.frameio_ids_missing()
    checks = [
        Check(
            "Settings valid",
            not missing,
            f"missing {', '.join(missing)}" if missing else "POSTFLOW_* settings load",
            "set them (postflow setup)" if missing else "",
        )
    ]
    checks.append(check_watch_path(settings))
    checks += check_frameio(settings)
    checks += check_prefect(settings.installation)
    checks.append(check_disk(settings))
    checks.append(check_recovery(settings))
    checks += check_optional(settings)
    return checks
