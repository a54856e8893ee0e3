"""The ``postflow`` command: watch, ingest, nomenclature, sandbox, demo.

Settings come from ``POSTFLOW_*`` environment variables or a ``.env`` file (see
``config/settings.py``); options given here override them for this run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from config.settings import PostflowSettings
from core.errors import NamingError, PostflowError
from tasks.naming import Ignored, load_nomenclature

app = typer.Typer(
    help="RL PostFlow: ingest renders from a LucidLink BY_SHOT watch folder into Frame.io v4, "
    "orchestrated by Prefect. Settings: POSTFLOW_* environment variables or .env.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _override(**values: object) -> None:
    """Pass CLI overrides to the flows, which read settings from the environment."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"POSTFLOW_{name.upper()}"] = str(value)


def _settings() -> PostflowSettings:
    try:
        return PostflowSettings()
    except ValueError as exc:
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def nomenclature(
    names: list[str] = typer.Argument(..., help="File names (or paths) to parse."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Show how file names map to scene, shot, version and Frame.io folder.

    Exit code 1 if any name is an error (matches no rule, or unsupported extension).
    Junk and partial files (.DS_Store, ._*, *.part, ...) are reported as ignored.
    """
    settings = _settings()
    try:
        rules = load_nomenclature(
            settings.nomenclature_path, settings.extensions, settings.ignore_patterns
        )
    except PostflowError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    failed = False
    for name in names:
        try:
            outcome = rules.classify(name)
        except NamingError as exc:
            failed = True
            record: dict[str, object] = {"file": exc.file, "error": str(exc)}
            line = (
                f"[red]✗ {exc.file}[/red]: {exc.reason} (rules tried: {', '.join(exc.rules_tried)})"
            )
        else:
            if isinstance(outcome, Ignored):
                record = {"file": outcome.file, "ignored": outcome.reason}
                line = f"[dim]- {outcome.file}: ignored ({outcome.reason})[/dim]"
            else:
                record = outcome.as_dict()
                line = (
                    f"[green]✓ {outcome.file}[/green] → scene [bold]{outcome.scene}[/bold] · "
                    f"shot [bold]{outcome.shot}[/bold] · V{outcome.version:03d} → "
                    f"{'/'.join(outcome.folder_path)} [dim]({outcome.rule})[/dim]"
                )
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            console.print(line, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if failed else 0)


@app.command()
def ingest(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to ingest."),
) -> None:
    """Ingest one file now: parse its name, ensure its shot folder, upload, notify Discord.

    Idempotent: a file already in its shot folder (same name and size) is not uploaded again.
    Exit code 1 when the ingest fails.
    """
    from flows.ingest import ingest_file

    _settings()
    state = ingest_file(str(path.resolve()), return_state=True)
    if not state.is_completed():
        err.print(f"[red]Ingest failed:[/red] {state.message}")
        raise typer.Exit(1)
    result = state.result()
    table = Table(title=f"Ingested {result['file']}", show_header=False)
    for key in (
        "scene",
        "shot",
        "version",
        "strategy",
        "size_bytes",
        "seconds",
        "megabytes_per_second",
        "sha256",
        "view_url",
    ):
        table.add_row(key, str(result.get(key)))
    console.print(table)


@app.command()
def watch(
    watch_path: Path | None = typer.Option(None, help="Watch folder (POSTFLOW_WATCH_PATH)."),
    since: str | None = typer.Option(
        None, help="Startup scan cutoff: 12h, 7d, an ISO date or epoch seconds."
    ),
    settle_seconds: float | None = typer.Option(None, help="Unchanged time before ready."),
    poll_interval_seconds: float | None = typer.Option(None, help="Seconds between polls."),
    native_events: bool = typer.Option(
        False, "--native-events", help="Use inotify/FSEvents instead of polling (not on FUSE)."
    ),
) -> None:
    """Watch BY_SHOT and ingest each complete file once (Ctrl-C to stop).

    Polls by default: on LucidLink, files written by other machines fire no file events.
    A ledger in the state directory makes each file version go out exactly once.
    """
    from flows.sensor import watch_by_shot

    _override(
        watch_path=watch_path,
        settle_seconds=settle_seconds,
        poll_interval_seconds=poll_interval_seconds,
        use_polling_observer=False if native_events else None,
    )
    _settings()
    try:
        watch_by_shot(since=since)
    except KeyboardInterrupt:
        err.print("Stopped; running ingests were allowed to finish.")


@app.command()
def setup(
    auth_mode: str | None = typer.Option(
        None, help="server_to_server or web_app (default: keep the saved mode)."
    ),
    no_prompt: bool = typer.Option(False, "--no-prompt", help="Fail instead of asking."),
) -> None:
    """Register the block types and create/update the named block documents (idempotent).

    Values come from POSTFLOW_* variables or .env; missing ones are asked for (secrets hidden).
    Blocks: Frame.io credentials, tuning (TTLs, retries, alert thresholds), Discord webhooks.
    """
    from postflow.setup import setup_blocks

    def ask(label: str, secret: bool) -> str:
        return typer.prompt(label, hide_input=secret)

    try:
        done = setup_blocks(_settings(), None if no_prompt else ask, auth_mode)
    except PostflowError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for name, what in done.items():
        console.print(f"  {name}: {what}")


@app.command()
def login(
    paste: bool = typer.Option(
        False, "--paste", help="Paste the redirect URL instead of a loopback callback."
    ),
    no_browser: bool = typer.Option(False, "--no-browser", help="Only print the URL."),
    timeout_seconds: float = typer.Option(300.0, help="Wait this long for the callback."),
) -> None:
    """Sign in to Adobe IMS (OAuth web app) and store the tokens in the credentials block.

    Prints the authorize URL (and opens it in a browser when it can), receives the code on
    the loopback redirect URI, exchanges it, and saves access and refresh tokens; refreshed
    tokens are saved back automatically, so you log in once.
    """
    import webbrowser

    from postflow.setup import login as run_login

    settings = _settings()
    try:
        run_login(
            settings.frameio_credentials_block,
            print_line=console.print,
            open_url=(lambda _url: None) if no_browser else webbrowser.open,
            paste=(lambda: typer.prompt("Redirect URL")) if paste else None,
            timeout_seconds=timeout_seconds,
        )
    except PostflowError as exc:
        err.print(f"[red]Login failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"[green]Logged in[/green]; tokens saved in {settings.frameio_credentials_block}")


automations_app = typer.Typer(help="Prefect automations (alerts, sensor restart).")
app.add_typer(automations_app, name="automations")


@automations_app.command("apply")
def automations_apply() -> None:
    """Create or replace the automations of automations.yaml (idempotent, by name).

    Alerts go to the notification block named by POSTFLOW_ALERTS_BLOCK
    (discord-webhook/postflow-alerts by default); thresholds come from the tuning block.
    """
    from blocks.settings import PostflowTuning, load_block
    from postflow.automations import apply_automations

    settings = _settings()
    tuning = load_block(PostflowTuning, settings.tuning_block)
    try:
        names = apply_automations(settings.alerts_block, tuning)  # type: ignore[arg-type]
    except PostflowError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for name in names:
        console.print(f"  applied {name}")


@app.command()
def rerun(
    since: str = typer.Option("24h", help="How far back: 12h, 7d, an ISO date, epoch seconds."),
    scene: str | None = typer.Option(None, help="Only this scene."),
    shot: str | None = typer.Option(None, help="Only this shot."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List, start nothing."),
) -> None:
    """Run failed or crashed ingests again (files that landed since are skipped).

    Uses the ingest-file deployment when it exists, else ingests here. Ingest is idempotent,
    so rerunning is always safe.
    """
    from flows.rerun import rerun_failed_shots

    rows = rerun_failed_shots(since=since, scene=scene, shot=shot, dry_run=dry_run)
    table = Table(title=f"Failed shots since {since}")
    for column in ("scene", "shot", "path", "action"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["scene"], row["shot"], row["path"], row["action"])
    console.print(table if rows else "No failed ingests to rerun.")


def _limits_and_automations(settings: PostflowSettings) -> None:
    """Create the global concurrency limits and apply the automations (alerts need a block)."""
    from blocks.settings import PostflowTuning, load_block
    from postflow.automations import apply_automations
    from tasks.limits import ensure_limits

    tuning = load_block(PostflowTuning, settings.tuning_block) or PostflowTuning()
    limits = ensure_limits(
        tuning.frameio_requests_per_second,
        tuning.frameio_burst,  # type: ignore[attr-defined]
        max_concurrent_uploads=tuning.max_concurrent_uploads,  # type: ignore[attr-defined]
    )
    console.print("Concurrency limits: " + ", ".join(f"{k}={v}" for k, v in limits.items()))
    try:
        apply_automations(settings.alerts_block, tuning)  # type: ignore[arg-type]
        console.print("Automations applied (alerts to " + settings.alerts_block + ")")
    except PostflowError as exc:
        err.print(f"[yellow]Automations not applied:[/yellow] {exc}")


@app.command()
def up(
    port: int = typer.Option(4200, help="Port of the local Prefect server, if one is started."),
    only: list[str] = typer.Option(
        [], "--only", help="Serve only these deployments (repeatable); default all."
    ),
    limit: int | None = typer.Option(None, help="Flow runs at once in this process."),
) -> None:
    """Run RL PostFlow the Prefect way: server, blocks, deployments, all served here.

    Uses PREFECT_API_URL when it answers, else starts a local Prefect server (SQLite,
    loopback). Registers every deployment of prefect.yaml, then applies the automations,
    starts one watch-by-shot run if none is live, and serves them all from this process; the
    sensor emits postflow.file.ready events and the ingest-file trigger starts one run per file.
    Ctrl-C or SIGTERM stops serving (Prefect pauses the schedules until the next `up`) and
    stops a server started here.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from postflow.setup import register_block_types
    from postflow.up import (
        api_healthy,
        apply_deployments,
        ensure_sensor_run,
        exit_on_sigterm,
        load_deployments,
        serve_deployments,
        start_local_server,
        stop_server,
    )

    settings = _settings()
    api_url = PREFECT_API_URL.value()
    server = None
    exit_on_sigterm()  # until serve installs its own handler: never orphan the server
    try:
        if not api_url or not api_healthy(api_url):
            console.print(f"Starting a local Prefect server on 127.0.0.1:{port} ...")
            try:
                server, api_url = start_local_server(
                    port, settings.state_dir / "prefect-server.log"
                )
            except PostflowError as exc:
                err.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from exc
        os.environ.update(
            PREFECT_API_URL=api_url,
            POSTFLOW_DISPATCH_MODE="events",
            POSTFLOW_USE_PREFECT_LIMITS="true",
        )
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            register_block_types()
            deployments = [d for d in load_deployments() if not only or d.name in only]
            apply_deployments(deployments)  # first: the sensor-restart automation needs its id
            _limits_and_automations(settings)
            if any(d.name == "watch-by-shot" for d in deployments):
                run, created = ensure_sensor_run()
                console.print(f"Sensor run: {run.name} ({'started' if created else 'existing'})")
            console.print(f"Prefect UI: [bold]{api_url.removesuffix('/api')}[/bold]")
            console.print("Serving: " + ", ".join(d.name for d in deployments))
            serve_deployments(deployments, limit=limit)  # prefect.serve, with a clean stop
    finally:
        stop_server(server)


@app.command()
def sandbox(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8790, help="TCP port."),
    data_dir: Path = typer.Option(Path(".postflow/sandbox"), help="Where the tree and bytes live."),
    target_part_bytes: int = typer.Option(32 * 2**20, help="Part size of local uploads."),
    no_rate_limits: bool = typer.Option(False, "--no-rate-limits", help="Never answer 429."),
) -> None:
    """Run a local Frame.io v4 stand-in (IMS tokens, projects, folders, uploads, version stacks).

    Point the pipeline at it with the printed environment; state persists in --data-dir.
    """
    from postflow.sandbox import defaults
    from postflow.sandbox.server import run_sandbox

    url = f"http://{host}:{port}"
    console.print(f"[bold]Frame.io sandbox[/bold] on {url} (data in {data_dir})")
    console.print(
        f"  export POSTFLOW_FRAMEIO_API_BASE_URL={url} POSTFLOW_FRAMEIO_IMS_BASE_URL={url}\n"
        f"  export POSTFLOW_FRAMEIO_ACCOUNT_ID={defaults.SANDBOX_ACCOUNT_ID}\n"
        f"  export POSTFLOW_FRAMEIO_PROJECT_ID={defaults.SANDBOX_PROJECT_ID}\n"
        f"  export POSTFLOW_FRAMEIO_CLIENT_ID={defaults.SANDBOX_CLIENT_ID}"
        " POSTFLOW_FRAMEIO_CLIENT_SECRET=<sandbox secret, see postflow/sandbox/defaults.py>",
        highlight=False,
    )
    run_sandbox(
        host=host,
        port=port,
        data_dir=data_dir,
        target_part_bytes=target_part_bytes,
        rate_limits=not no_rate_limits,
    )


@app.command()
def share(
    path: Path = typer.Argument(
        ..., metavar="PATH", help="The file to share (e.g. a BY_SHOT render)."
    ),
    ttl: int | None = typer.Option(
        None, "--ttl", min=1, help="Link lifetime in seconds (POSTFLOW_SHARE_TOKEN_TTL_SECONDS)."
    ),
    no_tunnel: bool = typer.Option(
        False, "--no-tunnel", help="Serve on loopback only; do not start cloudflared."
    ),
) -> None:
    """Serve one file over HTTP (Range requests, HEAD) at a secret, expiring URL until Ctrl-C.

    Prints the URL Frame.io would pull from: through the Cloudflare tunnel (POSTFLOW_TUNNEL_*
    settings) when cloudflared is available, else - or with --no-tunnel - the loopback URL.
    Use it to check the remote-upload path by hand, e.g. `curl -r 0-99 URL`.
    """
    from postflow.share import share_file

    try:
        share_file(path, ttl_seconds=ttl, use_tunnel=not no_tunnel, console=console)
    except (PostflowError, OSError) as exc:
        err.print(f"[red]Cannot share {path}:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def demo(
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Keep serving and watching after the demo files (Ctrl-C)."
    ),
    work_dir: Path | None = typer.Option(None, help="Where to put BY_SHOT (default: a temp dir)."),
    in_process: bool = typer.Option(
        False, "--in-process", help="No Prefect server: sensor and ingests in this process."
    ),
    port: int = typer.Option(
        4200, help="Port of the Prefect server started here (a free one if taken; 0: any)."
    ),
) -> None:
    """Run the whole pipeline locally: sandbox Frame.io + Discord receiver + Prefect + sensor.

    Goes the `postflow up` way: starts (or reuses, via PREFECT_API_URL) a local Prefect
    server, serves the deployments, the sensor emits postflow.file.ready and the trigger
    starts one ingest-file run per file, all visible in the Prefect UI. Needs no Frame.io
    account and no network. Prints the Frame.io tree, the Discord messages and the Prefect
    runs; exit code 0 when every good file landed. Falls back to --in-process (and says so)
    when no Prefect server can be started.
    """
    from postflow.demo import run_demo

    code = run_demo(
        console, keep_running=keep_running, work_dir=work_dir, in_process=in_process, port=port
    )
    raise typer.Exit(code)


from postflow.admin import register as _register_admin  # noqa: E402 - admin commands

_register_admin(app)

if __name__ == "__main__":  # pragma: no cover
    app()
