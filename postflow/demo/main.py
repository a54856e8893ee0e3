"""``postflow demo``: the whole pipeline on one machine, with no Frame.io account and no network.

It starts the Frame.io sandbox and a Discord receiver on loopback, then runs RL PostFlow the
way ``postflow up`` does, so every run and artifact is visible in the Prefect UI:

1. start its own Prefect server (SQLite in a ``PREFECT_HOME`` of its own under the work
   folder, loopback, its own session, stopped on every exit path), whatever
   ``PREFECT_API_URL`` or the active profile name (:mod:`postflow.demo.prefect_choice`); only a
   server
   named with ``--prefect-api-url`` is used instead;
2. save a credentials block for the sandbox and the Discord block (``PostflowDiscord``) that
   posts to the receiver: the per-file embeds and the automations' alerts both use it;
3. start ``postflow up`` (a subprocess): it registers the deployments of ``prefect.yaml``,
   applies the automations, starts the ``watch-by-shot`` sensor run and serves everything;
   the sensor runs in deployment mode and creates one ``ingest-file`` run per ready file;
4. write sample renders into a temporary BY_SHOT (the three seed name formats, a second version
   of one shot, junk files, a 0-byte LucidLink-style placeholder and one unreadable name), wait
   until every file's ingest run has finished;
5. (served only) a latency burst on the sandbox and one more render: the live API-latency
   alert reaches Discord (:mod:`postflow.demo.alerts`); then print the Frame.io tree, the
   Discord messages (live alerts included) and the Prefect runs.

``--in-process`` (and the automatic fallback when no Prefect server can be started) runs the
sensor and the ingests inside this process instead, with Prefect's ephemeral API in the demo's
own ``PREFECT_HOME`` (or the named server): same result, but nothing to look at in a Prefect UI.

This module chooses the way and runs the in-process one; the served way is
:mod:`postflow.demo.served`, the environment and blocks :mod:`postflow.demo.environment`, the sample
renders :mod:`postflow.demo.media`, the live alert :mod:`postflow.demo.alerts` and the printed
results :mod:`postflow.demo.output`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from postflow.demo.environment import demo_env, save_blocks
from postflow.demo.media import BAD_FILES, GOOD_FILES, populate
from postflow.demo.output import print_results
from postflow.demo.prefect_choice import isolate_prefect
from postflow.demo.served import ServedDemoUnavailable, run_served
from postflow.sandbox.discord_receiver import DiscordReceiver
from postflow.sandbox.server import SandboxServer

__all__ = ["ServedDemoUnavailable", "run_demo"]


def run_demo(
    console: Console,
    keep_running: bool = False,
    work_dir: Path | None = None,
    in_process: bool = False,
    port: int = 4200,
    prefect_api_url: str | None = None,
) -> int:
    """Run the demo; returns the process exit code (0 when every good file landed).

    Args:
        console: where to print.
        keep_running: keep serving (and watching BY_SHOT) after the demo files, until Ctrl-C.
        work_dir: where BY_SHOT, the sandbox data and the logs go (default: a temp dir).
        in_process: skip the Prefect server and ``postflow up``; run the sensor here.
        port: preferred port of a Prefect server started here (a free one if it is taken;
            0 always picks a free one).
        prefect_api_url: a Prefect server the user named explicitly; None (the default):
            the demo's own temporary server and ``PREFECT_HOME``, never the one
            ``PREFECT_API_URL`` or the active profile name.

    Raises:
        ConfigurationError: ``prefect_api_url`` does not answer.
    """
    base = Path(work_dir or tempfile.mkdtemp(prefix="postflow-demo-")).resolve()
    (base / "BY_SHOT").mkdir(parents=True, exist_ok=True)
    home = isolate_prefect(base, prefect_api_url)
    console.rule("[bold]RL PostFlow demo")
    if prefect_api_url:
        console.print(f"Prefect: the server you named, {prefect_api_url}", highlight=False)
    else:
        console.print(f"Prefect: the demo's own (PREFECT_HOME {home})", highlight=False)
    with (
        SandboxServer(base / "sandbox", target_part_bytes=1_000_000) as sandbox,
        DiscordReceiver() as discord,
    ):
        os.environ.update(demo_env(base, sandbox))
        console.print(f"Frame.io sandbox: {sandbox.url}   Discord receiver: loopback")
        console.print(f"Watch folder: {base / 'BY_SHOT'}")
        if not in_process:
            try:
                return run_served(console, base, sandbox, discord, keep_running, port)
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
    save_blocks(sandbox, discord)
    started = datetime.now(UTC)
    writer = threading.Thread(target=populate, args=(base / "BY_SHOT", base, console), daemon=True)
    writer.start()
    counts = watch_by_shot(stop_after_files=len(GOOD_FILES) + len(BAD_FILES))
    writer.join()
    ok = print_results(console, discord, started, base, counts["failed"], " (in-process)")
    if keep_running:
        console.print(f"Still watching {base / 'BY_SHOT'}: drop files there; Ctrl-C to stop.")
        try:
            watch_by_shot()
        except KeyboardInterrupt:
            console.print("Stopped.")
    return 0 if ok else 1
