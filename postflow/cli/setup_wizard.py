"""``postflow setup`` end to end: the one way from credentials to a configured installation.

1. the auth mode (``--auth-mode``, the saved block's, or asked: server-to-server works only for
   organisations managed in the Adobe Admin Console, web_app for everyone else);
2. the credentials and the other blocks (:func:`postflow.setup.blocks.setup_blocks`: values from
   ``POSTFLOW_*`` / ``.env``, else asked, secrets hidden);
3. web_app without tokens: the sign-in (:func:`postflow.setup.blocks.login`);
4. the projects the credentials can see, through the SDK (:mod:`postflow.cli.projects`), and the
   user's pick (the only one, or ``POSTFLOW_FRAMEIO_PROJECT_ID`` when set, is taken as is);
5. ``.env``: the chosen account and project ids (and non-default Frame.io URLs), never a secret.

Interactive by default; with ``--no-prompt`` every value comes from ``POSTFLOW_*`` variables
and anything missing is one error line naming the variable. Running it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dotenv import set_key

from blocks.frameio import FrameioCredentials
from blocks.frameio_catalog import ProjectRef
from blocks.settings import load_block
from config.sections.frameio import FrameioSettings
from config.settings import PostflowSettings
from core.errors import ConfigurationError
from postflow.cli.projects import list_projects, pick_project
from postflow.setup.blocks import Prompt, setup_blocks

AUTH_MODES = ("server_to_server", "web_app")
SignIn = Callable[[str], None]


def _auth_mode(settings: FrameioSettings, prompt: Prompt | None, given: str | None) -> str | None:
    """The mode to save: ``given``, else the saved block's (None: keep), else asked."""
    if given:
        return given
    if load_block(FrameioCredentials, settings.frameio_credentials_block) is not None:
        return None
    if prompt is None:
        return "server_to_server"
    label = (
        "Auth mode: server_to_server (organisations managed in the Adobe Admin Console) "
        "or web_app (sign in as a Frame.io user)"
    )
    while (answer := prompt(label, False).strip()) not in AUTH_MODES:
        label = f"{answer!r} is neither: type server_to_server or web_app"
    return answer


def _env_values(settings: PostflowSettings, project: ProjectRef) -> dict[str, str]:
    """What ``.env`` gets: the ids, plus the Frame.io URLs when they are not the defaults."""
    defaults = PostflowSettings.model_fields
    values = {
        "POSTFLOW_FRAMEIO_ACCOUNT_ID": project.account_id,
        "POSTFLOW_FRAMEIO_PROJECT_ID": project.project_id,
    }
    for name in ("frameio_api_base_url", "frameio_ims_base_url", "frameio_redirect_uri"):
        value = getattr(settings, name)
        if value != defaults[name].default:
            values[f"POSTFLOW_{name.upper()}"] = value
    return values


def write_env(path: Path, values: dict[str, str]) -> str:
    """Set ``values`` in the dotenv file ``path`` (created if missing; other lines kept).

    Returns:
        ``"written"`` or ``"unchanged"``.

    Raises:
        OSError: the file cannot be written.
    """
    before = path.read_text(encoding="utf-8") if path.exists() else None
    for key, value in values.items():
        set_key(str(path), key, value, quote_mode="never")
    return "unchanged" if path.read_text(encoding="utf-8") == before else "written"


def run_setup(
    settings: PostflowSettings,
    prompt: Prompt | None,
    auth_mode: str | None,
    sign_in: SignIn,
    env_file: Path = Path(".env"),
) -> dict[str, str]:
    """Run the steps of the module doc; returns ``{what: what happened}`` for the CLI to show.

    Args:
        settings: the current settings (block names, ids, URLs).
        prompt: asks ``(label, secret) -> answer``; None: never ask (``--no-prompt``).
        auth_mode: ``--auth-mode``, or None.
        sign_in: runs the web_app sign-in for the named credentials block.
        env_file: the ``.env`` to update.

    Raises:
        ConfigurationError: a value is missing and cannot be asked for, or no project fits.
        FrameioError: the credentials were refused, or a listing failed.
    """
    done = setup_blocks(settings, prompt, _auth_mode(settings, prompt, auth_mode))
    credentials = load_block(FrameioCredentials, settings.frameio_credentials_block)
    if not isinstance(credentials, FrameioCredentials):
        raise ConfigurationError(f"the block {settings.frameio_credentials_block!r} did not save")
    if credentials.auth_mode == "web_app" and credentials.refresh_token is None:
        sign_in(settings.frameio_credentials_block)
        done["sign-in"] = "signed in; tokens saved in the block"
    ask_number = (lambda label: prompt(label, False)) if prompt else None
    chosen = pick_project(list_projects(settings), ask_number, settings.frameio_project_id)
    done["project"] = f"{chosen.project_name} ({chosen.project_id}) in {chosen.account_name}"
    done[str(env_file)] = write_env(env_file, _env_values(settings, chosen))
    return done
