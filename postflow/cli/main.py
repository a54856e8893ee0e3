"""The ``postflow`` command: nomenclature, ingest, watch, setup, login, automations, rerun.

The long-running commands (up, sandbox, share, demo) live in ``postflow/cli/serving.py``, the admin
ones in ``postflow/cli/admin.py`` and ``postflow/cli/upload_check.py``; all register on :data:`app`.

Settings come from ``POSTFLOW_*`` environment variables or a ``.env`` file (see
``config/settings.py``); options given here override them for this run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import NamingError
from postflow.cli.account import login, setup
from postflow.cli.json_out import json_option, print_json, print_json_lines
from postflow.cli.terminal import (
    PostflowGroup,
    check_since,
    command_prefect_api,
    console,
    err,
    load_settings,
    require_folder,
    warn_if_public,
    with_prefect_api,
)

if TYPE_CHECKING:
    from tasks.structure.naming import Nomenclature

# Heavy modules (Prefect, pandas, the Frame.io SDK, pydantic-settings, flows, tasks, blocks) are
# imported inside the commands that use them: `postflow --help` loads typer and rich only.

app = typer.Typer(
    cls=PostflowGroup,
    help="RL PostFlow: ingest renders from a LucidLink BY_SHOT watch folder into Frame.io v4, "
    "orchestrated by Prefect. Settings: POSTFLOW_* environment variables or .env.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    """``--version``: print the installed rl-postflow version and exit."""
    if show:
        try:
            number = version("rl-postflow")
        except PackageNotFoundError:  # a source tree that was never pip-installed
            number = "unknown (not installed)"
        typer.echo(f"rl-postflow {number}")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    """RL PostFlow: ingest renders from a LucidLink BY_SHOT watch folder into Frame.io v4,
    orchestrated by Prefect. Settings: POSTFLOW_* environment variables or .env."""


def _override(**values: object) -> None:
    """Pass CLI overrides to the flows, which read settings from the environment."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"POSTFLOW_{name.upper()}"] = str(value)


@app.command()
def nomenclature(
    names: list[str] = typer.Argument(..., help="File names (or paths) to parse."),
    as_json: bool = json_option(
        "One JSON object per line, per name: its fields, folder and rule, or why it is "
        "ignored, or the error."
    ),
) -> None:
    """Show how file names map to scene, shot, version and Frame.io folder.

    Exit code 1 if any name is an error (matches no rule, or unsupported extension).
    Junk and partial files (.DS_Store, ._*, *.part, ...) are reported as ignored.
    """
    from tasks.structure.naming import load_nomenclature, shown_name

    settings = load_settings()
    rules = load_nomenclature(
        settings.nomenclature_path, settings.extensions, settings.ignore_patterns
    )
    failed = False
    for name in names:
        shown = shown_name(name)
        if shown != os.path.basename(name):  # not UTF-8: no rule can read it, and it must print
            failed = True
            reason = "the name is not valid UTF-8; rename it (e.g. on the machine that wrote it)"
            record: dict[str, object] = {"file": shown, "error": reason}
            line = f"[red]✗ {escape(shown)}[/red]: {reason}"
        else:
            record, line, bad = _classified(rules, name)
            failed = failed or bad
        if as_json:
            print_json(record)
        else:
            console.print(line, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if failed else 0)


def _classified(rules: Nomenclature, name: str) -> tuple[dict[str, object], str, bool]:
    """``(JSON record, rich line, is an error)`` of one name for ``postflow nomenclature``."""
    from tasks.structure.naming import Ignored

    try:
        outcome = rules.classify(name)
    except NamingError as exc:
        record: dict[str, object] = {"file": exc.file, "error": str(exc)}
        tried = ", ".join(exc.rules_tried)
        line = f"[red]✗ {escape(exc.file)}[/red]: {escape(exc.reason)} (rules tried: {tried})"
        return record, line, True
    if isinstance(outcome, Ignored):
        line = f"[dim]- {escape(outcome.file)}: ignored ({escape(outcome.reason)})[/dim]"
        return {"file": outcome.file, "ignored": outcome.reason}, line, False
    line = (
        f"[green]✓ {escape(outcome.file)}[/green] → scene [bold]{escape(outcome.scene)}[/bold] · "
        f"shot [bold]{escape(outcome.shot)}[/bold] · V{outcome.version:03d} → "
        f"{escape('/'.join(outcome.folder_path))} [dim]({outcome.rule})[/dim]"
    )
    return outcome.as_dict(), line, False


@contextlib.contextmanager
def _progress_bar(path: str, size_bytes: int, from_bytes: int) -> Iterator[None]:
    """A rich progress bar (stderr) of the multipart upload of ``path`` when it is at least
    ``from_bytes`` (``upload_progress_log_bytes``, 100 MB) long; nothing for smaller files."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from tasks.upload.run import progress_for

    if size_bytes < from_bytes:
        yield
        return
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task(Path(path).name, total=size_bytes)
        with progress_for(path, lambda sent: progress.advance(bar, sent)):
            yield


@app.command()
def ingest(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to ingest."),
    as_json: bool = json_option(
        "One JSON object: the file's ingest record (scene, shot, version, folder, upload figures, "
        "view URL)."
    ),
) -> None:
    """Ingest one file now: parse its name, ensure its shot folder, upload, notify Discord.

    Idempotent: a file already in its shot folder (same name and size) is not uploaded again.
    Exit code 1 when the ingest fails.
    """
    from flows.ingest import ingest_file, ingest_run_settings
    from postflow.serve.prefect_server import exit_on_sigterm
    from tasks.sensor.watch_folder import refusal_reason
    from tasks.upload.source import empty_reason

    settings = load_settings()
    refused = refusal_reason(str(path), path.parent, settings.allow_inner_symlinks)
    refused = refused or empty_reason(str(path))
    if refused:
        err.print(f"[red]Not ingesting:[/red] {escape(refused)}")
        raise typer.Exit(2)
    warn_if_public(settings)
    exit_on_sigterm()
    resolved = str(path.resolve())
    with (
        command_prefect_api(settings),
        _progress_bar(resolved, path.stat().st_size, settings.upload_progress_log_bytes),
        ingest_run_settings(),
    ):
        state = ingest_file(resolved, return_state=True)
    if not state.is_completed():
        err.print(f"[red]Ingest failed:[/red] {escape(str(state.message))}")
        raise typer.Exit(1)
    result = state.result()
    if as_json:
        print_json(result)
        return
    table = Table(title=escape(f"Ingested {result['file']}"), show_header=False)
    for key in (
        "scene",
        "shot",
        "version",
        "strategy",
        "size_bytes",
        "seconds",
        "megabytes_per_second",
        "fingerprint",
        "view_url",
    ):
        table.add_row(key, escape(str(result.get(key))))
    console.print(table)


@app.command()
def watch(
    watch_path: Path | None = typer.Option(
        None, exists=True, file_okay=False, help="Watch folder (POSTFLOW_WATCH_PATH)."
    ),
    since: str | None = typer.Option(
        None,
        callback=check_since,
        help="Startup scan cutoff: 12h, 7d, an ISO date or epoch seconds.",
    ),
    settle_seconds: float | None = typer.Option(
        None, min=0, max=86400, help="Unchanged time before ready."
    ),
    poll_interval_seconds: float | None = typer.Option(
        None, min=0.01, max=3600, help="Seconds between polls."
    ),
    native_events: bool = typer.Option(
        False, "--native-events", help="Use inotify/FSEvents instead of polling (not on FUSE)."
    ),
) -> None:
    """Watch BY_SHOT and ingest each complete file once (Ctrl-C to stop).

    Polls by default: on LucidLink, files written by other machines fire no file events.
    A ledger in the state directory makes each file version go out exactly once.
    """
    from config.productions import production_settings
    from flows.sensor import watch_by_shot
    from postflow.serve.prefect_server import exit_on_sigterm
    from tasks.structure.naming import load_nomenclature

    _override(
        watch_path=watch_path,
        settle_seconds=settle_seconds,
        poll_interval_seconds=poll_interval_seconds,
        use_polling_observer=False if native_events else None,
    )
    settings = load_settings()
    for production in [settings] if watch_path else production_settings(settings):
        setting = "--watch-path" if watch_path else "POSTFLOW_WATCH_PATH"
        if production.production:
            setting = f"{production.production}.watch_path in {settings.productions_file}"
        require_folder(production.watch_path, setting)
        load_nomenclature(
            production.nomenclature_path, production.extensions, production.ignore_patterns
        )
    warn_if_public(settings)
    exit_on_sigterm()  # SIGTERM unwinds like Ctrl-C: the temporary server is stopped
    try:
        with command_prefect_api(settings):
            watch_by_shot(since=since)
    except KeyboardInterrupt:
        err.print("Stopped; running ingests were allowed to finish.")


app.command()(setup)  # postflow/cli/account.py
app.command()(login)


automations_app = typer.Typer(help="Prefect automations (alerts, sensor restart).")
app.add_typer(automations_app, name="automations")


@automations_app.command("apply")
@with_prefect_api
def automations_apply(
    as_json: bool = json_option("One JSON object: the installation and the automations applied."),
) -> None:
    """Create or replace this installation's automations of automations.yaml (idempotent).

    Named <installation>-... and tagged postflow-installation:<installation>: only those
    are replaced; other installations' automations and any other are left alone.

    Alerts go to the notification block named by POSTFLOW_ALERTS_BLOCK (the Discord
    block, postflow-discord/<POSTFLOW_DISCORD_BLOCK>, by default) and to each block of
    POSTFLOW_NOTIFY_BLOCKS; thresholds come from the tuning block.
    """
    from blocks.settings import PostflowTuning, load_block
    from postflow.setup.automations import apply_automations

    settings = load_settings()
    tuning = load_block(PostflowTuning, settings.tuning_block)
    names = apply_automations(
        settings.alerts_block,
        tuning,  # type: ignore[arg-type]
        installation=settings.installation,
        extra_blocks=settings.notify_blocks,
        language=settings.discord_language,
    )
    if as_json:
        print_json({"installation": settings.installation, "applied": names})
        return
    for name in names:
        console.print(f"  applied {name}")


@app.command()
@with_prefect_api
def rerun(
    since: str = typer.Option(
        "24h", callback=check_since, help="How far back: 12h, 7d, an ISO date, epoch seconds."
    ),
    scene: str | None = typer.Option(None, help="Only this scene (any case: sc05 = SC05)."),
    shot: str | None = typer.Option(None, help="Only this shot (any case)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List, start nothing."),
    as_json: bool = json_option(
        "One JSON object per line, per file: path, scene, shot, production when set, action "
        "('would rerun' with --dry-run); nothing when there is none."
    ),
) -> None:
    """Run failed or crashed ingests again (files that landed since are skipped).

    Each file is parsed with its production's rules and goes to its production's project.
    Uses the ingest-file deployment when it exists, else ingests here. Ingest is idempotent,
    so rerunning is always safe.
    """
    from flows.rerun import rerun_failed_shots

    rows = rerun_failed_shots(since=since, scene=scene, shot=shot, dry_run=dry_run)
    if as_json:
        print_json_lines(rows)
        return
    table = Table(title=f"Failed shots since {since}")
    columns = ["scene", "shot", "path", "action"]
    if any("production" in row for row in rows):
        columns.insert(0, "production")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(row.get(column, ""))) for column in columns))
    console.print(table if rows else "No failed ingests to rerun.")


# After the pipeline commands, in this order: `postflow --help` lists commands as registered.
from postflow.cli.admin import register as _register_admin  # noqa: E402
from postflow.cli.alerts import register as _register_alerts  # noqa: E402
from postflow.cli.manifest import register as _register_manifest  # noqa: E402
from postflow.cli.serving import register as _register_serving  # noqa: E402
from postflow.cli.webhooks import register as _register_webhooks  # noqa: E402

_register_serving(app)
_register_admin(app)
_register_alerts(app)
_register_manifest(app)
_register_webhooks(app)

if __name__ == "__main__":  # pragma: no cover
    app()
