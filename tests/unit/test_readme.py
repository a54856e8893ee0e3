"""The README and docs/: the settings reference is the generated one and lists every setting,
the commands table names every ``--json`` option, the named tunnel's ingress rule routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blocks.settings import PostflowTuning
from config.settings import PostflowSettings
from postflow.cli.settings_doc import END, START, settings_markdown

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
COMMANDS = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
REMOTE_UPLOAD = (ROOT / "docs" / "remote-upload.md").read_text(encoding="utf-8")
FIX = "run `postflow settings --write docs/settings.md`"


def _reference() -> str:
    return SETTINGS[SETTINGS.index(START) : SETTINGS.index(END) + len(END)]


def test_every_setting_and_tuning_field_is_in_the_settings_reference():
    reference = _reference()
    missing = [f"POSTFLOW_{n.upper()}" for n in PostflowSettings.model_fields]
    missing = [name for name in missing if f"`{name}`" not in reference]
    missing += [n for n in PostflowTuning.model_fields if f"| `{n}` |" not in reference]
    assert not missing, f"missing from docs/settings.md: {missing}; {FIX}"


def test_the_settings_reference_is_the_generated_one():
    assert _reference() == settings_markdown(), FIX


def test_cache_stats_default_window_matches_its_help():
    from typer.testing import CliRunner

    from postflow.cli.main import app

    result = CliRunner().invoke(app, ["cache", "stats", "--help"], env={"COLUMNS": "200"})
    assert "7d" in result.stdout
    assert "`postflow cache stats [--since 7d] [--json]`" in COMMANDS


def test_the_commands_table_names_every_json_option():
    """Each command with ``--json`` (enumerated from the typer app) shows it in docs/commands.md."""
    import re

    import typer
    from typer.core import TyperGroup

    from postflow.cli.main import app

    def leaves(group: Any, path: str) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for name, command in group.commands.items():
            if isinstance(command, TyperGroup):
                found += leaves(command, f"{path}{name} ")
            else:
                found.append((f"{path}{name}", command))
        return found

    with_json = [
        path
        for path, command in leaves(typer.main.get_command(app), "")
        if any("--json" in getattr(p, "opts", ()) for p in command.params)
    ]
    missing = [p for p in with_json if not re.search(rf"`postflow {p}[^`]*\[--json\]`", COMMANDS)]
    assert len(with_json) >= 14 and not missing, f"no [--json] in docs/commands.md for {missing}"


def test_the_documented_ingress_rule_routes_its_hostname_to_the_range_server(tmp_path: Path):
    from tests import fake_cloudflared  # routes by ingress rules as a token tunnel does

    section = REMOTE_UPLOAD[REMOTE_UPLOAD.index("## Named tunnel") :]
    rules_file = tmp_path / "config.yml"
    rules_file.write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    rules = fake_cloudflared.load_ingress(str(rules_file))
    settings = PostflowSettings(tunnel_mode="named", range_server_port=8790)
    origin = f"http://{settings.range_server_host}:{settings.range_server_port}"
    assert fake_cloudflared.route(rules, "media.example.com") == origin
    assert fake_cloudflared.route(rules, "elsewhere.example.com") == "http_status:404"
    assert "POSTFLOW_RANGE_SERVER_PORT=8790" in section


def test_the_readme_is_short_and_its_quick_start_is_the_two_commands():
    """A newcomer's page: at most 200 lines, and CI's `.ci/run` runs its test command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200, "README.md is over 200 lines: move detail to docs/"
    quick = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1] for b in quick.split("```")[1::2]]
    commands = [line.split("#", 1)[0].strip() for b in blocks for line in b.splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped but - and _, spaces to -."""
    import re

    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _outside_code(text: str) -> str:
    """The Markdown outside fenced blocks and inline code spans (links there are not links)."""
    import re

    prose = "\n".join(part for part in text.split("```")[::2])
    return re.sub(r"`[^`\n]*`", "", prose)


def _anchors(markdown: Path) -> set[str]:
    headings = [line for line in _outside_code(markdown.read_text()).splitlines() if line]
    return {_slug(line.lstrip("#")) for line in headings if line.startswith("#")}


def test_every_relative_link_of_the_readme_and_docs_points_at_something_that_exists():
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken: list[str] = []
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", _outside_code(page.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            checked += 1
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert checked >= 20 and not broken, broken
