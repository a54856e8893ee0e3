"""The ``--json`` option of the commands that print data, and how it prints.

With ``--json`` stdout carries only JSON: :func:`print_json` writes one document (one line),
:func:`print_json_lines` one object per line for lists (none for an empty list). Progress bars,
tables and hints go away or to stderr; errors stay one line on stderr
(``postflow/cli/terminal.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import typer


def json_option(holds: str) -> Any:
    """The ``--json`` option; ``holds`` says what the JSON holds (shown by ``--help``)."""
    return typer.Option(False, "--json", help=holds)


def print_json(document: Any) -> None:
    """``document`` as one line of JSON on stdout (non-JSON values, e.g. paths, as text).

    Text stays readable (``é``, not ``\\u00e9``); a file name that is not UTF-8 (lone
    surrogates) is written as ``\\udcXX`` escapes, still valid JSON, instead of failing.
    """
    text = json.dumps(document, ensure_ascii=False, default=str)
    typer.echo(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def print_json_lines(rows: Iterable[Any]) -> None:
    """Each of ``rows`` as one line of JSON on stdout."""
    for row in rows:
        print_json(row)
