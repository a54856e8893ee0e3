"""``postflow setup`` and ``postflow login``: the commands that connect to a Frame.io account.

Registered on the main app by ``postflow/cli/main.py`` (after ``watch``, where ``--help`` lists
them); the work is done in ``postflow/cli/setup_wizard.py`` and ``postflow/setup/blocks.py``.
"""

from __future__ import annotations

import typer

from postflow.cli.terminal import AuthMode, console, load_settings, with_prefect_api


def _print_url(text: str) -> None:
    """Print the sign-in URL unwrapped, so a terminal can open it and a user can copy it."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


@with_prefect_api
def setup(
    auth_mode: AuthMode | None = typer.Option(
        None,
        help="server_to_server (organisations managed in the Adobe Admin Console) or web_app "
        "(sign in as a user); default: the saved mode, else asked.",
    ),
    no_prompt: bool = typer.Option(
        False, "--no-prompt", help="Never ask: every value from POSTFLOW_* variables or .env."
    ),
) -> None:
    """Set RL PostFlow up against a Frame.io account: the one way in (idempotent).

    Asks for the auth mode and the IMS client id/secret (from the Adobe Developer Console;
    POSTFLOW_FRAMEIO_CLIENT_ID/SECRET skip the questions), saves them in a Prefect block,
    signs in (web_app), lists the accounts, workspaces and projects the credentials can see
    and lets you pick one, and writes its ids to .env. Also saves the tuning block and the
    Discord block (from POSTFLOW_DISCORD_WEBHOOK_URL). Secrets never go to .env.
    """
    import webbrowser

    from postflow.cli.setup_wizard import run_setup
    from postflow.setup.blocks import login as run_login

    def ask(label: str, secret: bool) -> str:
        return typer.prompt(label, hide_input=secret)

    def sign_in(block: str) -> None:
        run_login(
            block,
            print_line=_print_url,
            open_url=webbrowser.open,
            paste=None
            if no_prompt
            else (lambda: ask("Paste the URL the browser landed on", False)),
        )

    mode = auth_mode.value if auth_mode else None
    done = run_setup(load_settings(), None if no_prompt else ask, mode, sign_in)
    for name, what in done.items():
        console.print(f"  {name}: {what}", highlight=False, soft_wrap=True)
    console.print("[green]Set up.[/green] Next: postflow health, then postflow up")


@with_prefect_api
def login(
    paste: bool = typer.Option(
        False,
        "--paste",
        help="Paste the URL the browser lands on, even for an http://127.0.0.1 redirect URI "
        "(always so for an https:// one).",
    ),
    no_browser: bool = typer.Option(False, "--no-browser", help="Only print the URL."),
    timeout_seconds: float = typer.Option(
        300.0, min=1, help="Wait this long for the callback (seconds)."
    ),
) -> None:
    """Sign in to Adobe IMS (OAuth web app) and store the tokens in the credentials block.

    Prints the authorize URL (and opens it in a browser when it can). With an https://
    redirect URI (Adobe's rule; POSTFLOW_FRAMEIO_REDIRECT_URI) the browser then shows an
    error page on localhost: paste that page's URL here (it carries the code). With an
    http://127.0.0.1 URI the code is received directly. The code is exchanged and the
    access and refresh tokens saved; refreshed tokens are saved back, so you log in once.
    """
    import webbrowser

    from postflow.setup.blocks import login as run_login

    settings = load_settings()
    run_login(
        settings.frameio_credentials_block,
        print_line=_print_url,
        open_url=(lambda _url: None) if no_browser else webbrowser.open,
        paste=lambda: typer.prompt("Paste the URL the browser landed on (its address bar)"),
        timeout_seconds=timeout_seconds,
        force_paste=paste,
    )
    console.print(f"[green]Logged in[/green]; tokens saved in {settings.frameio_credentials_block}")
