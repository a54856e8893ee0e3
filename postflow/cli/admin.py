"""Admin commands of ``postflow``: health, validate, structure, cache, test-upload, status, report.

Registered on the main app by :func:`register` (``postflow/cli/main.py``); ``test-upload`` lives in
``postflow/cli/upload_check.py``. Each command prints with rich and exits non-zero when what it
checks is wrong: ``health`` exits 1 when a required check fails and names it; ``validate``
exits 1 on any invalid setting, rule or block.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from core.errors import PostflowError
from postflow.cli.cache import cache_app
from postflow.cli.json_out import json_option, print_json
from postflow.cli.projects import projects
from postflow.cli.settings_doc import settings
from postflow.cli.terminal import (
    check_new_folder,
    check_since,
    console,
    err,
    load_settings,
    with_prefect_api,
)
from postflow.cli.upload_check import upload_test

if TYPE_CHECKING:
    from config.sections.watch import WatchSettings
    from config.settings import PostflowSettings


def _settings_with_blocks() -> PostflowSettings:
    """Settings overridden by the saved blocks, or the plain settings when the API is down."""
    from blocks.settings import effective_settings
    from config.settings import PostflowSettings

    base = PostflowSettings()
    try:
        return effective_settings(base)
    except Exception:  # noqa: BLE001 - no Prefect API: the health check reports it
        return base


def health(
    as_json: bool = json_option("One JSON object: score and checks."),
) -> None:
    """Check everything RL PostFlow depends on; print a 0-100 score and each check's fix.

    Exit code 1 when a required check fails (settings, watch folder, Frame.io, project,
    Prefect API, disk space); recommended ones (deployments, automations, Discord,
    cloudflared) only lower the score.
    """
    from dataclasses import asdict

    from postflow.cli.health import run_checks, score

    load_settings()  # an invalid setting is one line and exit 2, as in every command
    checks = run_checks(_settings_with_blocks)
    failed = [c.name for c in checks if c.required and not c.ok]
    if as_json:
        document = {
            "score": score(checks),
            "healthy": not failed,
            "checks": [asdict(c) for c in checks],
        }
        print_json(document)
        raise typer.Exit(1 if failed else 0)
    table = Table(title="RL PostFlow health")
    for column in ("", "check", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        bad = "[red]✗[/red]" if check.required else "[yellow]![/yellow]"
        mark = "[green]✓[/green]" if check.ok else bad
        table.add_row(mark, check.name, escape(check.detail), escape(check.fix))
    console.print(table)
    console.print(f"Score: [bold]{score(checks)}/100[/bold]")
    if failed:
        console.print(f"[red]Unhealthy:[/red] {', '.join(failed)}")
        raise typer.Exit(1)
    console.print("[green]Healthy[/green]")


def _rule_rows(settings: WatchSettings) -> list[tuple[bool, str, str]]:
    from tasks.structure.naming import load_nomenclature

    try:
        rules = load_nomenclature(
            settings.nomenclature_path, settings.extensions, settings.ignore_patterns
        )
    except PostflowError as exc:
        return [(False, "nomenclature", str(exc))]
    rows = []
    for rule in rules.rules:
        if not rule.examples:
            rows.append((False, f"rule {rule.name}", "compiles; no example to check it with"))
            continue
        parsed = [rules.parse(example) for example in rule.examples]  # checked at load
        shown = "; ".join(f"{p.file} → {'/'.join(p.folder_path)}" for p in parsed)
        rows.append((True, f"rule {rule.name}", f"compiles; examples parse: {shown}"))
    return rows


def _block_rows(settings: PostflowSettings) -> list[tuple[bool, str, str]]:
    from blocks.discord import PostflowDiscord
    from blocks.frameio import FrameioCredentials
    from blocks.settings import PostflowTuning

    secret = settings.frameio_client_secret.get_secret_value()
    env_creds = bool(settings.frameio_client_id and secret)
    wanted = (
        (
            FrameioCredentials,
            settings.frameio_credentials_block,
            "absent: POSTFLOW_FRAMEIO_CLIENT_ID/SECRET used" if env_creds else None,
        ),
        (PostflowTuning, settings.tuning_block, "absent: defaults used"),
        (PostflowDiscord, settings.discord_block, "absent: no Discord messages"),
    )
    rows = []
    for block_type, name, when_absent in wanted:
        label = f"block {name}"
        try:
            block_type.load(name)
            rows.append((True, label, f"{block_type.__name__} loads"))
        except ValueError:
            rows.append((when_absent is not None, label, when_absent or "absent and no fallback"))
        except Exception as exc:  # noqa: BLE001 - invalid document or no API
            rows.append((False, label, f"{type(exc).__name__}: {exc}"))
    return rows


def _watch_rows(settings: PostflowSettings) -> list[tuple[bool, str, str]]:
    """The watch folder's row (none with a productions file: each production has its own)."""
    if settings.productions_file is not None:
        return []
    path = settings.watch_path
    if path.is_dir():
        return [(True, "watch folder", f"POSTFLOW_WATCH_PATH={path} is a folder")]
    what = "is a file, not a folder" if path.exists() else "does not exist"
    return [(False, "watch folder", f"POSTFLOW_WATCH_PATH={path} {what}; change it")]


def _production_rows(settings: PostflowSettings) -> list[tuple[bool, str, str]]:
    """One row per declared production (none without a productions file)."""
    from config.productions import production_settings
    from core.errors import ConfigurationError

    if settings.productions_file is None:
        return []
    try:
        productions = production_settings(settings)
    except ConfigurationError as exc:
        return [(False, "productions", str(exc))]
    return [
        (
            p.watch_path.is_dir(),
            f"production {p.production}",
            f"{p.watch_path} -> project {p.frameio_project_id}"
            + ("" if p.watch_path.is_dir() else " (watch folder missing)"),
        )
        for p in productions
    ]


def validate(
    as_json: bool = json_option(
        "One JSON object: valid (true/false) and the checks, each with ok, item and detail."
    ),
) -> None:
    """Validate settings, nomenclature rules and the saved blocks.

    Each rule must compile and have an example that parses with it. Exit code 1 when
    anything is invalid.
    """
    from config.settings import PostflowSettings

    try:
        settings = PostflowSettings()
        rows = [(True, "settings", "POSTFLOW_* settings load")]
    except ValueError as exc:
        if as_json:
            print_json(_validation([(False, "settings", str(exc))]))
        else:
            console.print(f"[red]✗ settings[/red]: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    missing = settings.frameio_ids_missing()
    if missing and settings.productions_file is None:
        rows = [(False, "settings", f"missing {', '.join(missing)}")]
    rows += _watch_rows(settings) + _production_rows(settings)
    rows += _rule_rows(settings) + _block_rows(settings)
    if as_json:
        print_json(_validation(rows))
        raise typer.Exit(0 if all(ok for ok, _, _ in rows) else 1)
    table = Table(title="RL PostFlow validation")
    for column in ("", "item", "result"):
        table.add_column(column, overflow="fold")
    for ok, item, detail in rows:
        table.add_row("[green]✓[/green]" if ok else "[red]✗[/red]", escape(item), escape(detail))
    console.print(table)
    if not all(ok for ok, _, _ in rows):
        raise typer.Exit(1)


def _validation(rows: list[tuple[bool, str, str]]) -> dict[str, Any]:
    """The ``validate --json`` document of ``rows``."""
    checks = [{"ok": ok, "item": item, "detail": detail} for ok, item, detail in rows]
    return {"valid": all(ok for ok, _, _ in rows), "checks": checks}


def structure(
    project_id: str | None = typer.Option(None, help="Frame.io project id (default: settings)."),
    depth: int = typer.Option(4, min=1, max=8, help="Levels below the root folder to show."),
    as_json: bool = json_option("One JSON object: the project and its items with their depth."),
) -> None:
    """Show the Frame.io project tree: scenes, shots, version stacks and versions."""
    from dataclasses import asdict

    from core.units import human_bytes
    from tasks.clients import open_project

    settings = load_settings()
    if project_id:
        settings = settings.model_copy(update={"frameio_project_id": project_id})
    project = open_project(settings)
    items = project.walk(max_depth=depth)
    if as_json:
        document = {
            "project": {"id": project.project_id, "name": project.project.name},
            "items": [{"level": level, **asdict(asset)} for level, asset in items],
        }
        print_json(document)
        return
    tree = Tree(f"[bold]{escape(project.project.name)}[/bold] ({project.project_id})")
    parents: list[Tree] = [tree]
    for level, asset in items:
        del parents[level + 1 :]
        if asset.type == "folder":
            label = f"[bold blue]{escape(asset.name)}/[/bold blue]"
        elif asset.type == "version_stack":
            label = f"[magenta]{escape(asset.name)}[/magenta] (version stack)"
        else:
            size = human_bytes(asset.file_size or 0)
            label = f"{escape(asset.name)} [dim]{size} · {asset.status or '?'}[/dim]"
        parents.append(parents[level].add(label))
    console.print(tree)


def status(
    since: str = typer.Option(
        "24h", callback=check_since, help="Window: 24h, 7d, an ISO date or epoch seconds."
    ),
    as_json: bool = json_option("One JSON object: counts, circuit breaker, retry queue."),
) -> None:
    """Files pending / running / failed / done in the window, from the Prefect API.

    Counted by each file's latest ingest run: a failed file that landed on a rerun is done.
    """
    from core.since import parse_since
    from tasks.observe.history import flow_runs_since
    from tasks.observe.metrics import status_counts
    from tasks.observe.telemetry import INGEST_FLOW, run_row, waiting_ingest_runs

    start = datetime.fromtimestamp(parse_since(since) or 0, UTC) - timedelta(seconds=1)
    runs = {str(r.id): r for r in flow_runs_since(INGEST_FLOW, start)}  # no API: with_prefect_api
    runs.update({str(r.id): r for r in waiting_ingest_runs()})
    counts = status_counts([run_row(r) for r in runs.values()])
    if as_json:
        print_json({"since": since, "counts": counts, **_recovery()})
        return
    table = Table(title=f"Ingests since {since}")
    for column in ("pending", "running", "failed", "done", "cancelled"):
        table.add_column(column, justify="right")
    table.add_row(*(str(counts[c]) for c in ("pending", "running", "failed", "done", "cancelled")))
    console.print(table)
    _print_recovery()


def _recovery() -> dict[str, Any]:
    """``{"circuit": ..., "retry_queue": ...}``: the sensor's breaker and retry queue; with
    several productions, ``{"productions": {name: {"circuit": ..., "retry_queue": ...}}}``."""
    from config.productions import production_settings

    productions = production_settings(load_settings())
    if len(productions) == 1 and not productions[0].production:
        return _recovery_of(productions[0])
    return {"productions": {p.production: _recovery_of(p) for p in productions}}


def _recovery_of(settings: PostflowSettings) -> dict[str, Any]:
    from blocks.store import open_store
    from tasks.recovery.circuit import read_circuit_state
    from tasks.recovery.retry_queue import read_retry_queue

    store = open_store(settings)
    return {"circuit": read_circuit_state(store), "retry_queue": read_retry_queue(store)}


def _print_recovery() -> None:
    """The sensor's circuit breaker and retry queue (state dir), under the status table; one
    line per production when there are several."""
    recovery = _recovery()
    if "productions" not in recovery:
        _print_recovery_line(recovery, "")
        return
    for name, state in recovery["productions"].items():
        _print_recovery_line(state, f"[{name}] ")


def _print_recovery_line(recovery: dict[str, Any], prefix: str) -> None:
    circuit, queue = recovery["circuit"], recovery["retry_queue"]
    line = f"{prefix}Frame.io circuit: {circuit['state']}; retry queue: {queue['queued']} waiting"
    if queue["next_attempt_at"] is not None:
        wait = max(0.0, queue["next_attempt_at"] - datetime.now(UTC).timestamp())
        line += f" (next in {wait:.0f} s)"
    line += f", {queue['gave_up']} given up"
    console.print(line)
    for path in queue["gave_up_paths"]:
        shown = path.encode("utf-8", "backslashreplace").decode()
        console.print(f"  given up: {escape(shown)} (postflow ingest it when Frame.io is back)")


def report(
    since: str = typer.Option(
        "7d", callback=check_since, help="Window: 7d, 24h, an ISO date or epoch seconds."
    ),
    out: Path | None = typer.Option(
        None,
        callback=check_new_folder,
        help="Reports directory (default: <state dir>/reports).",
    ),
    as_json: bool = json_option(
        "One JSON object: since, the summary figures, recommendations, and the paths of the CSV, "
        "chart and manifest written."
    ),
) -> None:
    """Run the optimisation report now: figures, recommendations, CSV, PNG, Discord summary."""
    from flows.report import weekly_optimisation_report

    state = weekly_optimisation_report(
        since=since, out_dir=str(out) if out else None, return_state=True
    )
    if not state.is_completed():
        err.print(f"[red]Report failed:[/red] {escape(str(state.message))}")
        raise typer.Exit(1)
    result = state.result()
    if as_json:
        print_json({"since": since, **result})
        return
    from tasks.observe.report_outputs import summary_rows

    table = Table(title=f"Optimisation report (since {since})", show_header=False)
    for row in summary_rows(result["summary"]):
        table.add_row(row["figure"], row["value"])
    console.print(table)
    for message in result["recommendations"]:
        console.print(f"• {message}", highlight=False)
    console.print(f"CSV: {result['csv']}\nChart: {result['chart']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the admin commands to the ``postflow`` app."""
    app.command()(with_prefect_api(health))
    app.command()(with_prefect_api(validate))
    app.command()(with_prefect_api(structure))
    app.add_typer(cache_app, name="cache")
    app.command()(with_prefect_api(projects))  # postflow/cli/projects.py
    app.command()(settings)  # postflow/cli/settings_doc.py
    app.command("test-upload")(with_prefect_api(upload_test))  # postflow/cli/upload_check.py
    app.command()(with_prefect_api(status))
    app.command()(with_prefect_api(report))
