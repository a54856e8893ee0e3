"""``postflow demo``: the whole pipeline on one machine, with no Frame.io account and no network.

It starts the Frame.io sandbox and a Discord receiver on loopback, saves a credentials block
for the sandbox in the local Prefect, writes sample renders into a temporary BY_SHOT while the
sensor watches it (the three seed name formats, a second version of one shot, junk files, a
0-byte LucidLink-style placeholder and one unreadable name), waits until every file is
ingested, and prints the Frame.io tree, the Discord messages and a Prefect run summary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from blocks.frameio import FrameioCredentials
from blocks.frameio_project import FrameioProject, open_project
from config.settings import PostflowSettings
from postflow.discord_receiver import DiscordReceiver
from postflow.sandbox.server import SandboxServer
from tasks.notify import human_bytes

DEMO_BLOCK = "postflow-demo-frameio"
GOOD_FILES = [
    "SC01_UNDLM_00412_V001.mov",
    "SC01_UNDLM_00412_V002.mov",
    "13H49_-_RECUPERATION_DES_2_SURVIVANTS_S01_V001.mov",
    "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE_S03_V005.mp4",
]
BAD_FILES = ["RANDOM_RENDER_FINAL.mov"]
JUNK_FILES = [
    ".DS_Store",
    "._SC01_UNDLM_00412_V002.mov",
    "Thumbs.db",
    "SC01_UNDLM_00412_V003.mov.part",
]
PLACEHOLDER = "SC02_PLATE_00010_V001.mov"  # stays 0 bytes, like a LucidLink placeholder


def _clip_bytes(work: Path, index: int) -> bytes:
    """A short ffmpeg test clip when ffmpeg is installed, else 2-5 MB of synthetic bytes."""
    if shutil.which("ffmpeg"):
        out = work / f"clip{index}.mov"
        command = [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=duration=2:size=640x360:rate=25,hue=h={index * 60}",
            "-pix_fmt", "yuv420p", str(out),
        ]  # fmt: skip
        if subprocess.run(command, check=False, timeout=120).returncode == 0:
            return out.read_bytes()
    return os.urandom((2 + index) * 1_000_000)


def _write_slowly(path: Path, data: bytes, pieces: int = 4, pause_seconds: float = 0.4) -> None:
    """Write like a render or a LucidLink download: the file grows over a few seconds."""
    step = max(1, len(data) // pieces)
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(pause_seconds)


def _populate(by_shot: Path, scratch: Path, console: Console) -> None:
    (by_shot / PLACEHOLDER).touch()
    for name in JUNK_FILES:
        (by_shot / name).write_bytes(b"junk")
    for index, name in enumerate(GOOD_FILES + BAD_FILES):
        _write_slowly(by_shot / name, _clip_bytes(scratch, index))
        console.print(f"  wrote [cyan]{name}[/cyan]", highlight=False)


def _demo_env(base: Path, sandbox: SandboxServer, discord: DiscordReceiver) -> dict[str, str]:
    return {
        "POSTFLOW_WATCH_PATH": str(base / "BY_SHOT"),
        "POSTFLOW_STATE_DIR": str(base / "state"),
        "POSTFLOW_SETTLE_SECONDS": "1.5",
        "POSTFLOW_POLL_INTERVAL_SECONDS": "0.5",
        "POSTFLOW_INGEST_CONCURRENCY": "3",
        "POSTFLOW_FRAMEIO_API_BASE_URL": sandbox.url,
        "POSTFLOW_FRAMEIO_IMS_BASE_URL": sandbox.url,
        "POSTFLOW_FRAMEIO_ACCOUNT_ID": sandbox.account_id,
        "POSTFLOW_FRAMEIO_WORKSPACE_ID": sandbox.workspace_id,
        "POSTFLOW_FRAMEIO_PROJECT_ID": sandbox.project_id,
        "POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK": DEMO_BLOCK,
        "POSTFLOW_DISCORD_WEBHOOK_URL": discord.webhook_url,
        "POSTFLOW_TASK_RETRY_BACKOFF_SECONDS": "0.5",
    }


def print_tree(console: Console, project: FrameioProject) -> int:
    """Print the project tree; returns the number of files in it."""
    tree = Tree(f"[bold]{project.project.name}[/bold] (Frame.io project)")
    nodes = {-1: tree}
    files = 0
    for depth, asset in project.walk():
        if asset.type == "file":
            files += 1
            label = (
                f"[green]{asset.name}[/green] {human_bytes(asset.file_size or 0)} · {asset.status}"
            )
        elif asset.type == "version_stack":
            label = f"[magenta]version stack[/magenta] {asset.name}"
        else:
            label = f"[bold blue]{asset.name}/[/bold blue]"
        nodes[depth] = nodes[depth - 1].add(label)
    console.print(tree)
    return files


def print_discord(console: Console, receiver: DiscordReceiver) -> None:
    """Print one row per Discord message received."""
    table = Table(title="Discord messages received")
    table.add_column("#")
    table.add_column("title")
    table.add_column("fields")
    for number, message in enumerate(receiver.messages, start=1):
        for embed in message["payload"].get("embeds", []):
            fields = ", ".join(f"{f['name']}={f['value']}" for f in embed.get("fields", [])[:6])
            table.add_row(str(number), embed.get("title", ""), fields)
    console.print(table)


def print_prefect_runs(console: Console, since: datetime) -> None:
    """Print the Prefect flow runs started since ``since``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    run_filter = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=run_filter, limit=200)
    table = Table(title=f"Prefect flow runs ({len(runs)})")
    for column in ("run", "state", "seconds", "message"):
        table.add_column(column)
    for run in sorted(runs, key=lambda r: r.start_time or since):
        state = run.state.name if run.state else "?"
        message = (run.state.message or "")[:70] if run.state else ""
        table.add_row(run.name, state, f"{run.total_run_time.total_seconds():.1f}", message)
    console.print(table)


def run_demo(console: Console, keep_running: bool = False, work_dir: Path | None = None) -> int:
    """Run the demo; returns the process exit code (0 when every good file landed)."""
    from flows.sensor import watch_by_shot

    base = Path(work_dir or tempfile.mkdtemp(prefix="postflow-demo-")).resolve()
    (base / "BY_SHOT").mkdir(parents=True, exist_ok=True)
    console.rule("[bold]RL PostFlow demo")
    with (
        SandboxServer(base / "sandbox", target_part_bytes=1_000_000) as sandbox,
        DiscordReceiver() as discord,
    ):
        os.environ.update(_demo_env(base, sandbox, discord))
        console.print(f"Frame.io sandbox: {sandbox.url}   Discord receiver: loopback")
        console.print(f"Watch folder: {base / 'BY_SHOT'}")
        FrameioCredentials(
            client_id=sandbox.client_id, client_secret=sandbox.client_secret,
            ims_base_url=sandbox.url, api_base_url=sandbox.url,
        ).save(DEMO_BLOCK, overwrite=True)  # fmt: skip
        started = datetime.now(UTC)
        writer = threading.Thread(
            target=_populate, args=(base / "BY_SHOT", base, console), daemon=True
        )
        writer.start()
        expected = len(GOOD_FILES) + len(BAD_FILES)
        counts = watch_by_shot(stop_after_files=expected)
        writer.join()
        console.rule("Frame.io tree")
        files = print_tree(console, open_project(PostflowSettings()))
        print_discord(console, discord)
        print_prefect_runs(console, started)
        ok = files == len(GOOD_FILES) and counts["failed"] == len(BAD_FILES)
        verdict = (
            "[green]all good files ingested[/green]" if ok else "[red]some files missing[/red]"
        )
        console.print(f"{verdict}: {files}/{len(GOOD_FILES)} in Frame.io, "
                      f"{counts['failed']} unreadable name reported. Work dir: {base}")  # fmt: skip
        if keep_running:
            console.print(f"Still watching {base / 'BY_SHOT'}: drop files there; Ctrl-C to stop.")
            try:
                watch_by_shot()
            except KeyboardInterrupt:
                console.print("Stopped.")
        return 0 if ok else 1
