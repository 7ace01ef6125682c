"""Zone configuration: every zone carries its NDW zone code (published as zoneId), once over all municipalities."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anpr.settings import CONF_DIR
from anpr.zones import load_municipalities, zone_codes

RING = '[[5.10, 52.08], [5.12, 52.08], [5.10, 52.10]]'


def conf_with(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "municipalities"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text)
    return tmp_path


def municipality(code: str, *zones: tuple[str, int | None]) -> str:
    out = [f'municipality = "Stad {code}"', f'code = "{code}"']
    for zone_id, ndw in zones:
        out += ["[[zones]]", f'zone_id = "{zone_id}"', f'name = "Zone {zone_id}"', f"polygon = {RING}"]
        out += [f"ndw_code = {ndw}"] if ndw is not None else []
    return "\n".join(out) + "\n"


def test_the_shipped_zone_has_its_ndw_code():
    assert zone_codes(load_municipalities()) == {"GM0344-ZE1": 344001}


def test_a_zone_without_ndw_code_is_refused_in_one_line_naming_file_and_zone(tmp_path):
    conf = conf_with(tmp_path, proef=municipality("GM9001", ("GM9001-ZE1", 9001001), ("GM9001-ZE2", None)))
    with pytest.raises(ValueError) as refused:
        load_municipalities(conf)
    message = str(refused.value)
    assert message == f"{conf / 'municipalities' / 'proef.toml'}: zone GM9001-ZE2 has no ndw_code " \
                      "(its NDW zone code, published as zoneId)"
    assert "\n" not in message


def test_a_duplicate_ndw_code_is_refused_within_a_file_and_across_files(tmp_path):
    same_file = conf_with(tmp_path / "a", proef=municipality("GM9001", ("GM9001-ZE1", 7), ("GM9001-ZE2", 7)))
    with pytest.raises(ValueError, match=r"proef\.toml: zone GM9001-ZE2 has ndw_code 7, as zone GM9001-ZE1 has$"):
        load_municipalities(same_file)
    across = conf_with(tmp_path / "b", eerst=municipality("GM9001", ("GM9001-ZE1", 7)),
                       later=municipality("GM9002", ("GM9002-ZE1", 7)))
    with pytest.raises(ValueError, match=r"later\.toml: zone GM9002-ZE1 has ndw_code 7, as zone GM9001-ZE1 "
                                         r"\(eerst\.toml\) has$"):
        load_municipalities(across)


@pytest.mark.parametrize("value", ['"344001"', "0", "-3", "true", "2147483648"])
def test_an_ndw_code_that_is_not_a_positive_integer_is_refused(tmp_path, value):
    text = municipality("GM9001", ("GM9001-ZE1", None)) + f"ndw_code = {value}\n"
    conf = conf_with(tmp_path, proef=text)
    with pytest.raises(ValueError, match=r"proef\.toml: zone GM9001-ZE1: ndw_code .* is not a positive integer$"):
        load_municipalities(conf)


def test_the_demo_configuration_loads_with_its_geojson(tmp_path):
    shutil.copytree(CONF_DIR / "municipalities", tmp_path / "municipalities")
    [utrecht] = load_municipalities(tmp_path)
    assert utrecht.zones[0].ndw_code == 344001 and utrecht.zones[0].zone_id == "GM0344-ZE1"


def test_a_municipality_without_scope_gets_the_company_vehicle_default_and_a_declared_one_is_typed(tmp_path):
    declared = municipality("GM9002", ("GM9002-ZE1", 9002001)).replace(
        "[[zones]]", '[scope]\nvoertuig_types = ["Vrachtauto"]\nunclassified = []\n\n[[zones]]', 1)
    conf = conf_with(tmp_path, plain=municipality("GM9001", ("GM9001-ZE1", 9001001)), strict=declared)
    scopes = {m.code: m.scope for m in load_municipalities(conf)}
    assert (scopes["GM9001"].voertuig_types, scopes["GM9001"].eigenaar_types, scopes["GM9001"].unclassified) == (
        ["Bestelauto", "Vrachtauto", "Bus"], ["Bedrijf"], ["Buitenlands", "Onbekend"])
    assert (scopes["GM9002"].voertuig_types, scopes["GM9002"].eigenaar_types, scopes["GM9002"].unclassified) == (
        ["Vrachtauto"], ["Bedrijf"], [])


@pytest.mark.parametrize("line", ['unclassified = ["Onbekend", "Personenauto"]', 'eigenaar_types = ["Rechtspersoon"]',
                                  'keep_cars = true'])
def test_a_scope_with_an_unknown_label_or_key_is_refused_naming_the_file(tmp_path, line):
    text = municipality("GM9003", ("GM9003-ZE1", 9003001)).replace("[[zones]]", f"[scope]\n{line}\n\n[[zones]]", 1)
    with pytest.raises(ValueError, match="gm9003.toml"):
        load_municipalities(conf_with(tmp_path, gm9003=text))
