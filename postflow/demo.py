"""``postflow demo``: the whole pipeline on one machine, with no Frame.io account and no network.

It starts the Frame.io sandbox and a Discord receiver on loopback, then runs RL PostFlow the
way ``postflow up`` does, so every run and artifact is visible in the Prefect UI:

1. reuse the Prefect server at ``PREFECT_API_URL`` if one answers, else start a local one
   (SQLite in ``PREFECT_HOME``, loopback, its own session, stopped on every exit path);
2. save a credentials block for the sandbox and the Discord block (``PostflowDiscord``) that
   posts to the receiver: the per-file embeds and the automations' alerts both use it;
3. start ``postflow up`` (a subprocess): it registers the deployments of ``prefect.yaml``,
   applies the automations, starts the ``watch-by-shot`` sensor run and serves everything;
   the sensor runs in events mode and the ``postflow.file.ready`` trigger starts one
   ``ingest-file`` run per file;
4. write sample renders into a temporary BY_SHOT (the three seed name formats, a second version
   of one shot, junk files, a 0-byte LucidLink-style placeholder and one unreadable name), wait
   until every file's ingest run has finished;
5. (served only) a latency burst on the sandbox and one more render: the live API-latency
   alert reaches Discord (:mod:`postflow.demo_alerts`); then print the Frame.io tree, the
   Discord messages (live alerts included) and the Prefect runs.

``--in-process`` (and the automatic fallback when no Prefect server can be started) runs the
sensor and the ingests inside this process instead, with Prefect's ephemeral API: same result,
but nothing to look at in a Prefect UI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from blocks.discord import PostflowDiscord
from blocks.frameio import FrameioCredentials
from config.settings import PostflowSettings
from core.errors import PostflowError
from postflow.demo_alerts import alert_env, latency_burst, save_tuning
from postflow.demo_media import BAD_FILES, GOOD_FILES, populate
from postflow.demo_output import print_discord, print_prefect_runs, print_tree
from postflow.sandbox.discord_receiver import DiscordReceiver
from postflow.sandbox.server import SandboxServer
from postflow.up import (
    PROJECT_ROOT,
    SENSOR_DEPLOYMENT,
    api_healthy,
    exit_on_sigterm,
    free_port,
    start_local_server,
    stop_server,
)
from tasks.clients import open_project

DEMO_BLOCK = "postflow-demo-frameio"
DISCORD_BLOCK = "postflow-demo-discord"
INGEST_DEPLOYMENT = "ingest-file/ingest-file"
SERVER_START_SECONDS = 90.0  # `prefect server start` is healthy after ~15 s on 2 cores
SENSOR_START_SECONDS = 90.0  # `postflow up` registers everything, then the runner starts it
INGESTS_SECONDS = 150.0  # from the first file written to the last ingest run finished
ALERT_SECONDS = 20.0  # the failed-ingest automation's Discord alert


def _demo_env(base: Path, sandbox: SandboxServer) -> dict[str, str]:
    return {
        "POSTFLOW_WATCH_PATH": str(base / "BY_SHOT"),
        "POSTFLOW_STATE_DIR": str(base / "state"),
        "POSTFLOW_SETTLE_SECONDS": "1.5",
        "POSTFLOW_POLL_INTERVAL_SECONDS": "0.5",
        "POSTFLOW_INGEST_CONCURRENCY": "3",
        "POSTFLOW_FRAMEIO_API_BASE_URL": sandbox.url,
        "POSTFLOW_FRAMEIO_IMS_BASE_URL": sandbox.url,
        "POSTFLOW_FRAMEIO_ACCOUNT_ID": sandbox.account_id,
        "POSTFLOW_FRAMEIO_PROJECT_ID": sandbox.project_id,
        "POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK": DEMO_BLOCK,
        "POSTFLOW_DISCORD_BLOCK": DISCORD_BLOCK,  # the automations' alerts follow it
        "POSTFLOW_TASK_RETRY_BACKOFF_SECONDS": "0.5",
        **alert_env(),
    }


class ServedDemoUnavailable(PostflowError):
    """The Prefect way could not be set up (server or ``postflow up`` did not start)."""


def run_demo(
    console: Console,
    keep_running: bool = False,
    work_dir: Path | None = None,
    in_process: bool = False,
    port: int = 4200,
) -> int:
    """Run the demo; returns the process exit code (0 when every good file landed).

    Args:
        console: where to print.
        keep_running: keep serving (and watching BY_SHOT) after the demo files, until Ctrl-C.
        work_dir: where BY_SHOT, the sandbox data and the logs go (default: a temp dir).
        in_process: skip the Prefect server and ``postflow up``; run the sensor here.
        port: preferred port of a Prefect server started here (a free one if it is taken;
            0 always picks a free one).
    """
    base = Path(work_dir or tempfile.mkdtemp(prefix="postflow-demo-")).resolve()
    (base / "BY_SHOT").mkdir(parents=True, exist_ok=True)
    console.rule("[bold]RL PostFlow demo")
    with (
        SandboxServer(base / "sandbox", target_part_bytes=1_000_000) as sandbox,
        DiscordReceiver() as discord,
    ):
        os.environ.update(_demo_env(base, sandbox))
        console.print(f"Frame.io sandbox: {sandbox.url}   Discord receiver: loopback")
        console.print(f"Watch folder: {base / 'BY_SHOT'}")
        if not in_process:
            try:
                return _run_served(console, base, sandbox, discord, keep_running, port)
            except ServedDemoUnavailable as exc:
                console.print(
                    f"[yellow]FALLBACK: the Prefect way is unavailable ({exc}).[/yellow]\n"
                    "Running the in-process demo instead: the sensor and the ingests run in "
                    "this process on Prefect's ephemeral API; there is no Prefect UI to look at.",
                    highlight=False,
                )
        else:
            console.print(
                "[yellow]In-process mode:[/yellow] the sensor and the ingests run in "
                "this process (ephemeral Prefect API, no UI)."
            )
        return _run_in_process(console, base, sandbox, discord, keep_running)


def _save_blocks(sandbox: SandboxServer, discord: DiscordReceiver) -> None:
    """The sandbox's credentials block and the Discord block posting to the receiver."""
    FrameioCredentials(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ims_base_url=sandbox.url,
        api_base_url=sandbox.url,
    ).save(DEMO_BLOCK, overwrite=True)
    PostflowDiscord(webhook_url=discord.webhook_url).save(DISCORD_BLOCK, overwrite=True)
    save_tuning()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start_up(base: Path, api_url: str) -> subprocess.Popen:
    """``postflow up`` against ``api_url``, in its own session, output in ``up.log``."""
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "COLUMNS": "160",
    }
    with (base / "up.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "postflow.cli", "up"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_up(up: subprocess.Popen | None) -> None:
    """SIGTERM (serve cancels its runs and pauses the deployments), then SIGKILL the group."""
    if up is None:
        return
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            up.wait(60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(up.pid, signal.SIGKILL)  # flow-run subprocesses left behind, if any
    up.wait(10)


def _deployment_runs(client: Any, name: str, since: datetime) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.exceptions import ObjectNotFound

    try:
        deployment = client.read_deployment_by_name(name)
    except ObjectNotFound:
        return []
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
        ),
        limit=200,
    )


def _wait_until(up: subprocess.Popen, log: Path, seconds: float, what: str, check: Any) -> Any:
    """Poll ``check()`` every second until it returns something truthy.

    Raises:
        ServedDemoUnavailable: ``postflow up`` exited, or ``seconds`` went by.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if up.poll() is not None:
            raise ServedDemoUnavailable(
                f"`postflow up` exited with {up.returncode} while waiting for {what}; "
                f"its log ({log}) ends with:\n{_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise ServedDemoUnavailable(f"no {what} after {seconds:.0f} s; see {log}")
        time.sleep(1.0)


def _prefect_server(console: Console, base: Path, port: int) -> tuple[Any, str]:
    """``(server process or None, API URL)``: the server at ``PREFECT_API_URL`` when one
    answers, else a local one started here.

    Raises:
        ServedDemoUnavailable: the local server did not start.
    """
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if api_url and api_healthy(api_url):
        console.print(f"Using the Prefect server at {api_url} (PREFECT_API_URL)")
        return None, api_url
    port = free_port(port or None)
    console.print(f"Starting a local Prefect server on 127.0.0.1:{port} (SQLite) ...")
    try:
        return start_local_server(
            port, base / "prefect-server.log", timeout_seconds=SERVER_START_SECONDS
        )
    except PostflowError as exc:
        raise ServedDemoUnavailable(str(exc)) from exc


def _served_ingests(
    console: Console, base: Path, up: subprocess.Popen, started: datetime
) -> list[Any] | None:
    """Wait for the sensor run, write the renders, and wait for every file's ingest run;
    the finished runs, or None when they did not all finish in time.

    Raises:
        ServedDemoUnavailable: ``postflow up`` exited, or its sensor never ran.
    """
    from prefect.client.orchestration import get_client

    up_log = base / "up.log"
    expected = len(GOOD_FILES) + len(BAD_FILES)
    with get_client(sync_client=True) as client:

        def sensor_running() -> Any:
            runs = _deployment_runs(client, SENSOR_DEPLOYMENT, started)
            return next((r for r in runs if r.state_type.value == "RUNNING"), None)

        def ingests_done() -> list[Any] | None:
            runs = _deployment_runs(client, INGEST_DEPLOYMENT, started)
            final = [r for r in runs if r.state is not None and r.state.is_final()]
            return final if len(final) >= expected else None

        sensor = _wait_until(up, up_log, SENSOR_START_SECONDS, "running sensor", sensor_running)
        console.print(
            f"Sensor [bold]{sensor.name}[/bold] is running (events mode); writing renders:",
            highlight=False,
        )
        writer = threading.Thread(
            target=populate, args=(base / "BY_SHOT", base, console), daemon=True
        )
        writer.start()
        try:
            ingests = _wait_until(up, up_log, INGESTS_SECONDS, "finished ingest runs", ingests_done)
        except ServedDemoUnavailable as exc:
            console.print(f"[red]{exc}[/red]", highlight=False)
            return None
        writer.join()
    return ingests  # type: ignore[no-any-return]


def _print_results(
    console: Console,
    discord: DiscordReceiver,
    started: datetime,
    base: Path,
    failed: int,
    how: str,
    extra_files: int = 0,
) -> bool:
    """Print the Frame.io tree, the Discord messages, the runs and the verdict; True when
    every good file landed and every bad one was reported (``extra_files``: the latency
    burst's render, not one of the sample renders)."""
    console.rule("Frame.io tree")
    files = print_tree(console, open_project(PostflowSettings())) - extra_files
    print_discord(console, discord)
    print_prefect_runs(console, started)
    ok = files == len(GOOD_FILES) and failed == len(BAD_FILES)
    verdict = "[green]all good files ingested[/green]" if ok else "[red]some files missing[/red]"
    console.print(
        f"{verdict}: {files}/{len(GOOD_FILES)} in Frame.io, {failed} unreadable name "
        f"reported{how}. Work dir: {base}",
        highlight=False,
    )
    return ok


def _run_served(
    console: Console,
    base: Path,
    sandbox: SandboxServer,
    discord: DiscordReceiver,
    keep_running: bool,
    port: int,
) -> int:
    """The demo through ``postflow up`` (see the module docstring)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    exit_on_sigterm()  # SIGTERM runs the finally below: no orphan server or `up`
    server: subprocess.Popen | None = None
    up: subprocess.Popen | None = None
    try:
        server, api_url = _prefect_server(console, base, port)
        ui_url = api_url.removesuffix("/api")
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            _save_blocks(sandbox, discord)
            started = datetime.now(UTC)
            up = _start_up(base, api_url)
            console.print(
                f"Prefect UI: [bold]{ui_url}[/bold]   `postflow up` log: {base / 'up.log'}"
            )
            ingests = _served_ingests(console, base, up, started)
            if ingests is None:
                print_prefect_runs(console, started)
                return 1
            failed = [r for r in ingests if not r.state.is_completed()]
            if failed:  # the unreadable name: the failed-ingest automation alerts Discord
                _wait_for_alert(discord, ALERT_SECONDS)
            burst = latency_burst(console, sandbox, discord, base / "BY_SHOT")
            how = f"; {len(ingests)} ingest-file runs via `postflow up`"
            ok = _print_results(console, discord, started, base, len(failed), how, int(burst))
            if keep_running:
                console.print(
                    f"Prefect UI: [bold]{ui_url}[/bold] - still serving; drop files "
                    f"into {base / 'BY_SHOT'}. Ctrl-C to stop."
                )
                try:
                    up.wait()
                except KeyboardInterrupt:
                    console.print("Stopping ...")
            return 0 if ok else 1
    finally:
        _stop_up(up)
        stop_server(server)


def _wait_for_alert(discord: DiscordReceiver, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(m["payload"].get("content") for m in discord.messages):
            return True
        time.sleep(0.5)
    return False


def _run_in_process(
    console: Console,
    base: Path,
    sandbox: SandboxServer,
    discord: DiscordReceiver,
    keep_running: bool,
) -> int:
    """The original demo: ``watch_by_shot`` here, ingesting in-process (no server, no UI)."""
    from flows.sensor import watch_by_shot

    os.environ["POSTFLOW_DISPATCH_MODE"] = "in_process"
    _save_blocks(sandbox, discord)
    started = datetime.now(UTC)
    writer = threading.Thread(target=populate, args=(base / "BY_SHOT", base, console), daemon=True)
    writer.start()
    counts = watch_by_shot(stop_after_files=len(GOOD_FILES) + len(BAD_FILES))
    writer.join()
    ok = _print_results(console, discord, started, base, counts["failed"], " (in-process)")
    if keep_running:
        console.print(f"Still watching {base / 'BY_SHOT'}: drop files there; Ctrl-C to stop.")
        try:
            watch_by_shot()
        except KeyboardInterrupt:
            console.print("Stopped.")
    return 0 if ok else 1
