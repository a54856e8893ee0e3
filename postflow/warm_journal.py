"""The runs a warm runner is executing, on disk, so that a killed ``postflow up`` strands none.

A warm run is a thread of the ``up`` process. When that process is killed (``kill -9``, an OOM
kill, a power cut) its claimed runs stay Pending or Running in Prefect for ever, and in
deployment mode the sensor has already handed those files over: nothing would ingest them
until someone ran ``postflow rerun``. (Prefect's own Runner has the same gap; its answer is
heartbeats plus an automation, and ingest runs send no heartbeats by default.)

So each warm runner records the runs it claims in ``<state_dir>/warm-runs.json`` and removes
each one when it ends. The next ``up`` on that machine (:func:`recover_stranded_runs`) finds
the entries of processes that are gone and, for each run that is still not final, marks it
Crashed (the UI and the "ingest Failed or Crashed" automation see it) and creates a new run
of the same deployment with the same parameters. Ingest is idempotent, so a file whose upload
had finished uploads nothing the second time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil

from tasks.state_file import exclusive, read_json, write_json_atomic

__all__ = ["RunJournal", "recover_stranded_runs"]

_log = logging.getLogger("postflow.warm")


def _entries(path: Path) -> dict[str, Any]:
    """The journal's entries; a file edited into something else counts as empty."""
    entries = read_json(path)
    return entries if isinstance(entries, dict) else {}


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), None when it does not exist."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, OverflowError, ValueError):
        return None  # gone, or a pid no process can have
    except psutil.AccessDenied:  # exists, not ours to inspect
        return -1.0


class RunJournal:
    """``{run id: {"pid", "started_at"}}`` of the runs this machine's warm runners execute.

    One JSON file per state directory, shared by every ``up`` process of the machine; each
    change holds its ``flock`` and replaces the file atomically (:mod:`tasks.state_file`).
    A process is identified by its pid *and* start time, so a reused pid is not taken for
    the process that died.

    Args:
        path: the journal file (``<state_dir>/warm-runs.json``).
        pid: the process whose runs :meth:`add` records (default: this one).
    """

    def __init__(self, path: Path, pid: int | None = None) -> None:
        self.path = path
        self.pid = os.getpid() if pid is None else pid
        self._me = {"pid": self.pid, "started_at": _started_at(self.pid)}

    def _change(self, run_id: UUID, add: bool) -> None:
        try:
            with exclusive(self.path):
                entries = _entries(self.path)
                if add:
                    entries[str(run_id)] = self._me
                else:
                    entries.pop(str(run_id), None)
                write_json_atomic(self.path, entries)
        except OSError as exc:  # the state dir is full or read-only: the run goes on
            _log.warning("Cannot record warm run %s in %s: %s", run_id, self.path, exc)

    def add(self, run_id: UUID) -> None:
        """Record that this process executes ``run_id`` (logged, never raised, on OSError)."""
        self._change(run_id, add=True)

    def remove(self, run_id: UUID) -> None:
        """Forget ``run_id`` (it ended, or it was recovered)."""
        self._change(run_id, add=False)

    def stranded(self) -> list[UUID]:
        """The runs recorded by processes that no longer exist."""
        gone = []
        for run_id, owner in _entries(self.path).items():
            try:
                pid, started_at = int(owner["pid"]), owner.get("started_at")
                UUID(run_id)
            except (TypeError, KeyError, ValueError, AttributeError):
                continue  # not an entry this journal wrote
            started = _started_at(pid)
            if started is None or (started > 0 and started != started_at):
                gone.append(UUID(run_id))
        return gone


def recover_stranded_runs(client: Any, journal: RunJournal) -> list[tuple[UUID, UUID]]:
    """Mark Crashed, and run again, the runs a killed ``up`` of this machine left unfinished.

    Args:
        client: a sync Prefect client.
        journal: this machine's journal of warm runs.

    Returns:
        ``[(stranded run id, new run id)]``; a run that had ended (or is gone) is only
        forgotten. The new run's idempotency key is ``"<stranded id>:after-crash"``, so two
        ``up`` starting at once create one.

    Raises:
        Whatever the Prefect client raises (the caller logs it and polls on; the journal keeps
        the entries for the next start).
    """
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    recovered = []
    for run_id in journal.stranded():
        try:
            run = client.read_flow_run(run_id)
        except ObjectNotFound:
            journal.remove(run_id)
            continue
        if run.state is not None and (run.state.is_pending() or run.state.is_running()):
            message = "The postflow up process running it was killed; started again"
            client.set_flow_run_state(run_id, Crashed(message=message), force=True)
            again = client.create_flow_run_from_deployment(
                run.deployment_id,
                parameters=run.parameters,
                idempotency_key=f"{run_id}:after-crash",
            )
            _log.warning(
                "Flow run %r (%s) was left %s by a postflow up that was killed: marked "
                "Crashed, started again as %r",
                run.name,
                run_id,
                run.state.name,
                again.name,
            )
            recovered.append((run_id, again.id))
        journal.remove(run_id)
    return recovered
