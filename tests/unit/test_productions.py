"""Several productions: the file, its errors, and which production a path belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.productions import load_productions, production_settings, settings_for_path
from config.settings import PostflowSettings
from core.errors import ConfigurationError

TWO = """
[[production]]
name = "undlm"
watch_path = "{root}/UNDLM/BY_SHOT"
frameio_project_id = "p-undlm"
discord_block = "undlm-discord"
discord_language = "fr"

[[production]]
name = "chrono"
watch_path = "{root}/CHRONO/BY_SHOT"
frameio_project_id = "p-chrono"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "productions.toml"
    path.write_text(text.format(root=tmp_path))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> PostflowSettings:
    return PostflowSettings(
        productions_file=_write(tmp_path, TWO),
        state_dir=tmp_path / "state",
        frameio_account_id="acct",
        discord_block="house-discord",
    )


def test_without_a_file_the_installation_is_one_production(tmp_path: Path) -> None:
    base = PostflowSettings(watch_path=tmp_path)
    assert production_settings(base) == [base]
    assert settings_for_path(base, str(tmp_path / "x.mov")) is base


def test_each_production_gets_its_project_folder_and_state(settings, tmp_path: Path) -> None:
    undlm, chrono = production_settings(settings)
    assert (undlm.production, undlm.frameio_project_id) == ("undlm", "p-undlm")
    assert undlm.watch_path == tmp_path / "UNDLM" / "BY_SHOT"
    assert undlm.state_dir == tmp_path / "state" / "productions" / "undlm"
    assert (undlm.discord_block, undlm.discord_language) == ("undlm-discord", "fr")
    assert (chrono.discord_block, chrono.discord_language) == ("house-discord", "en")
    assert chrono.frameio_account_id == "acct"  # inherited


def test_a_path_belongs_to_the_production_whose_folder_holds_it(settings, tmp_path: Path) -> None:
    path = tmp_path / "CHRONO" / "BY_SHOT" / "sub" / "SC01_UNDLM_00412_V001.mov"
    assert settings_for_path(settings, str(path)).production == "chrono"
    outside = tmp_path / "elsewhere" / "SC01_UNDLM_00412_V001.mov"
    with pytest.raises(ConfigurationError, match="in no production's watch folder"):
        settings_for_path(settings, str(outside))


def test_production_settings_of_a_production_are_itself(settings) -> None:
    undlm = production_settings(settings)[0]
    assert production_settings(undlm) == [undlm]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "declares no [[production]]"),
        ("[[production]\nname=", "not valid TOML"),
        (
            '[[production]]\nname = "Bad Name"\nwatch_path = "/a"\nframeio_project_id = "p"',
            "production #1, name",
        ),
        ('[[production]]\nname = "a"\nwatch_path = "/a"', "production #1, frameio_project_id"),
        (
            '[[production]]\nname = "a"\nwatch_path = "/a"\nframeio_project_id = "p"\ncolour = 1',
            "production #1, colour",
        ),
        (
            '[[production]]\nname = "a"\nwatch_path = "/a"\nframeio_project_id = "p"\n'
            '[[production]]\nname = "a"\nwatch_path = "/b"\nframeio_project_id = "q"',
            "'a' twice",
        ),
        (
            '[[production]]\nname = "a"\nwatch_path = "/m/A"\nframeio_project_id = "p"\n'
            '[[production]]\nname = "b"\nwatch_path = "/m/A/B"\nframeio_project_id = "q"',
            "overlap",
        ),
    ],
)
def test_a_bad_file_is_one_clear_configuration_error(tmp_path: Path, text: str, message: str):
    path = tmp_path / "productions.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_productions(path)


def test_a_missing_or_binary_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="No such file"):
        load_productions(tmp_path / "missing.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_productions(binary)
