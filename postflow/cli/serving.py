"""The long-running commands of ``postflow``: up, sandbox, share, demo (each until Ctrl-C).

Registered on the main app by :func:`register` (``postflow/cli/main.py``), after the pipeline
commands and before the admin ones, so ``postflow --help`` lists them in that order.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from core.errors import PostflowError
from postflow.cli.terminal import console, drain_prefect_clients, err, load_settings, warn_if_public

if TYPE_CHECKING:
    from config.settings import PostflowSettings


def _limits_and_automations(settings: PostflowSettings) -> None:
    """Create the global concurrency limits and apply the automations (alerts need a block)."""
    from blocks.settings import PostflowTuning, load_block
    from postflow.setup.automations import apply_automations
    from tasks.platform.limits import ensure_limits

    tuning = load_block(PostflowTuning, settings.tuning_block) or PostflowTuning()
    limits = ensure_limits(
        tuning.frameio_requests_per_second,
        tuning.frameio_burst,  # type: ignore[attr-defined]
        max_concurrent_uploads=tuning.max_concurrent_uploads,  # type: ignore[attr-defined]
        installation=settings.installation,
    )
    console.print("Concurrency limits: " + ", ".join(f"{k}={v}" for k, v in limits.items()))
    try:
        apply_automations(
            settings.alerts_block,
            tuning,  # type: ignore[arg-type]
            installation=settings.installation,
            extra_blocks=settings.notify_blocks,
            language=settings.discord_language,
        )
        targets = ", ".join((settings.alerts_block, *settings.notify_blocks))
        console.print(f"Automations applied (alerts to {targets})")
    except PostflowError as exc:
        err.print(f"[yellow]Automations not applied:[/yellow] {exc}", soft_wrap=True)


def _prefect_api(
    port: int, settings: PostflowSettings, api_wait_seconds: float, local_server: bool = True
) -> tuple[Any, str]:
    """``(server, api_url)``: the server PREFECT_API_URL names (server None) once it answers,
    else, when it is unset, a local one.

    Raises:
        typer.Exit: with code 2 when the named server does not answer within
            ``api_wait_seconds`` (a private server in its place would serve nothing the
            studio's server sends), PREFECT_API_URL is unset with ``local_server`` False,
            or no local server can be started.
    """
    from prefect.settings import PREFECT_API_URL

    from postflow.serve.prefect_server import api_healthy, start_local_server

    api_url = PREFECT_API_URL.value()
    if api_url:
        deadline = time.monotonic() + api_wait_seconds
        if not api_healthy(api_url):
            console.print(
                f"Waiting for the Prefect server at PREFECT_API_URL={api_url} "
                f"(up to {api_wait_seconds:.0f} s) ...",
                highlight=False,
            )
        while not api_healthy(api_url):
            if time.monotonic() >= deadline:
                err.print(
                    f"Error: the Prefect server at PREFECT_API_URL={api_url} does not answer "
                    f"after {api_wait_seconds:.0f} s; start it (or fix the URL), or unset "
                    "PREFECT_API_URL to let `postflow up` start a local one",
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(2)
            time.sleep(1.0)
        return None, api_url
    if not local_server:
        err.print(
            "Error: PREFECT_API_URL is unset and --no-local-server was given; set it to the "
            "shared Prefect server's API URL (e.g. in /etc/postflow/postflow.env)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    console.print(f"Starting a local Prefect server on 127.0.0.1:{port} ...")
    try:
        return start_local_server(port, settings.state_dir / "prefect-server.log")
    except PostflowError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _serve_all(
    settings: PostflowSettings, api_url: str, only: list[str], limit: int | None
) -> None:
    """Register blocks, pools and deployments, apply limits and automations, start the sensor,
    run the pools' workers."""
    from postflow.serve.up import (
        apply_deployments,
        ensure_sensor_run,
        load_deployments,
        serve_deployments,
    )
    from postflow.setup.blocks import register_block_types

    register_block_types()
    deployments = [d for d in load_deployments() if not only or d.name in only]
    apply_deployments(deployments)  # first (on their pools): the sensor-restart automation
    _limits_and_automations(settings)
    if any(d.name == "watch-by-shot" for d in deployments):
        run, created = ensure_sensor_run()
        console.print(f"Sensor run: {run.name} ({'started' if created else 'existing'})")
    console.print(f"Prefect UI: [bold]{api_url.removesuffix('/api')}[/bold]")
    console.print("Serving: " + ", ".join(d.name for d in deployments), soft_wrap=True)
    serve_deployments(deployments, limit=limit)  # a worker per pool, until Ctrl-C/SIGTERM


def _check_deployments(names: list[str]) -> list[str]:
    """typer callback of ``up --only``: each name must be a deployment of prefect.yaml."""
    import yaml

    from postflow.serve.up import PREFECT_YAML

    spec = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8")) or {}
    known = [d["name"] for d in spec.get("deployments", [])]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: not in prefect.yaml ({', '.join(known)})")
    return names


def up(
    port: int = typer.Option(
        4200, min=1, max=65535, help="Port of the local Prefect server, if one is started."
    ),
    only: list[str] = typer.Option(
        [],
        "--only",
        callback=_check_deployments,
        help="Serve only these deployments (repeatable); default all.",
    ),
    limit: int | None = typer.Option(
        None,
        min=1,
        help="Runs at once of the deployments other than ingest-file (ingests at once: "
        "POSTFLOW_INGEST_CONCURRENCY).",
    ),
    api_wait_seconds: float = typer.Option(
        60.0,
        min=0,
        help="With PREFECT_API_URL set: how long to wait for that server to answer (seconds) "
        "before giving up with exit code 2; `up` never starts a server of its own in its place.",
    ),
    no_local_server: bool = typer.Option(
        False,
        "--no-local-server",
        help="Never start a local Prefect server: PREFECT_API_URL must name one (a machine "
        "of several, e.g. the systemd sensor and worker units).",
    ),
) -> None:
    """Run RL PostFlow the Prefect way: server, blocks, deployments, all served here.

    Uses the server PREFECT_API_URL names (waiting for it to answer), else, when it is
    unset, starts a local Prefect server (SQLite, loopback). Registers every deployment of
    prefect.yaml, then applies the automations, starts one watch-by-shot run if none is
    live, and runs a Prefect worker per work pool in this process: the sensor creates one
    ingest-file run per ready file and the postflow-warm worker executes it here, in a
    thread. Ctrl-C or SIGTERM stops the workers and a server started here.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from postflow.serve.prefect_server import exit_on_sigterm, stop_server

    settings = load_settings()
    warn_if_public(settings)
    server = None
    exit_on_sigterm()  # until serve installs its own handler: never orphan the server
    try:
        server, api_url = _prefect_api(
            port, settings, api_wait_seconds, local_server=not no_local_server
        )
        os.environ.update(
            PREFECT_API_URL=api_url,
            POSTFLOW_DISPATCH_MODE="deployment",
        )  # POSTFLOW_USE_PREFECT_LIMITS as set: ingests share this process's Frame.io client
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            try:
                _serve_all(settings, api_url, only, limit)
            finally:
                drain_prefect_clients()  # before the server stops: no "Error logging to API"
    finally:
        stop_server(server)


def sandbox(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8790, min=1, max=65535, help="TCP port."),
    data_dir: Path = typer.Option(Path(".postflow/sandbox"), help="Where the tree and bytes live."),
    target_part_bytes: int = typer.Option(
        32 * 2**20, min=1024, help="Part size of local uploads (bytes)."
    ),
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
        f" POSTFLOW_FRAMEIO_CLIENT_SECRET={defaults.SANDBOX_CLIENT_SECRET}  # the sandbox's own\n"
        f"  export POSTFLOW_FRAMEIO_REDIRECT_URI=http://127.0.0.1:8976/callback"
        "  # web_app: its IMS accepts loopback http",
        highlight=False,
    )
    run_sandbox(
        host=host,
        port=port,
        data_dir=data_dir,
        target_part_bytes=target_part_bytes,
        rate_limits=not no_rate_limits,
    )


def share(
    path: Path = typer.Argument(
        ...,
        metavar="PATH",
        exists=True,
        dir_okay=False,
        help="The file to share (e.g. a BY_SHOT render).",
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
    from postflow.serve.share import share_file

    if not no_tunnel and load_settings().tunnel_mode == "quick":
        err.print(
            "[yellow]The link goes through a quick tunnel: public (signed, expiring), for "
            "testing; use tunnel_mode=named in production.[/yellow]",
            soft_wrap=True,
        )
    try:
        share_file(path, ttl_seconds=ttl, use_tunnel=not no_tunnel, console=console)
    except (PostflowError, OSError) as exc:
        err.print(f"[red]Cannot share {escape(str(path))}:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def demo(
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Keep serving and watching after the demo files (Ctrl-C)."
    ),
    work_dir: Path | None = typer.Option(None, help="Where to put BY_SHOT (default: a temp dir)."),
    in_process: bool = typer.Option(
        False, "--in-process", help="No Prefect server: sensor and ingests in this process."
    ),
    port: int = typer.Option(
        4200,
        min=0,
        max=65535,
        help="Port of the Prefect server started here (a free one if taken; 0: any).",
    ),
    prefect_api_url: str | None = typer.Option(
        None,
        "--prefect-api-url",
        metavar="URL",
        help="Run on this Prefect server instead of the demo's own; it gets the demo's "
        "blocks, automations and limits (postflow-demo-*) and its deployments (ingest-file, "
        "watch-by-shot). PREFECT_API_URL and the active profile are never used.",
    ),
) -> None:
    """Run the whole pipeline locally: sandbox Frame.io + Discord receiver + Prefect + sensor.

    Goes the `postflow up` way on its own temporary Prefect server and PREFECT_HOME (under
    the work dir), whatever PREFECT_API_URL or the active Prefect profile name: a studio's
    server or Prefect Cloud is never touched unless named with --prefect-api-url. Serves
    the deployments, the sensor creates one ingest-file run per ready file, all visible
    in the Prefect UI. Needs no Frame.io
    account and no network. Prints the Frame.io tree, the Discord messages and the Prefect
    runs; exit code 0 when every good file landed. Falls back to --in-process (and says so)
    when no Prefect server can be started.
    """
    from postflow.demo.main import run_demo

    code = run_demo(
        console,
        keep_running=keep_running,
        work_dir=work_dir,
        in_process=in_process,
        port=port,
        prefect_api_url=prefect_api_url,
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the long-running commands to the ``postflow`` app."""
    app.command()(up)
    app.command()(sandbox)
    app.command()(share)
    app.command()(demo)
