"""What ``postflow`` imports before it does anything: typer and rich, not the pipeline's heavy
libraries (issue 20: ``postflow --help`` took 2.4 s, most of it importing Prefect and pandas).

Each case runs in a fresh interpreter (this one has imported everything already) and reads its
``sys.modules`` back. About imports, not timing: ``make bench`` (P7) measures the seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("prefect", "pandas", "frameio", "matplotlib", "sqlalchemy")

SCRIPTS = {
    "import core": "import core",
    "import postflow.cli.main": "import postflow.cli.main",
    "postflow --help": "from postflow.entry import main; main()",
    "postflow manifest --help": "from postflow.entry import main; main()",
    "postflow nomenclature NAME": "from postflow.entry import main; main()",
}
ARGV = {
    "postflow --help": ["--help"],
    "postflow manifest --help": ["manifest", "--help"],
    "postflow nomenclature NAME": ["nomenclature", "SC01_UNDLM_00412_V002.mov"],
}


def _modules_after(case: str, cwd: Path) -> set[str]:
    """The top-level names in ``sys.modules`` once ``case`` has run in a new interpreter."""
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.argv = ["postflow", *{ARGV.get(case, [])!r}]
        try:
            {SCRIPTS[case]}
        except SystemExit:
            pass
        sys.stdout.flush()
        sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("MODULES "))
    return {name.split(".")[0] for name in json.loads(line.removeprefix("MODULES "))}


@pytest.mark.parametrize("case", list(SCRIPTS))
def test_starting_the_cli_imports_no_heavy_library(case: str, tmp_path: Path) -> None:
    loaded = _modules_after(case, tmp_path)

    assert "typer" in loaded or case == "import core"
    assert sorted(loaded.intersection(HEAVY)) == []


def test_help_does_not_load_the_settings_model(tmp_path: Path) -> None:
    loaded = _modules_after("postflow --help", tmp_path)

    assert "pydantic_settings" not in loaded and "httpx" not in loaded
