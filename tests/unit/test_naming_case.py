"""One folder per shot whatever the case; digits in rules are ASCII only."""

from __future__ import annotations

import pytest

from core.errors import NamingError
from tasks.structure.naming import load_nomenclature

RULES = load_nomenclature()


def test_a_lower_case_name_lands_in_the_upper_case_shot_folder():
    upper = RULES.parse("SC01_UNDLM_00412_V002.mov")
    lower = RULES.parse("sc01_undlm_00412_v003.mov")
    assert lower.folder_path == upper.folder_path == ("SCENES", "SC01", "UNDLM_00412")
    assert (lower.scene, lower.shot, lower.version) == ("SC01", "UNDLM_00412", 3)


def test_the_file_keeps_its_own_name():
    assert RULES.parse("sc01_undlm_00412_v003.mov").file == "sc01_undlm_00412_v003.mov"


@pytest.mark.parametrize(
    "name",
    [
        "SC01_UNDLM_00412_V\u0662.mov",  # ARABIC-INDIC DIGIT TWO
        "SC\uff10\uff11_UNDLM_00412_V002.mov",  # FULLWIDTH digits in the scene
    ],
)
def test_non_ascii_digits_do_not_parse(name):
    with pytest.raises(NamingError):
        RULES.parse(name)


def test_a_rule_may_keep_the_case_as_written(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        'extensions = [".mov"]\n[[rules]]\nname = "keep"\n'
        "pattern = '(?P<scene>[a-z]+)_(?P<shot>[a-z]+)_v(?P<version>\\d+)'\n"
        'ignore_case = true\ncase = "keep"\n',
        encoding="utf-8",
    )
    parsed = load_nomenclature(path).parse("Forest_Wide_V1.mov")
    assert parsed.folder_path == ("SCENES", "Forest", "Wide")


def test_an_unknown_case_option_is_a_configuration_error(tmp_path):
    from core.errors import ConfigurationError

    path = tmp_path / "rules.toml"
    path.write_text(
        'extensions = [".mov"]\n[[rules]]\nname = "bad"\n'
        "pattern = '(?P<scene>a)_(?P<shot>b)_v(?P<version>\\d+)'\ncase = \"title\"\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="case"):
        load_nomenclature(path)
