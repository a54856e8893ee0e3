"""What ``postflow demo`` prints: the Frame.io tree, the Discord messages, the Prefect runs,
and the verdict (:func:`print_results`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from blocks.frameio_project import FrameioProject
from config.settings import PostflowSettings
from core.units import human_bytes
from postflow.demo.media import BAD_FILES, GOOD_FILES
from postflow.demo.review import review_round
from postflow.sandbox.discord_receiver import DiscordReceiver
from tasks.clients import open_project


def print_tree(console: Console, project: FrameioProject) -> int:
    """Print the project tree; returns the number of files in it.

    Folders that exist twice under the same parent (concurrent ingests that each created
    it) are called out below the tree: the pipeline promises one folder per shot.
    """
    tree = Tree(f"[bold]{project.project.name}[/bold] (Frame.io project)")
    nodes = {-1: tree}
    files = 0
    path: list[str] = []
    folders: dict[str, int] = {}
    for depth, asset in project.walk():
        path[depth:] = [asset.name]
        if asset.type == "folder":
            key = "/".join(path)
            folders[key] = folders.get(key, 0) + 1
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
    duplicates = {k: n for k, n in folders.items() if n > 1}
    if duplicates:
        listed = ", ".join(f"{k} x{n}" for k, n in duplicates.items())
        console.print(f"[yellow]Duplicate folders:[/yellow] {listed}", highlight=False)
    return files


def print_discord(console: Console, receiver: DiscordReceiver) -> None:
    """Print one row per Discord message received."""
    table = Table(title="Discord messages received")
    table.add_column("#")
    table.add_column("title")
    table.add_column("fields")
    for number, message in enumerate(receiver.messages, start=1):
        payload = message["payload"]
        for embed in payload.get("embeds", []):
            fields = ", ".join(f"{f['name']}={f['value']}" for f in embed.get("fields", [])[:6])
            table.add_row(str(number), embed.get("title", ""), fields)
        if payload.get("content") and not payload.get("embeds"):  # a Prefect automation alert
            subject, _, body = payload["content"].partition("\n")
            table.add_row(str(number), subject, body.replace("\n", " ")[:160])
    console.print(table)


def print_prefect_runs(console: Console, since: datetime) -> list[Any]:
    """Print the Prefect flow runs started since ``since`` (with their artifact counts)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )

    run_filter = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=run_filter, limit=200)
        artifacts = (
            client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs])
                ),
                limit=200,
            )
            if runs
            else []
        )
    per_run: dict[Any, int] = {}
    for artifact in artifacts:
        per_run[artifact.flow_run_id] = per_run.get(artifact.flow_run_id, 0) + 1
    table = Table(title=f"Prefect flow runs ({len(runs)}; {len(artifacts)} artifacts)")
    for column in ("run", "state", "seconds", "artifacts", "message"):
        table.add_column(column)
    for run in sorted(runs, key=lambda r: r.start_time or since):
        state = run.state.name if run.state else "?"
        message = (run.state.message or "")[:70] if run.state else ""
        table.add_row(
            run.name,
            state,
            f"{run.total_run_time.total_seconds():.1f}",
            str(per_run.get(run.id, 0)),
            message,
        )
    console.print(table)
    return runs


def print_results(
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
    review_round(console, PostflowSettings())  # "playable", a comment, an approval
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
