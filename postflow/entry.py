"""The ``postflow`` console script: check the working directory's ``.env``, then run the CLI.

Prefect reads ``.env`` when it is first imported, so a ``.env`` that is not UTF-8 would stop
every command, ``--help`` too, with a ``UnicodeDecodeError`` traceback before our own error
handling exists. :func:`main` checks it first, with the standard library only
(:mod:`config.dotenv_file`), and only then imports :mod:`postflow.cli.main`, which imports typer and
rich only; each command imports Prefect (and pandas, the SDK) when it uses them.
Nothing happens at import: a worker or a test importing ``postflow`` is not stopped by it.
"""

from __future__ import annotations


def main() -> None:
    """Run ``postflow``: exit 2 with one line naming the ``.env`` when it cannot be read;
    python-dotenv's "could not parse" warning is said once per process."""
    from config.dotenv_file import exit_if_dotenv_unreadable, warn_once

    warn_once()
    exit_if_dotenv_unreadable()
    from postflow.cli.main import app

    app()
