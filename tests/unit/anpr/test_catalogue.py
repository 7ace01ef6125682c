"""The table catalogue: what vendors are promised, and what the platform refuses to build (scenario 3)."""

from __future__ import annotations

import re

import pytest

from anpr.catalogue import (
    ANONYMOUS_PROTECTION,
    CATALOGUE,
    DERIVABLE,
    SOURCES,
    TABLES,
    DeclarationError,
    parse_catalogue,
)
from anpr.settings import CONF_DIR

SHIPPED = (CONF_DIR / "tables.toml").read_text()


def with_table(dimensions: list[str], extra_dims: str = "", name: str = "t_extra") -> str:
    return SHIPPED + extra_dims + f"""
[[tables]]
name = "{name}"
number = "9.9"
title = "test"
purpose = "a declaration under test"
unit = "voertuig en eigenaar"
dimensions = {dimensions!r}
measures = ["aantalPassages", "aantalUniekeVoertuigen"]
""".replace("'", '"')


def test_every_working_group_table_is_declared_with_purpose_unit_and_protection():
    numbers = {spec.number.rstrip("abcde") for spec in TABLES.values()}
    assert numbers == {"4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.12",
                       "5.1", "5.2", "5.3", "5.4", "5.5"}
    assert len([s for s in TABLES.values() if s.number.startswith("4.8")]) >= 3
    for spec in TABLES.values():
        assert spec.purpose and spec.unit and spec.protection
        assert all(m in spec.definitions for m in spec.measures)
    assert "10 distinct vehicles" in TABLES["t4_2_dagdeel"].protection


def test_working_group_field_names_reach_the_api():
    assert TABLES["t4_1_uur_camera"].columns == [
        "gemeenteCode", "zoneId", "zoneAanduiding", "cameraId", "locatie", "rijRichtingZone", "voertuigType",
        "weekDag", "uur", "maand", "jaar", "aantalPassages", "aantalUniekeVoertuigen"]
    assert TABLES["t4_8a_sector_voertuig"].measures == ["aantalPassages", "aantalRitten", "aantalUniekeVoertuigen"]
    assert TABLES["t4_5_bezoeker_herkomst"].keys == {"typeBezoeker": "type_bezoeker",
                                                     "herkomstProvincie": "herkomst_provincie"}
    assert TABLES["t4_12_camera"].measures == ["beschikbaarheidsPercentage"]


@pytest.mark.parametrize(("dimension", "declaration", "rule"), [
    ("ontheffingReden", '[dimensions.ontheffingReden]\nsource = "ontheffing_reden"\n', "exemption-reason"),
    ("SBI08Code", '[dimensions.SBI08Code]\nsource = "sbi_code"\n', "sbi-too-fine"),
    ("herkomstPostcode", '[dimensions.herkomstPostcode]\nsource = "herkomst_postcode4"\n', "region-too-fine"),
    ("herkomstGemeente", '[dimensions.herkomstGemeente]\nsource = "gemeente_code"\nkind = "region"\n'
                         'level = "gemeente"\n', "region-too-fine"),
    ("kwartier", '[dimensions.kwartier]\nsource = "kwartier"\nkind = "time"\nlevel = "kwartier"\n', "time-too-fine"),
    ("voertuig", '[dimensions.voertuig]\nsource = "period_token"\n', "identifier"),
])
def test_scenario_3_declarations_are_refused_naming_the_rule(dimension, declaration, rule):
    with pytest.raises(DeclarationError, match=rf"scenario 3 \[{rule}\]") as refused:
        parse_catalogue(with_table(["voertuigType", dimension, "maand", "jaar"], declaration))
    assert dimension in str(refused.value)


def test_a_cell_keyed_by_one_camera_and_minute_is_refused():
    minute = '[dimensions.minuut]\nsource = "minuut"\n'
    with pytest.raises(DeclarationError, match=r"scenario 3 \[camera-minute\]"):
        parse_catalogue(with_table(["cameraId", "minuut"], minute))


def test_sbi_level_follows_configuration():
    """The sector column holds the afdeling: a configured level of afdeling or finer passes, coarser is refused."""
    for level in ("afdeling", "groep", "subklasse"):
        parse_catalogue(SHIPPED, sbi_max_level=level)
    with pytest.raises(DeclarationError, match=r"scenario 3 \[sbi-too-fine\].*SBI08GroepCode \(sbi_groep_code\) is "
                                               r"SBI afdeling, finer than the configured sectie"):
        parse_catalogue(SHIPPED, sbi_max_level="sectie")
    assert SOURCES["sbi_groep_code"].level == "afdeling" and SOURCES["sbi_sectie"].level == "sectie"


SECTOR_TABLES = {"t4_2_dagdeel", "t4_3_venstertijd", "t4_6_bezoeker_sector", "t4_8a_sector_voertuig",
                 "t4_8e_sector_brandstof", "t5_1b_eigenaar_sector", "t5_4b_toegang_tot_sector"}


def test_the_sector_tables_say_which_sbi_level_they_publish_and_that_recoding_may_publish_the_section():
    assert {n for n, s in TABLES.items() if "SBI08GroepCode" in s.dimensions} == SECTOR_TABLES
    for name in SECTOR_TABLES:
        spec = TABLES[name]
        assert spec.definitions["SBI08GroepCode"].startswith("SBI 2008 afdeling (division: the first two digits")
        assert "it holds the SBI 2008 sectie (a letter A-U) instead" in spec.definitions["SBI08GroepCode"]
        label = spec.definitions["SBI08Omschrijving"]
        assert label.endswith("The section's name where the release publishes sections.")
        assert spec.protection.endswith(spec.recoding_note)
        assert ("the primary rules would suppress more than 50% of its cells over all zones, or where protecting it "
                "as is puts more than 5% of a zone's passages in its suppressed cells (and recoding hides fewer "
                "passages in all), the table is published with SBI08GroepCode at the SBI 2008 sectie instead of the "
                "afdeling") in spec.protection
    # 4.9 lists the sector as a characteristic, not a key: global recoding does not apply to it
    overview = TABLES["t4_9_overzicht"]
    assert overview.recoding_note == "" and "Global recoding" not in overview.protection
    assert overview.definitions["SBI08GroepCode"] == CATALOGUE.dimensions["SBI08GroepCode"].definition
    assert "sectie" not in overview.definitions["SBI08GroepCode"]
    fuel_tables = {n for n, s in TABLES.items() if "typeBrandstof" in s.keys and s.kind == "cells"}
    assert fuel_tables == {"t4_8b_voertuig_brandstof_emissie", "t4_8e_sector_brandstof"}
    for name in fuel_tables:
        spec = TABLES[name]
        assert "typeBrandstof in fuel groups instead of fuels (Emissievrij for Elektriciteit and Waterstof)" in \
            spec.recoding_note
        assert "`recoded`: typeBrandstof brandstofgroep) it holds the fuel group instead" in \
            spec.definitions["typeBrandstof"]
    assert all(s.recoding_note == "" for n, s in TABLES.items() if n not in SECTOR_TABLES | fuel_tables)


def test_recoding_switched_off_leaves_the_protection_text_without_it():
    def describe(name: str, counts: list[str]) -> str:
        return "Protected."

    off = parse_catalogue(SHIPPED, protection=describe, recoding=(["sbi_groep_code"], 1.0)).tables
    assert off["t4_6_bezoeker_sector"].protection == "Protected."
    shipped = CATALOGUE.dimensions["SBI08GroepCode"].definition
    assert off["t4_6_bezoeker_sector"].definitions["SBI08GroepCode"] == shipped
    on = parse_catalogue(SHIPPED, protection=describe, recoding=(["sbi_groep_code"], 0.25)).tables
    assert on["t4_6_bezoeker_sector"].protection.startswith(
        "Protected. Global recoding before suppression: in a month where the primary rules would suppress more "
        "than 25%")


def test_a_declaration_cannot_make_a_fine_column_look_coarse():
    disguised = '[dimensions.sector]\nsource = "sbi_code"\nkind = "sbi"\nlevel = "sectie"\n'
    with pytest.raises(DeclarationError, match="sbi_code is sbi/subklasse"):
        parse_catalogue(with_table(["sector"], disguised))


def test_exemptions_as_kind_only_are_allowed():
    kind = '[dimensions.ontheffing]\nsource = "ontheffing"\nfill = "Onbekend"\nen = "exemption"\n'
    spec = parse_catalogue(with_table(["voertuigType", "ontheffing", "maand", "jaar"], kind)).tables["t_extra"]
    assert spec.keys == {"voertuigType": "voertuig_type", "ontheffing": "ontheffing"}


def test_municipalities_questions_are_declared_with_their_field_names():
    """Seed 001 section 1.2: owner type, exemptions, non-compliance; the day type where weekdays are used."""
    assert TABLES["t5_1_eigenaar_voertuig"].keys == {"eigenaarType": "eigenaar_type", "typeVoertuig": "voertuig_type"}
    assert TABLES["t5_1b_eigenaar_sector"].keys == {"eigenaarType": "eigenaar_type",
                                                    "SBI08GroepCode": "sbi_groep_code"}
    assert TABLES["t5_2_ontheffing"].keys == {"typeOntheffing": "ontheffing", "typeVoertuig": "voertuig_type",
                                              "dagType": "dag_type"}
    assert TABLES["t5_3_naleving"].columns == [
        "gemeenteCode", "zoneId", "zoneAanduiding", "zoneNaam", "zeToegang", "weekVanMaand", "tijdVak", "maand",
        "jaar", "aantalPassages", "aantalUniekeVoertuigen"]
    for name in ("t5_1_eigenaar_voertuig", "t5_2_ontheffing", "t5_3_naleving"):
        assert "10 distinct vehicles" in TABLES[name].protection
    assert "Verboden" in TABLES["t5_3_naleving"].definitions["zeToegang"]


def test_access_and_exemptions_hold_per_passage_day_and_owner_type_per_vehicle():
    """A vehicle's access may end mid-month and a day exemption covers one day: unique vehicles do not add
    up over them, which the audit reads from SOURCES."""
    assert SOURCES["ze_toegang"].per == SOURCES["ontheffing"].per == "passage"
    assert SOURCES["eigenaar_type"].per == "vehicle"
    assert DERIVABLE["dag_type"] == ("week_dag",)


def test_counts_need_vehicles_and_owners_as_unit_of_protection():
    text = with_table(["voertuigType"]).replace('unit = "voertuig en eigenaar"\ndimensions = ["voertuigType"]',
                                                'unit = "geen"\ndimensions = ["voertuigType"]')
    with pytest.raises(DeclarationError, match="protects vehicles and owners"):
        parse_catalogue(text)


def test_shipped_catalogue_is_the_api_catalogue():
    assert CATALOGUE.tables is TABLES
    assert TABLES["t4_1_uur_camera"].name == "t4_1_uur_camera"


def test_every_field_has_one_english_snake_case_name_declared_in_the_catalogue():
    """The working group's data dictionary: each Dutch camelCase field also has an English snake_case name."""
    spec = TABLES["t4_12_camera"]
    assert spec.names("en") == {
        "gemeenteCode": "municipality_code", "zoneId": "zone_id", "zoneAanduiding": "zone_label",
        "cameraId": "camera_id", "cameraNaam": "camera_name", "latitude": "latitude", "longitude": "longitude",
        "kijkRichtingGraden": "view_direction_degrees", "detectieRichting": "detection_direction",
        "rijRichtingZone": "zone_direction", "maand": "month", "jaar": "year",
        "beschikbaarheidsPercentage": "availability_percentage"}
    assert spec.names("nl") == {c: c for c in spec.columns}
    for table in TABLES.values():
        english = table.names("en")
        assert list(english) == table.columns and len(set(english.values())) == len(english)
        assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name) for name in english.values())
    assert TABLES["t4_9_overzicht"].names("en")["kenmerk"] == "characteristic"
    assert TABLES["t4_8a_sector_voertuig"].names("en")["aantalRitten"] == "number_of_trips"


def test_a_table_field_without_an_english_name_or_sharing_one_is_refused():
    bare = '[dimensions.ontheffing]\nsource = "ontheffing"\nfill = "Onbekend"\n'
    with pytest.raises(DeclarationError, match=r"table t_extra: no English name \(en\) for ontheffing"):
        parse_catalogue(with_table(["voertuigType", "ontheffing", "maand", "jaar"], bare))
    twin = bare + 'en = "vehicle_type"\n'
    with pytest.raises(DeclarationError, match="voertuigType and ontheffing share the English name vehicle_type"):
        parse_catalogue(with_table(["voertuigType", "ontheffing", "maand", "jaar"], twin))
    camel = bare + 'en = "exemptionType"\n'
    with pytest.raises(ValueError, match="en"):
        parse_catalogue(with_table(["voertuigType", "ontheffing", "maand", "jaar"], camel))


def test_the_zone_text_id_is_a_label_of_zone_id_on_every_row():
    assert CATALOGUE.dimensions["zoneAanduiding"].label_of == "zoneId"
    assert all(t.columns[:3] == ["gemeenteCode", "zoneId", "zoneAanduiding"] for t in TABLES.values())
    unlabelled = SHIPPED.replace('source = "zone_id"\nlabel_of = "zoneId"\n', 'source = "zone_id"\n')
    with pytest.raises(DeclarationError, match="zoneAanduiding"):
        parse_catalogue(unlabelled)


def anonymous_table(dimensions: list[str], measures: list[str], unit: str = "detectie") -> str:
    return SHIPPED + f"""
[[tables]]
name = "t_anon"
number = "9.9"
title = "test"
purpose = "a declaration under test"
unit = "{unit}"
kind = "anonymous"
dimensions = {dimensions!r}
measures = {measures!r}
""".replace("'", '"')


def test_the_anonymous_table_has_4_1s_grain_no_vehicle_data_and_is_published_as_is():
    spec = TABLES["t5_5_buiten_doelgroep"]
    assert spec.kind == "anonymous" and spec.unit == "detectie" and not spec.protected and spec.counts == []
    assert spec.keys == {"cameraId": "camera_id", "rijRichtingZone": "rij_richting_zone", "weekDag": "week_dag",
                         "uur": "uur"}
    assert {k: v for k, v in TABLES["t4_1_uur_camera"].keys.items() if k != "voertuigType"} == spec.keys
    assert spec.protection == ANONYMOUS_PROTECTION and "published as is" in spec.protection
    assert "counted again" in spec.protection and "distinct vehicles" not in spec.protection
    assert spec.names("en")["aantalDetectiesBuitenDoelgroep"] == "number_of_detections_out_of_scope"
    assert [s.name for s in TABLES.values() if not s.protected] == ["t4_12_camera", "t5_5_buiten_doelgroep"]


@pytest.mark.parametrize(("dimensions", "measures", "unit", "refusal"), [
    (["cameraId", "uur", "maand", "jaar"], ["aantalDetectiesBuitenDoelgroep", "aantalPassages"], "detectie",
     "counts detections without vehicle identity, so aantalPassages cannot be among its measures"),
    (["cameraId", "uur", "maand", "jaar"], ["aantalUniekeVoertuigen"], "detectie", "aantalUniekeVoertuigen cannot"),
    (["cameraId", "voertuigType", "maand", "jaar"], ["aantalDetectiesBuitenDoelgroep"], "detectie",
     "comes from the out_of_scope table, which has no voertuigType"),
    (["cameraId", "uur", "maand", "jaar"], ["aantalDetectiesBuitenDoelgroep"], "voertuig en eigenaar",
     "counts detections"),
])
def test_an_anonymous_table_with_vehicle_data_is_refused_in_one_line(dimensions, measures, unit, refusal):
    with pytest.raises(DeclarationError, match=re.escape(refusal)) as refused:
        parse_catalogue(anonymous_table(dimensions, measures, unit))
    assert "\n" not in str(refused.value)


def test_a_vehicle_table_cannot_publish_anonymous_counts():
    text = with_table(["voertuigType", "maand", "jaar"]).replace(
        'measures = ["aantalPassages", "aantalUniekeVoertuigen"]\n"""', "")
    text = text.rsplit("measures = ", 1)[0] + 'measures = ["aantalPassages", "aantalDetectiesBuitenDoelgroep"]\n'
    with pytest.raises(DeclarationError, match="measures must be among"):
        parse_catalogue(text)


def test_visitor_thresholds_out_of_order_are_refused_in_one_line():
    from anpr.catalogue import Definitions

    refused = r"bezoeker_dagelijks_min_dagen \(3\) must exceed bezoeker_incidenteel_min_dagen \(5\)"
    with pytest.raises(ValueError, match=refused):
        Definitions(rit_max_gap_minuten=720, bezoeker_incidenteel_min_dagen=5, bezoeker_dagelijks_min_dagen=3,
                    beschikbaarheid_min_zone_passages=20)
    assert Definitions(rit_max_gap_minuten=720, bezoeker_incidenteel_min_dagen=2, bezoeker_dagelijks_min_dagen=15,
                       beschikbaarheid_min_zone_passages=20).bezoeker_dagelijks_min_dagen == 15
