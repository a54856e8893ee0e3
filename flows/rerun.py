"""Rerun failed shots: find failed or crashed ingest runs in Prefect and run them again.

The story: ask the Prefect API for ``ingest-file`` runs that ended Failed or Crashed since a
cutoff, keep the latest attempt per file, drop files that have landed since (a later
Completed run) or that no longer exist, optionally filter by scene/shot, and start each
again with the same parameters: through the ``ingest-file`` deployment when it exists (the
run appears under it in the UI), else in this process. Ingest is idempotent, so a rerun of a
file that did land after all uploads nothing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from config.productions import settings_for_path
from config.settings import PostflowSettings
from core.errors import ConfigurationError, NamingError
from core.since import parse_since
from flows.ingest import ingest_file
from tasks.observe.history import flow_runs_since
from tasks.structure.naming import Nomenclature, load_nomenclature

INGEST_DEPLOYMENT = "ingest-file/ingest-file"
RETRYABLE_STATES = frozenset({"FAILED", "CRASHED"})


def latest_outcomes(runs: list[Any]) -> dict[str, Any]:
    """Latest ingest run per ``path`` parameter (runs as returned by the Prefect client)."""
    latest: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r.start_time or r.created):
        path = (run.parameters or {}).get("path")
        if path:
            latest[path] = run
    return latest


def _has_deployment() -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(INGEST_DEPLOYMENT)
        except Exception:  # noqa: BLE001 - ObjectNotFound: no deployment, rerun in-process
            return False
    return True


def _rules(settings: PostflowSettings) -> Nomenclature:
    """The naming rules of ``settings``' production (the installation's when it has none of
    its own); parsed rule files are cached by :func:`load_nomenclature`."""
    return load_nomenclature(
        settings.nomenclature_path,
        settings.extensions,
        settings.ignore_patterns,
        settings.nomenclature_cache_ttl_seconds,
    )


def _same(wanted: str | None, value: str) -> bool:
    """A scene/shot filter: no filter, or the same code whatever its case (``sc05`` finds
    ``SC05``: folder names are upper-cased by the default rules)."""
    return not wanted or wanted.casefold() == value.casefold()


@flow(name="rerun-failed-shots", log_prints=False)
def rerun_failed_shots(
    since: str = "24h",
    scene: str | None = None,
    shot: str | None = None,
    dry_run: bool = False,
) -> list[dict[str, str]]:
    """Run failed/crashed ingests again.

    Args:
        since: how far back to look: ``"24h"``, ``"7d"``, an ISO date or epoch seconds.
        scene: only files of this scene (as parsed from the name, whatever its case).
        shot: only files of this shot (whatever its case).
        dry_run: list what would be rerun, start nothing.

    Each file is parsed with its production's rules and rerun into its production's project
    (the ingest picks both from the file's folder, :func:`config.productions.settings_for_path`).

    Returns:
        One row per file whose latest ingest failed: ``{"path", "scene", "shot", "action"}``
        (and ``"production"`` when productions are declared)
        where action is ``rerun (deployment)``, ``rerun: <state>``, ``would rerun`` or
        ``skipped: file missing``. Files that landed since, unreadable names and files outside
        the scene/shot filter are left out.
    """
    logger = get_run_logger()
    installation = PostflowSettings()
    cutoff = datetime.fromtimestamp(parse_since(since) or 0, tz=UTC) - timedelta(seconds=1)
    rows: list[dict[str, str]] = []
    use_deployment = not dry_run and _has_deployment()
    for path, run in latest_outcomes(flow_runs_since("ingest-file", cutoff)).items():
        if run.state is None or run.state.type.value not in RETRYABLE_STATES:
            continue
        try:
            settings = settings_for_path(installation, path)
        except ConfigurationError as exc:  # in no production's folder (any more)
            logger.warning("Not rerunning %s: %s", path, exc)
            continue
        try:
            parsed = _rules(settings).parse(path)
        except NamingError:
            continue  # an unreadable name: renaming the file, not a rerun, fixes it
        if not (_same(scene, parsed.scene) and _same(shot, parsed.shot)):
            continue
        row = {"path": path, "scene": parsed.scene, "shot": parsed.shot}
        if settings.production:
            row["production"] = settings.production
        if not os.path.exists(path):
            rows.append({**row, "action": "skipped: file missing"})
        elif dry_run:
            rows.append({**row, "action": "would rerun"})
        elif use_deployment:
            run_deployment(INGEST_DEPLOYMENT, parameters={"path": path}, timeout=0)
            rows.append({**row, "action": "rerun (deployment)"})
        else:
            state = ingest_file(path, return_state=True)
            rows.append({**row, "action": f"rerun: {state.name}"})
    logger.info("Rerun of failed shots since %s: %d file(s)", since, len(rows))
    if rows:
        create_table_artifact(table=rows, description=f"Failed shots since {since}")
    return rows
