"""``postflow automations apply``: create or replace RL PostFlow's automations by name.

The definitions live in ``automations.yaml`` (Prefect's own automation schema). Values that
differ per installation (the notification block's id, the sensor deployment's id, alert
thresholds from the ``PostflowTuning`` block) are ``__CAPS__`` placeholders filled in here;
``{{ }}`` is left alone for Prefect to render when an automation fires. Applying twice
leaves one automation per name (``prefect automation create --from-file`` takes the same
shape: https://docs.prefect.io/v3/how-to-guides/automations).

Every automation is named for the installation (``PostflowSettings.installation``):
``postflow-ingest-failed`` becomes ``<installation>-ingest-failed`` (the default installation,
``postflow``, keeps today's names) and carries the tag ``postflow-installation:<installation>``
(:func:`owned`). Applying replaces only automations of exactly its names that carry its own tag
- or, for the default installation, no installation tag at all (written before automations had
one). Another installation's automations, even one whose name starts with ours, and anything
else on the server are never touched.

The alerts go to the one Discord block (``PostflowDiscord``, :mod:`blocks.discord`) unless
``POSTFLOW_ALERTS_BLOCK`` names another Prefect notification block, and to each block of
``POSTFLOW_NOTIFY_BLOCKS`` too: one ``send-notification`` action per block (:func:`fan_out`), so
one failing block does not keep the message from the others. The Prefect *server* runs
the ``send-notification`` action, so it must be able to import ``blocks.discord`` (the
project's ``prefect.collections`` entry point; Prefect Cloud cannot run a custom block:
point ``POSTFLOW_ALERTS_BLOCK`` at one of Prefect's own notification blocks there).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from prefect.automations import Automation
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

import blocks.discord  # noqa: F401 - registers PostflowDiscord: Block.load finds types by slug
from blocks.settings import PostflowTuning
from core.errors import ConfigurationError
from postflow.setup.alert_templates import alert_templates
from tasks.observe.alerts import ALERT_PREFIX, RESOLVED_SUFFIX, RULES
from tasks.recovery.circuit import CIRCUIT_CLOSED, CIRCUIT_OPENED

# Package data of postflow (pyproject.toml): in the checkout a symlink to the top-level file,
# in a built wheel a copy of it.
AUTOMATIONS_YAML = Path(__file__).parents[1] / "automations.yaml"
SENSOR_DEPLOYMENT = "watch-by-shot/watch-by-shot"
DEFAULT_INSTALLATION = "postflow"
INSTALLATION_TAG = "postflow-installation:"  # + the installation's name


def automation_name(name: str, installation: str) -> str:
    """``name`` (``postflow-<what>``, as in ``automations.yaml``) for ``installation``.

    Example:
        >>> automation_name("postflow-ingest-failed", "studio-b")
        'studio-b-ingest-failed'
    """
    return installation + name.removeprefix(DEFAULT_INSTALLATION)


def owned(automation: Automation, installation: str) -> bool:
    """Whether ``installation`` may replace ``automation`` (already known to bear one of its
    names): it carries ``installation``'s tag, or - for the default installation only - no
    installation tag at all (applied by a version before installations had names)."""
    tags = [t for t in automation.tags if t.startswith(INSTALLATION_TAG)]
    if tags:
        return tags == [INSTALLATION_TAG + installation]
    return installation == DEFAULT_INSTALLATION


def _sensor_deployment_id() -> str | None:
    with get_client(sync_client=True) as client:
        try:
            return str(client.read_deployment_by_name(SENSOR_DEPLOYMENT).id)
        except Exception:  # noqa: BLE001 - ObjectNotFound: no sensor deployment yet
            return None


def live_alert_automations(alerts_block_id: str, language: str = "en") -> list[dict[str, Any]]:
    """One automation per live alert (``postflow.alert.<name>`` and its ``.resolved``) and
    one for the circuit breaker's ``postflow.frameio.circuit.opened`` / ``closed``, each
    sending an embed (figure, threshold, what to check) through the alerts block, its words in
    ``language`` (:mod:`postflow.setup.alert_templates`)."""
    words = alert_templates(language)

    def automation(name: str, description: str, resource: str, expect: list[str], subject: str,
                   body: str) -> dict[str, Any]:  # fmt: skip
        action = {
            "type": "send-notification",
            "block_document_id": alerts_block_id,
            "subject": subject,
            "body": body,
        }
        trigger = {
            "type": "event",
            "posture": "Reactive",
            "match": {"prefect.resource.id": resource},
            "expect": expect,
            "threshold": 1,
            "within": 0,
        }
        return {"name": name, "description": description, "trigger": trigger, "actions": [action]}

    found = [
        automation(
            f"postflow-alert-{rule.name.replace('_', '-')}",
            f"Live alert: {rule.title} crossed its threshold (or came back).",
            f"{ALERT_PREFIX}{rule.name}",
            [f"{ALERT_PREFIX}{rule.name}", f"{ALERT_PREFIX}{rule.name}{RESOLVED_SUFFIX}"],
            words.alert_subject,
            words.alert_body,
        )
        for rule in RULES
    ]
    found.append(
        automation(
            "postflow-alert-frameio-circuit",
            "The Frame.io circuit breaker opened (Frame.io failing) or closed again.",
            "postflow.frameio.circuit",
            [CIRCUIT_OPENED, CIRCUIT_CLOSED],
            words.circuit_subject,
            words.circuit_body,
        )
    )
    return found


def fan_out(actions: list[dict[str, Any]], block_ids: Sequence[str]) -> list[dict[str, Any]]:
    """``actions`` with each ``send-notification`` action repeated once per block of
    ``block_ids`` (Prefect runs each action on its own: one block's failure is its own)."""
    out: list[dict[str, Any]] = []
    for action in actions:
        if action.get("type") != "send-notification":
            out.append(action)
            continue
        out += [{**action, "block_document_id": block_id} for block_id in block_ids]
    return out


def render(
    alerts_block_id: str,
    tuning: PostflowTuning,
    sensor_deployment_id: str | None,
    path: Path = AUTOMATIONS_YAML,
    extra_block_ids: Sequence[str] = (),
    language: str = "en",
) -> list[dict[str, Any]]:
    """Fill the placeholders and return the automation definitions (dicts).

    Each notification goes to ``alerts_block_id`` and to each of ``extra_block_ids``; the
    restart action is dropped when there is no sensor deployment to restart. The messages are
    in ``language``: a YAML action's ``subject_<language>`` / ``body_<language>`` replace its
    ``subject`` / ``body`` when present (``discord_language``: ``"en"`` or ``"fr"``).
    """
    text = path.read_text(encoding="utf-8")
    values = {
        "__ALERTS_BLOCK_ID__": alerts_block_id,
        "__SENSOR_DEPLOYMENT_ID__": sensor_deployment_id or "",
        "__FAILED_INGESTS__": str(tuning.alert_failed_ingests_per_hour),
        "__ESCALATION_WINDOW_SECONDS__": "3600",
        "__SENSOR_SILENCE_SECONDS__": str(tuning.alert_sensor_silence_seconds),
        "__INGEST_RUNNING_SECONDS__": str(tuning.alert_ingest_running_seconds),
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    definitions = yaml.safe_load(text)["automations"] + live_alert_automations(
        alerts_block_id, language
    )
    block_ids = list(dict.fromkeys([alerts_block_id, *extra_block_ids]))
    for definition in definitions:
        definition["actions"] = fan_out(
            [
                _in_language(a, language)
                for a in definition["actions"]
                if a.get("type") != "run-deployment" or a.get("deployment_id")
            ],
            block_ids,
        )
    return definitions


def _in_language(action: dict[str, Any], language: str) -> dict[str, Any]:
    """``action`` with its ``subject``/``body`` in ``language`` and the translations dropped
    (Prefect's action model has no such fields)."""
    out = {k: v for k, v in action.items() if not k.startswith(("subject_", "body_"))}
    for key in ("subject", "body"):
        if f"{key}_{language}" in action:
            out[key] = action[f"{key}_{language}"]
    return out


def apply_automations(
    alerts_block: str,
    tuning: PostflowTuning | None = None,
    path: Path = AUTOMATIONS_YAML,
    installation: str = DEFAULT_INSTALLATION,
    extra_blocks: Sequence[str] = (),
    language: str = "en",
) -> list[str]:
    """Create or replace ``installation``'s automations of ``automations.yaml``; returns their
    names (``<installation>-...``, :func:`automation_name`).

    Args:
        alerts_block: ``"<block type slug>/<name>"`` of a saved notification block, e.g.
            ``"postflow-discord/postflow-discord"`` (any Prefect notification block works).
        tuning: thresholds; the block defaults when None.
        path: the definitions file.
        installation: ``PostflowSettings.installation``; only automations it owns
            (:func:`owned`) are replaced.
        extra_blocks: ``"<block type slug>/<name>"`` of more notification blocks that get
            every alert too (``PostflowSettings.notify_blocks``).
        language: the messages' language (``PostflowSettings.discord_language``).

    Raises:
        ConfigurationError: the notification block, or one of ``extra_blocks``, is not saved
            (nothing is applied then).
    """
    try:
        block = Block.load(alerts_block)
    except ValueError as exc:
        raise ConfigurationError(
            f"notification block {alerts_block!r} not found: run `postflow setup` with "
            "POSTFLOW_DISCORD_WEBHOOK_URL set, or save one in the Prefect UI"
        ) from exc
    definitions = render(
        str(block._block_document_id),
        tuning or PostflowTuning(),
        _sensor_deployment_id(),
        path,
        block_document_ids(extra_blocks),
        language,
    )
    names = []
    for definition in definitions:
        definition["name"] = automation_name(definition["name"], installation)
        definition["tags"] = [*definition.get("tags", []), INSTALLATION_TAG + installation]
        automation = Automation.model_validate(definition)
        for old in _existing(automation.name):
            if owned(old, installation):
                old.delete()
        automation.create()
        names.append(automation.name)
    return names


def block_document_ids(refs: Sequence[str]) -> list[str]:
    """The block document id of each ``"<block type slug>/<name>"`` of ``refs``.

    Raises:
        ConfigurationError: naming every ref with no saved block document.
    """
    ids, missing = [], []
    with get_client(sync_client=True) as client:
        for ref in refs:
            slug, _, name = ref.partition("/")
            try:
                document = client.read_block_document_by_name(name, slug, include_secrets=False)
            except ObjectNotFound:
                missing.append(ref)
            else:
                ids.append(str(document.id))
    if missing:
        raise ConfigurationError(
            f"notification block(s) {', '.join(missing)} (POSTFLOW_NOTIFY_BLOCKS) not found: "
            "save each in the Prefect UI (Blocks, e.g. Slack Webhook) under that name, or "
            "fix the name (<block-type-slug>/<block-name>)"
        )
    return ids


def _existing(name: str) -> list[Automation]:
    """The automations named exactly ``name`` (Prefect's name filter is ``any_``: exact)."""
    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(name)
    return [Automation.model_validate(a.model_dump()) for a in found]
