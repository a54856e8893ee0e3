"""Automations on a real Prefect server fire into a local Discord receiver."""

from __future__ import annotations

import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from blocks.discord import PostflowDiscord
from blocks.settings import PostflowTuning
from flows.ingest import ingest_file
from postflow.sandbox.discord_receiver import DiscordReceiver
from postflow.setup.automations import apply_automations
from tasks.observe.live_metrics import live_window
from tests.integration.helpers import crashed_ingest_run, make_file
from tests.integration.remote_helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NAMES = [
    "postflow-ingest-failed",
    "postflow-ingest-failures-escalation",
    "postflow-sensor-silent",
    "postflow-ingest-too-long",
    "postflow-alert-error-rate",
    "postflow-alert-api-latency",
    "postflow-alert-cache-hit-rate",
    "postflow-alert-memory",
    "postflow-alert-upload-failures",
    "postflow-alert-frameio-circuit",
]


@pytest.fixture(scope="module")
def alerts_receiver(prefect_harness):
    """One loopback Discord receiver and the project's own Discord block for the module (the
    Prefect server loads the block and awaits its ``notify``); a receiver that went away would
    make the server retry whole action batches and duplicate messages."""
    with DiscordReceiver() as receiver:
        name = f"alerts-{uuid.uuid4().hex[:8]}"
        PostflowDiscord(webhook_url=receiver.webhook_url).save(name)
        receiver.block_ref = f"postflow-discord/{name}"
        yield receiver


@pytest.fixture
def alerts(alerts_receiver):
    """The module's receiver, emptied; every automation is deleted after the test."""
    alerts_receiver.clear()
    yield alerts_receiver
    with get_client(sync_client=True) as client:
        for automation in client.read_automations():
            client.delete_automation(automation.id)


def _contents(receiver: DiscordReceiver, count: int, timeout: float) -> list[str]:
    return [m["payload"]["content"] for m in receiver.wait_for(count, timeout_seconds=timeout)]


def _fake_run_event(event: str, flow_name: str, run_id: str, run_name: str = "") -> None:
    emit_event(
        event,
        resource={
            "prefect.resource.id": f"prefect.flow-run.{run_id}",
            "prefect.resource.name": run_name or f"fake-{flow_name}",
        },
        related=[
            {
                "prefect.resource.id": f"prefect.flow.{uuid.uuid4()}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow_name,
            }
        ],
    )


def test_a_failed_ingest_gets_one_message_and_failures_escalate_once(
    alerts, pipeline, postflow_env
):
    """One message per bad file (issue 21): the failed run's own embed, and no automation's
    "ingest failed" beside it; only a crashed run (it could not report) is announced by the
    automation. Seen failing: the automation posted a second message for each failed run."""
    postflow_env(task_retries=0)
    apply_automations(alerts.block_ref, PostflowTuning(alert_failed_ingests_per_hour=3))
    pipeline.sandbox.inject_status(403, count=3, path=r".*/files/local_upload$")
    for n in range(3):
        path = make_file(pipeline.by_shot, f"SC04_FAIL_0000{n}_V001.mov", 10_000, seed=n)
        assert ingest_file(str(path), return_state=True).is_failed()
    crashed_ingest_run("ingest SC04_DEAD_00001_V001.mov")

    # Prefect's actions are delivered at least once: count distinct alerts, not messages, and
    # wait for what is asserted (a duplicate can arrive before the escalation does).
    def distinct(prefix: str) -> set[str]:
        contents = [m["payload"]["content"] for m in alerts.messages]
        return {c.splitlines()[0] for c in contents if c.startswith(prefix)}

    wait_until(
        lambda: distinct("RL PostFlow ESCALATION") and distinct("RL PostFlow: ingest crashed"),
        90,
        0.25,
    )
    assert distinct("RL PostFlow ESCALATION") == {
        "RL PostFlow ESCALATION: 3 failed ingests within 3600 s"
    }
    assert distinct("RL PostFlow: ingest crashed") == {
        "RL PostFlow: ingest crashed: ingest SC04_DEAD_00001_V001.mov"
    }
    assert distinct("RL PostFlow: ingest failed") == set()
    titles = [m["payload"]["embeds"][0]["title"] for m in pipeline.discord.messages]
    assert sorted(t for t in titles if "SC04" in t) == sorted(
        t for t in titles if "Ingest failed" in t
    )
    assert len([t for t in titles if "Ingest failed" in t]) == 3  # the runs' own, one each


def test_silent_sensor_raises_an_alert(alerts):
    tuning = PostflowTuning.model_construct(
        alert_sensor_silence_seconds=10,
        alert_ingest_running_seconds=3600,
        alert_failed_ingests_per_hour=3,
    )
    apply_automations(alerts.block_ref, tuning)
    _fake_run_event("prefect.flow-run.Running", "watch-by-shot", str(uuid.uuid4()))
    [content] = _contents(alerts, 1, timeout=90)
    assert content.startswith("RL PostFlow: the BY_SHOT sensor is silent")
    assert "10 s" in content


def test_ingest_running_too_long_raises_an_alert(alerts):
    tuning = PostflowTuning.model_construct(
        alert_sensor_silence_seconds=3600,
        alert_ingest_running_seconds=10,
        alert_failed_ingests_per_hour=3,
    )
    apply_automations(alerts.block_ref, tuning)
    _fake_run_event("prefect.flow-run.Running", "ingest-file", str(uuid.uuid4()))
    [content] = _contents(alerts, 1, timeout=90)
    assert content.startswith("RL PostFlow: an ingest has run longer than 10 s")


def test_apply_twice_leaves_one_automation_per_name(alerts):
    apply_automations(alerts.block_ref)
    applied = apply_automations(alerts.block_ref)
    with get_client(sync_client=True) as client:
        counts = {name: len(client.read_automations_by_name(name)) for name in NAMES}
    assert applied == NAMES
    assert counts == dict.fromkeys(NAMES, 1)


def _plant(name: str, tags: list[str]) -> str:
    """Create an automation as someone else would; returns its id."""
    from prefect.automations import Automation

    trigger = {"type": "event", "posture": "Reactive", "expect": ["studio.render.stuck"]}
    definition = {"name": name, "description": "planted", "tags": tags, "trigger": trigger}
    return str(
        Automation.model_validate({**definition, "actions": [{"type": "do-nothing"}]}).create().id
    )


def _automations() -> dict[str, dict]:
    with get_client(sync_client=True) as client:
        return {str(a.id): a.model_dump(mode="json") for a in client.read_automations()}


def test_apply_replaces_only_this_installations_automations(alerts):
    foreign = [
        _plant("postflow-b-ingest-failed", ["postflow-installation:postflow-b"]),
        _plant("postflow-ingest-failed-copy", []),  # our name plus a suffix
        _plant("postflow-ingest-failed", ["postflow-installation:postflow-b"]),  # our exact name
        _plant("render-farm-stuck", ["farm"]),
    ]
    legacy = _plant("postflow-ingest-failed", [])  # applied before automations had a tag
    before = _automations()
    applied = apply_automations(alerts.block_ref)
    after = _automations()
    assert applied == NAMES
    assert {i: after.get(i) for i in foreign} == {i: before[i] for i in foreign}
    assert legacy not in after
    ours = [a for i, a in after.items() if i not in foreign]
    assert sorted(a["name"] for a in ours) == sorted(NAMES)
    assert all(a["tags"] == ["postflow-installation:postflow"] for a in ours)

    applied_b = apply_automations(alerts.block_ref, installation="postflow-b")
    after_b = _automations()
    assert applied_b == [name.replace("postflow-", "postflow-b-", 1) for name in NAMES]
    assert {i: after_b.get(i) for i in after if i != foreign[0]} == {
        i: a for i, a in after.items() if i != foreign[0]
    }  # postflow's and the others untouched; only postflow-b's own one was replaced
    assert foreign[0] not in after_b


def _stored(resource_id: str, state: str) -> bool:
    event_filter = EventFilter(
        event=EventNameFilter(name=[f"prefect.flow-run.{state}"]),
        resource=EventResourceFilter(id=[resource_id]),
    )
    with get_client(sync_client=True) as client:
        return bool(client.read_events(filter=event_filter, limit=1).events)


def test_a_sensor_stopped_on_purpose_raises_no_silent_alert(alerts, pipeline, monkeypatch):
    """A real sensor run is stopped by Ctrl-C (KeyboardInterrupt: the run is Crashed, not
    Completed) and says so with ``postflow.sensor.stopped``; a control run that just goes
    quiet (as after kill -9) starts its silence at the same moment. The control's alert
    arrives; the stopped sensor's, due in the same trigger evaluation, does not."""
    import flows.sensor

    tuning = PostflowTuning.model_construct(
        alert_sensor_silence_seconds=10,
        alert_ingest_running_seconds=3600,
        alert_failed_ingests_per_hour=3,
    )
    apply_automations(alerts.block_ref, tuning)

    def terminated(*_args, **_kwargs):
        # A real sensor stops minutes after its last heartbeat (every 180 s); this one stops at
        # once, so wait until its Running and first heartbeat events are stored (either one
        # processed after the stop would open the trigger's bucket again) before stopping.
        resource = f"prefect.flow-run.{FlowRunContext.get().flow_run.id}"
        for state in ("Running", "heartbeat"):
            assert wait_until(lambda state=state: _stored(resource, state), 30, 0.2)
        _fake_run_event("prefect.flow-run.Running", "watch-by-shot", control, "control-sensor")
        raise KeyboardInterrupt  # a raised TerminationSignal would re-kill pytest itself

    control = str(uuid.uuid4())
    monkeypatch.setattr(flows.sensor, "run_watch_loop", terminated)
    # Earlier tests' failed calls would make the sensor's last metrics tick fire live alerts
    # at the very moment it stops; on the test server's SQLite that burst can make Prefect's
    # trigger service drop an event ("database is locked"), which is not what is tested here.
    live_window().clear()
    with pytest.raises(KeyboardInterrupt):
        flows.sensor.watch_by_shot(str(pipeline.by_shot))
    silent = "RL PostFlow: the BY_SHOT sensor is silent"

    def silent_alerts() -> list[str]:  # live alerts (embeds) may come from earlier tests' calls
        contents = [m["payload"].get("content") or "" for m in alerts.messages]
        return [c for c in contents if c.startswith(silent)]

    assert wait_until(silent_alerts, 90, 0.25)
    found = silent_alerts()
    assert len(found) == 1, found
    assert "control-sensor" in found[0]
