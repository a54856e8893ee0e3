"""Nomenclature: seed formats, junk, errors, NFC, and a property test."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigurationError, NamingError
from tasks.structure.naming import Ignored, ShotName, load_nomenclature

RULES = load_nomenclature()


@pytest.mark.parametrize(
    ("name", "scene", "shot", "version", "extension"),
    [
        ("SC01_UNDLM_00412_V002.mov", "SC01", "UNDLM_00412", 2, ".mov"),
        (
            "13H49_-_RECUPERATION_DES_2_SURVIVANTS_S01_V001.mov",
            "13H49_-_RECUPERATION_DES_2_SURVIVANTS",
            "S01",
            1,
            ".mov",
        ),
        (
            "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE_S03_V005.mp4",
            "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE",
            "S03",
            5,
            ".mp4",
        ),
        ("SC12_ABC_0001_V010.MXF", "SC12", "ABC_0001", 10, ".mxf"),
        ("/mnt/lucid/BY_SHOT/SC01_UNDLM_00412_V003.braw", "SC01", "UNDLM_00412", 3, ".braw"),
        ("UNDLM_SEQ01_00042_v002.mp4", "SEQ01", "00042", 2, ".mp4"),
    ],
)
def test_seed_formats_parse(name, scene, shot, version, extension):
    parsed = RULES.parse(name)
    assert (parsed.scene, parsed.shot, parsed.version) == (scene, shot, version)
    assert parsed.extension == extension
    assert parsed.folder_path == ("SCENES", scene, shot)


@pytest.mark.parametrize(
    "ext",
    [".mov", ".mp4", ".avi", ".mkv", ".mxf", ".prores", ".dnxhd", ".r3d", ".braw", ".MOV", ".Mp4"],
)
def test_every_supported_extension_any_case(ext):
    assert RULES.parse(f"SC01_UNDLM_00412_V002{ext}").extension == ext.lower()


@pytest.mark.parametrize(
    ("name", "size"),
    [
        (".DS_Store", 10),
        ("._SC01_UNDLM_00412_V002.mov", 10),
        ("Thumbs.db", 10),
        (".hidden.mov", 10),
        ("SC01_UNDLM_00412_V002.mov.tmp", 10),
        ("SC01_UNDLM_00412_V002.mov.part", 10),
        ("SC01_UNDLM_00412_V002.partial", 10),
        ("clip.mov.filepart", 10),
        ("clip.mov.crdownload", 10),
        ("SC01_UNDLM_00412_V002.mov~", 10),
        ("SC01_UNDLM_00412_V002.mov", 0),
    ],
)
def test_junk_and_partial_files_are_ignored(name, size):
    outcome = RULES.classify(name, size)
    assert isinstance(outcome, Ignored)
    assert outcome.reason


def test_bad_name_is_a_typed_error_naming_file_and_rules():
    with pytest.raises(NamingError) as info:
        RULES.classify("RANDOM_RENDER_FINAL.mov", 100)
    assert info.value.file == "RANDOM_RENDER_FINAL.mov"
    assert info.value.rules_tried == [
        "scene_code_shot",
        "scene_title_shot",
        "project_sequence_shot",
    ]
    assert "RANDOM_RENDER_FINAL.mov" in str(info.value)


def test_unsupported_extension_is_an_error():
    with pytest.raises(NamingError, match="unsupported extension '.txt'"):
        RULES.classify("SC01_UNDLM_00412_V002.txt", 100)


def test_nfd_and_nfc_names_map_to_one_folder():
    nfc = "NUIT_D_ÉTÉ_-_CAFÉ_S02_V004.mov"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    a, b = RULES.parse(nfc), RULES.parse(nfd)
    assert a.folder_path == b.folder_path
    assert a.file == b.file == nfc


def test_as_dict_has_the_documented_json_shape():
    data = RULES.parse("SC01_UNDLM_00412_V002.mov").as_dict()
    assert set(data) == {"file", "scene", "shot", "version", "extension", "folder_path", "rule"}
    assert data["version"] == 2
    assert data["folder_path"] == ["SCENES", "SC01", "UNDLM_00412"]


@given(st.text(max_size=120), st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)))
def test_classify_never_raises_anything_but_naming_error(name, size):
    try:
        outcome = RULES.classify(name, size)
    except NamingError as exc:
        assert exc.file == unicodedata.normalize("NFC", exc.file)
    else:
        assert isinstance(outcome, Ignored | ShotName)


@given(st.from_regex(r"SC[0-9]{1,3}_[A-Z]{2,6}_[0-9]{1,5}_V[0-9]{1,4}\.mov", fullmatch=True))
def test_generated_scene_code_names_always_parse(name):
    parsed = RULES.parse(name)
    assert parsed.rule == "scene_code_shot"
    assert name.startswith(parsed.scene + "_" + parsed.shot)


def _rules_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text('extensions = [".mov"]\n' + body, encoding="utf-8")
    return path


def test_rule_without_required_group_is_a_configuration_error(tmp_path):
    path = _rules_file(tmp_path, "[[rules]]\nname='x'\npattern='(?P<scene>A)_(?P<shot>B)'\n")
    with pytest.raises(ConfigurationError, match="version"):
        load_nomenclature(path)


def test_rule_with_bad_regex_is_a_configuration_error(tmp_path):
    path = _rules_file(tmp_path, "[[rules]]\nname='x'\npattern='(?P<scene>'\n")
    with pytest.raises(ConfigurationError, match="bad regex"):
        load_nomenclature(path)


def test_rule_example_that_does_not_parse_is_a_configuration_error(tmp_path):
    body = (
        "[[rules]]\nname='x'\npattern='(?P<scene>A)_(?P<shot>B)_V(?P<version>\\d+)'\n"
        "examples=['Z_B_V1.mov']\n"
    )
    with pytest.raises(ConfigurationError, match="example"):
        load_nomenclature(_rules_file(tmp_path, body))


def test_custom_folder_template_is_used(tmp_path):
    body = (
        "[[rules]]\nname='x'\npattern='(?P<scene>A)_(?P<shot>B)_V(?P<version>\\d+)'\n"
        "folder='VFX/{scene}/{shot}/v{version}'\n"
    )
    parsed = load_nomenclature(_rules_file(tmp_path, body)).parse("A_B_V7.mov")
    assert parsed.folder_path == ("VFX", "A", "B", "v7")
