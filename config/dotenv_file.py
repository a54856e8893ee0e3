"""The ``.env`` file of the working directory, checked before anything reads it.

Prefect reads ``.env`` when it is first imported, and so does :class:`config.settings.
PostflowSettings` each time it is built (hundreds of times in one command). Two things go wrong
with a bad file: bytes that are not UTF-8 make every read raise ``UnicodeDecodeError`` (a
traceback before any command starts, even ``--help``), and a line python-dotenv cannot parse
is logged as a warning by every read. :func:`dotenv_problem` finds the first before Prefect is
imported (``postflow/__init__.py`` stops the command with one line); :func:`warn_once` makes
python-dotenv say the second once per process. Standard library only: it runs before Prefect.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

DOTENV = Path(".env")


def dotenv_problem(path: Path = DOTENV) -> str | None:
    """What makes ``path`` unreadable as a ``.env`` file, in one line, or None.

    A missing file, or a folder, is no problem: it is not read.
    """
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"{path.absolute()}: cannot be read ({exc.strerror}); fix its permissions"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return (
            f"{path.absolute()}: line {line} is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8 or remove that line"
        )
    return None


def exit_if_dotenv_unreadable(path: Path = DOTENV) -> None:
    """Print :func:`dotenv_problem` as one line on stderr and exit 2, when there is one."""
    problem = dotenv_problem(path)
    if problem:
        sys.stderr.write(f"Error: {problem}\n")
        raise SystemExit(2)


class _OncePerMessage(logging.Filter):
    """Lets each distinct message through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def warn_once() -> None:
    """python-dotenv's "could not parse statement starting at line N" once per process, not
    once per settings read (idempotent)."""
    logger = logging.getLogger("dotenv.main")
    if not any(isinstance(f, _OncePerMessage) for f in logger.filters):
        logger.addFilter(_OncePerMessage())
