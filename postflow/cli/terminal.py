"""The terminal of the ``postflow`` commands: rich consoles, the one error handler, checked options.

Every command module prints through :data:`console` (stdout) and :data:`err` (stderr). Every
error that reaches the top of a command goes through :class:`PostflowGroup`, the app's click
group, and becomes one line on stderr::

    Error: <what went wrong>; <which setting or argument to change>

with exit code 2 for what the user can fix (our :mod:`core.errors`, pydantic validation of
``POSTFLOW_*`` settings, ``OSError`` s, typer/click usage errors) and 1 for a bug (the traceback
then goes to a file, never to the screen; ``POSTFLOW_TRACEBACK=1`` shows it instead).
Arguments are checked by typer before a command's body runs (fixed choices are enums, windows
go through :func:`check_since`, folders through :func:`require_folder`), so a bad argument
never starts a temporary Prefect server (:func:`with_prefect_api`).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from core.errors import ConfigurationError, PostflowError

if TYPE_CHECKING:
    # pydantic(-settings) and httpx load when a command needs them, not at --help
    from pydantic import ValidationError

    from config.sections.state import StateSettings
    from config.sections.tunnel import TunnelSettings
    from config.settings import PostflowSettings

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err = Console(stderr=True)
TRACEBACK_FILE = Path(tempfile.gettempdir()) / "postflow-last-traceback.txt"
SECRET_WORDS = ("secret", "token", "password", "webhook")


class AuthMode(enum.StrEnum):
    """Adobe IMS grant of the Frame.io credentials (``FrameioCredentials.auth_mode``)."""

    server_to_server = "server_to_server"
    web_app = "web_app"


class Strategy(enum.StrEnum):
    """How a file reaches Frame.io (``PostflowSettings.upload_strategy``)."""

    multipart = "multipart"
    auto = "auto"
    remote = "remote"


def say(text: str) -> None:
    """Print one notice line on stderr, never wrapped (e.g. "starting a temporary server")."""
    err.print(Text(text), soft_wrap=True)


def public_tunnel_warning(settings: TunnelSettings) -> str | None:
    """The warning for remote uploads through an account-less quick tunnel, or None.

    cloudflared's own docs call quick tunnels (``trycloudflare.com``) "for testing and
    development only": https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/do-more-with-tunnels/trycloudflare/
    """
    if settings.upload_strategy == "multipart" or settings.tunnel_mode != "quick":
        return None
    return (
        f"Warning: upload_strategy={settings.upload_strategy} with tunnel_mode=quick: Frame.io "
        "pulls renders through a public trycloudflare.com URL (signed, expiring); quick tunnels "
        "are for testing. In production use tunnel_mode=named (docs/remote-upload.md) or "
        "upload_strategy=multipart."
    )


def warn_if_public(settings: PostflowSettings) -> None:
    """Print :func:`public_tunnel_warning` on stderr when it applies."""
    warning = public_tunnel_warning(settings)
    if warning:
        err.print(Text(warning, style="yellow"), soft_wrap=True)


def _validation_line(exc: ValidationError) -> str:
    """``POSTFLOW_X='v': why; ...`` for settings, ``Model.field: why`` for other models."""
    from config.settings import PostflowSettings

    parts = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        if exc.title == PostflowSettings.__name__:
            name = f"POSTFLOW_{field.upper()}"
        else:
            name = f"{exc.title}.{field}" if field else exc.title
        shown = repr(error.get("input"))
        if any(word in field for word in SECRET_WORDS) or len(shown) > 60 or not field:
            shown = ""
        parts.append(f"{name}{'=' + shown if shown else ''}: {error['msg']}")
    return "invalid setting " + "; ".join(parts)


def one_line(exc: BaseException) -> str:
    """The one line a user sees for ``exc`` (no newline, no traceback).

    Args:
        exc: an error that reached the top of a command.

    Returns:
        What went wrong and, where we know it, which setting or argument to change.
    """
    from pydantic import ValidationError

    if isinstance(exc, click_errors.UsageError):
        where = exc.ctx.command_path if exc.ctx else "postflow"
        text = f"{where}: {exc.format_message()} (see `{where} --help`)"
    elif isinstance(exc, ValidationError):
        text = _validation_line(exc)
    elif isinstance(exc, PostflowError):
        text = str(exc)
    elif isinstance(exc, OSError):
        path = f" {exc.filename}" if exc.filename else ""
        text = (
            f"{exc.strerror or exc}:{path} (check the path settings, e.g. POSTFLOW_STATE_DIR, "
            "POSTFLOW_WATCH_PATH, and their permissions)"
        )
    else:
        text = (
            f"unexpected {type(exc).__name__}: {exc} (a bug: the traceback is in "
            f"{TRACEBACK_FILE}; please report it)"
        )
    return " ".join(text.replace("Value error, ", "").split())


def _show(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr; return the exit code (2: the user can fix it)."""
    from pydantic import ValidationError

    user_error = isinstance(
        exc, PostflowError | ValidationError | OSError | click_errors.UsageError
    )
    if not user_error:
        with contextlib.suppress(OSError):  # the line is shown even if /tmp is not writable
            TRACEBACK_FILE.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    err.print(Text.assemble(("Error: ", "bold red"), one_line(exc)), soft_wrap=True)
    return 2 if user_error else 1


class PostflowGroup(TyperGroup):
    """The ``postflow`` click group: runs a command and turns whatever it raises into one line
    (:func:`one_line`) and an exit code (2 for user errors, 1 for bugs, 130 for Ctrl-C)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the command line; exits (``SystemExit``) unless ``standalone_mode`` is False."""
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
            code = result if isinstance(result, int) else 0
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help())
            code = 0
        except typer.Abort:
            err.print("Aborted.")
            code = 1
        except Exception as exc:  # noqa: BLE001 - the one place errors become a line
            if os.environ.get("POSTFLOW_TRACEBACK") or not standalone_mode:
                raise
            code = _show(exc)
        if not standalone_mode:
            return code
        sys.exit(code)


def load_settings() -> PostflowSettings:
    """Settings from ``POSTFLOW_*`` variables and ``.env``.

    Returns:
        The validated settings.

    Raises:
        typer.Exit: with code 2, after printing the one line of why, when a setting is invalid.
    """
    from pydantic import ValidationError

    from config.settings import PostflowSettings

    try:
        return PostflowSettings()
    except ValidationError as exc:
        raise typer.Exit(_show(exc)) from exc


def check_since(value: str | None) -> str | None:
    """typer callback of every ``--since``: a duration (``12h``, ``7d``), an ISO date or epoch
    seconds; anything else is a bad parameter before the command starts.

    Raises:
        typer.BadParameter: the text is none of these.
    """
    from core.since import parse_since

    try:
        parse_since(value)
    except ConfigurationError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a duration like 12h or 7d, an ISO date or epoch seconds"
        ) from exc
    return value


def check_new_folder(value: Path | None) -> Path | None:
    """typer callback of a folder option that is created when missing (``report --out``):
    the first of it and its parents that exists must be a folder.

    Raises:
        typer.BadParameter: a file is in the way (``/etc/hostname/x``).
    """
    for part in (value, *value.absolute().parents) if value is not None else ():
        if part.exists():
            if not part.is_dir():
                raise typer.BadParameter(f"{value}: {part} is a file, so no folder can be there")
            break
    return value


def require_folder(path: Path, setting: str) -> None:
    """Check that ``path`` is an existing folder before a command starts anything.

    Raises:
        ConfigurationError: it is missing or a file; the message names ``setting``.
    """
    if not path.exists():
        raise ConfigurationError(f"{setting}={path}: no such folder; create it or change {setting}")
    if not path.is_dir():
        raise ConfigurationError(f"{setting}={path}: is a file, not a folder; change {setting}")


def with_prefect_api(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command that needs the Prefect API on ``PREFECT_API_URL``, or on a temporary
    local server started for it, announced in one line (:func:`say`; its output goes to
    ``<state dir>/prefect-server.log``, off the screen) and stopped with it: on return, Ctrl-C,
    SIGTERM and ``kill -9`` (:func:`postflow.serve.prefect_server.prefect_api`). Arguments are
    validated by typer before this runs, so a bad argument never starts a server.

    Args:
        command: a typer command function.

    Returns:
        The same command, wrapped (its signature, help and options are unchanged).
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import httpx

        from postflow.serve.prefect_server import exit_on_sigterm

        settings = load_settings()
        exit_on_sigterm()
        with command_prefect_api(settings) as api_url:
            try:
                return command(*args, **kwargs)
            except (httpx.TransportError, RuntimeError) as exc:
                if not _unreachable(exc, api_url):
                    raise
                raise ConfigurationError(
                    f"the Prefect API at PREFECT_API_URL={api_url} cannot be reached "
                    f"({_reason(exc)}); start it (postflow up) or change or unset PREFECT_API_URL"
                ) from exc

    return wrapper


def _unreachable(exc: BaseException, api_url: str) -> bool:
    """True when ``exc`` says the Prefect API at ``api_url`` did not answer: a connection
    error on a request to it, or Prefect's "Failed to reach API at ..." (its client)."""
    if isinstance(exc, RuntimeError):
        return str(exc).startswith("Failed to reach API")
    try:
        return str(exc.request.url).startswith(api_url.rstrip("/"))  # type: ignore[attr-defined]
    except RuntimeError:  # an httpx error without its request
        return False


def _reason(exc: BaseException) -> str:
    """The innermost cause of ``exc`` in words, e.g. "[Errno 111] Connection refused"."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def command_prefect_api(settings: StateSettings) -> Iterator[str]:
    """:func:`postflow.serve.prefect_server.prefect_api` for a command, announced by :func:`say`;
    Prefect's pending events are sent before a temporary server stops, so Prefect's events
    client does not print "Unable to connect" and "EventsWorker failed" once the server is gone.

    Yields:
        The API URL.
    """
    from postflow.serve.prefect_server import prefect_api

    with prefect_api(settings.state_dir / "prefect-server.log", say) as api_url:
        try:
            yield api_url
        finally:
            drain_prefect_clients()


def drain_prefect_clients(timeout_seconds: float = 10.0) -> None:
    """Send the events and run logs Prefect still holds, quietly, while the API is up.

    Prefect batches both in background services (``EventsWorker``, ``APILogWorker``) that
    flush at exit; after a temporary server has stopped that flush prints "Unable to connect",
    "EventsWorker failed" or "--- Error logging to API ---". Draining first avoids it; the
    services' own "Still processing items" progress line is silenced meanwhile.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    loggers = [logging.getLogger(name) for name in ("EventsWorker", "APILogWorker")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        for service in (EventsWorker, APILogWorker):
            service.drain_all(timeout=timeout_seconds, at_exit=False)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
