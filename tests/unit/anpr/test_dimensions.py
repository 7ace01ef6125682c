"""Derived register dimensions, row by row, with the shipped conf/register.toml."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from anpr import dimensions as D
from anpr.register_conf import REGISTER_CONF, RegisterConfError, SbiConf, load_register_conf, read_register_conf
from anpr.settings import CONF_DIR

CONF = load_register_conf()


def test_vehicle_type_from_eu_category_then_rdw_kind_and_mass():
    rows = [  # category, voertuigsoort, max mass -> voertuigType
        ("N1", "Bedrijfsauto", 3000, "Bestelauto"), ("n3g", "Bedrijfsauto", 40000, "Vrachtauto"),
        ("M1", "Personenauto", 1700, "Personenauto"), ("M3", "Bus", 19000, "Bus"),
        ("", "Bedrijfsauto", 3500, "Bestelauto"), (None, "Bedrijfsauto", 3501, "Vrachtauto"),
        (None, "Bedrijfsauto", None, "Overig"), (None, "Motorfiets", None, "Overig"),
        ("O2", "Aanhangwagen", 750, "Overig"), (None, "Personenauto", None, "Personenauto"),
    ]
    got = D.voertuig_type(pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows]),
                          pa.array([r[2] for r in rows], pa.int64()), CONF)
    assert got.to_pylist() == [r[3] for r in rows]


@pytest.mark.parametrize(("fuels", "euro", "brandstof", "klasse"), [
    ("Diesel", 5, "Diesel", "Euro 5"),
    ("Benzine|Elektriciteit", 6, "Hybride", "Euro 6"),  # plug-in hybrid
    ("Elektriciteit", None, "Elektriciteit", "Z"),
    ("Waterstof|Elektriciteit", None, "Waterstof", "Z"),
    ("Benzine|LPG", 4, "LPG", "Euro 4"),  # bi-fuel: registered as its gas
    ("Benzine|CNG", 6, "Aardgas", "Euro 6"),
    ("Alcohol", 0, "Overig", "Euro 0"),
    (None, None, None, None),  # no fuel rows at all
])
def test_fuel_and_emission_class_from_the_fuel_rows(fuels, euro, brandstof, klasse):
    assert D.brandstof(pa.array([fuels], pa.string()), CONF).to_pylist() == [brandstof]
    assert D.emissieklasse(pa.array([fuels], pa.string()), pa.array([euro], pa.int8()), CONF).to_pylist() == [klasse]


def test_body_type_from_code_family_description_or_inrichting():
    rows = [("AB", None, None, "Hatchback"), ("BC", None, "opleggertrekker", "Trekker"), ("CE", None, None, "Bus"),
            (None, "Stationwagen", None, "Stationwagen"), (None, None, "Gesloten opbouw", "Bestelwagen"),
            ("ZZ", None, None, "Overig"), (None, None, None, None)]
    code, omschrijving, inrichting = (pa.array([r[i] for r in rows], pa.string()) for i in range(3))
    got = D.carrosserie(code, omschrijving, inrichting, CONF)
    assert got.to_pylist() == [r[3] for r in rows]


@pytest.mark.parametrize(("text", "expected"), [
    ("20190315", date(2019, 3, 15)), ("2019-03-15T00:00:00.000", date(2019, 3, 15)),
    ("15-03-2019", date(2019, 3, 15)), ("03/15/2019 12:00:00 AM", date(2019, 3, 15)),
    ("20191332", None), ("", None), (None, None),
])
def test_dates_in_every_shape_the_exports_use(text, expected):
    assert D.parse_date(text) == expected


@pytest.mark.parametrize(("text", "euro"), [("6", 6), ("EURO VI C", 6), ("EURO 6 W", 6), ("Euro 5", 5),
                                            ("EURO IV", 4), ("0", 0), ("EURO VI-E", 6), ("EURO 6 AP", 6),
                                            ("", None), (None, None)])
def test_euro_class_from_code_or_exhaust_level(text, euro):
    assert D.parse_euro(text) == euro


# Spellings that parsed to None (emissieklasse and ZE access Onbekend): no space, suffixes, step letters, EEV.
@pytest.mark.parametrize(("text", "euro"), [
    ("EURO6", 6), ("EURO 6d-TEMP", 6), ("Euro 6d", 6), ("Euro 6dTEMP", 6), ("EURO 6D-ISC-FCM", 6), ("Euro 6e", 6),
    ("EURO 6c", 6), ("6d-TEMP", 6), ("EURO 5B", 5), ("euro 5a", 5), ("EURO_4", 4), ("EURO VIE", 6), ("EURO VIC", 6),
    ("EURO IIIA", 3), ("EEV", 5), ("Euro EEV", 5),
])
def test_euro_class_in_every_common_rdw_and_eu_spelling(text, euro):
    assert D.parse_euro(text) == euro


@pytest.mark.parametrize("text", ["EURO 7", "EURO VII", "EURO 60", "EURO IVECO", "Z", "Elektriciteit"])
def test_no_euro_class_is_read_into_other_text(text):
    assert D.parse_euro(text) is None


def test_sbi_section_of_a_code():
    assert D.sbi_sectie("49.41") == ("H", "Vervoer en opslag")
    assert D.sbi_sectie("0411") is None  # division 04 lies in no section


@pytest.mark.parametrize(("code", "published"), [
    ("43221", ("43", "Gespecialiseerde werkzaamheden in de bouw")),  # a subclass: its division, not group 432
    ("49410", ("49", "Vervoer over land")),
    ("49.41", ("49", "Vervoer over land")),
    ("4941", ("49", "Vervoer over land")),
    ("38110", ("38", "Afvalinzameling en -behandeling; voorbereiding tot recycling")),  # was "38" before too
    ("01130", ("01", "Landbouw, jacht en dienstverlening voor de landbouw en jacht")),  # was section "A"
    ("77110", ("77", "Verhuur en lease van auto's, consumentenartikelen, machines en overige roerende goederen")),
    ("63110", ("63", "SBI-afdeling 63 (sectie J: Informatie en communicatie)")),  # no configured name
    ("99000", ("99", "SBI-afdeling 99 (sectie U: Extraterritoriale organisaties)")),
    ("0411", None), ("4", None), ("", None), ("x", None), (None, None),  # no division in a section: Onbekend
])
def test_every_company_is_published_at_its_sbi_afdeling(code, published):
    assert D.sbi_afdeling(code, CONF) == published


def test_a_division_without_a_configured_name_is_named_from_its_section():
    without_62 = CONF.sbi.model_copy(update={"afdelingen": [a for a in CONF.sbi.afdelingen if a.code != "62"]})
    conf = CONF.model_copy(update={"sbi": without_62})
    assert D.sbi_afdeling("62010", conf) == ("62", "SBI-afdeling 62 (sectie J: Informatie en communicatie)")
    assert D.sbi_afdeling("62010", CONF) == ("62", "Dienstverlenende activiteiten op het gebied van "
                                                   "informatietechnologie")


def test_every_sector_of_the_synthetic_register_has_one_two_digit_code_and_a_name():
    from anpr.synth.register import SECTORS

    published = {D.sbi_afdeling(code, CONF) for code, *_ in SECTORS}
    assert {code for code, _ in published} == {"01", "10", "38", "41", "42", "43", "45", "46", "47", "49", "53", "56",
                                               "62", "64", "68", "70", "77", "81", "84", "86"}
    assert all(name and not name.startswith("SBI-afdeling") for _, name in published)  # all configured


@pytest.mark.parametrize(("afdelingen", "error"), [
    ([{"code": "494", "omschrijving": "x"}], "SBI afdeling code '494' must be exactly two digits"),
    ([{"code": "4", "omschrijving": "x"}], "SBI afdeling code '4' must be exactly two digits"),
    ([{"code": "4a", "omschrijving": "x"}], "must be exactly two digits"),
    ([{"code": "H", "omschrijving": "x"}], "must be exactly two digits"),
    ([{"code": "49", "omschrijving": "a"}, {"code": "53", "omschrijving": "b"}, {"code": "49", "omschrijving": "c"}],
     "SBI afdeling codes must be unique; listed more than once: 49"),
    ([{"code": "49", "omschrijving": ""}], "SBI afdeling omschrijving must not be empty"),
    ([{"code": "49", "omschrijving": "  "}], "SBI afdeling omschrijving must not be empty"),
    ([{"code": "49", "omschrijving": "x", "prefixes": ["49"]}], "Extra inputs are not permitted"),
])
def test_sbi_afdelingen_must_be_two_digit_codes_listed_once(afdelingen, error):
    with pytest.raises(ValidationError, match=error):
        SbiConf.model_validate({"afdelingen": afdelingen})


def test_the_old_sbi_groups_are_refused_in_one_line_naming_the_setting(tmp_path):
    shipped = (CONF_DIR / REGISTER_CONF).read_text()
    bad = shipped.replace('{ code = "49", omschrijving = "Vervoer over land" }',
                          '{ code = "494", omschrijving = "Goederenvervoer over de weg" }')
    assert bad != shipped
    (tmp_path / REGISTER_CONF).write_text(bad)
    with pytest.raises(RegisterConfError) as refused:
        read_register_conf(tmp_path / REGISTER_CONF)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (f"{tmp_path / REGISTER_CONF}: sbi.afdelingen.9.code: SBI afdeling code '494' must be "
                       'exactly two digits (e.g. "49")')


@pytest.mark.parametrize(("employees", "size"), [(0, "Klein"), (49, "Klein"), (50, "Midden"), (249, "Midden"),
                                                 (250, "Groot"), (None, None)])
def test_company_size_classes(employees, size):
    assert D.bedrijfsgrootte(employees, CONF) == size


def test_owner_type_from_stated_kind_or_kvk_number():
    got = D.eigenaar_type(pa.array(["B", "particulier", None, None]), pa.array([None, None, "12345678", None]), CONF)
    assert got.to_pylist() == ["Bedrijf", "Particulier", "Bedrijf", "Particulier"]


def test_exemption_kinds_keep_only_temporary_or_long_term():
    got = D.ontheffing_soort(pa.array(["Dagontheffing", "jaar", "medisch", None]), CONF)
    assert got.to_pylist() == ["Tijdelijk", "Langdurig", None, None]


VEHICLES = [  # type, class, first admission, body -> status on 2026-12-31, 2027-01-01, 2028-01-01, 2030-01-01
    ("Bestelauto", "Euro 4", date(2008, 1, 1), None, ["Verboden"] * 4),
    ("Bestelauto", "Euro 5", date(2012, 1, 1), None, ["Overgang", "Verboden", "Verboden", "Verboden"]),
    ("Bestelauto", "Euro 6", date(2019, 1, 1), None, ["Overgang", "Overgang", "Verboden", "Verboden"]),
    ("Bestelauto", "Euro 6", date(2025, 3, 1), None, ["Verboden"] * 4),  # new vans must be zero emission
    ("Bestelauto", "Z", date(2025, 3, 1), None, ["Toegestaan"] * 4),
    ("Vrachtauto", "Euro 6", date(2018, 5, 5), "Trekker", ["Overgang", "Overgang", "Overgang", "Verboden"]),
    ("Vrachtauto", "Euro 6", date(2018, 5, 5), "Vrachtwagen", ["Overgang", "Overgang", "Verboden", "Verboden"]),
    ("Vrachtauto", "Euro 6", date(2021, 1, 1), "Vrachtwagen", ["Overgang", "Overgang", "Overgang", "Verboden"]),
    ("Vrachtauto", "Euro 6", date(2015, 1, 1), "Trekker", ["Verboden"] * 4),
    ("Vrachtauto", "Euro 5", date(2012, 1, 1), "Trekker", ["Verboden"] * 4),
    ("Personenauto", "Euro 3", date(2002, 1, 1), "Hatchback", ["Toegestaan"] * 4),  # not a ZE-zone vehicle
    ("Bestelauto", None, date(2012, 1, 1), None, ["Onbekend"] * 4),
]


def test_ze_access_on_a_date_shows_what_each_tightening_affects():
    types, classes, admitted, bodies = (pa.array([v[i] for v in VEHICLES]) for i in range(4))
    until = D.ze_toegang_tot(types, classes, admitted, bodies, CONF)
    none = np.zeros(len(VEHICLES), dtype=np.int8)
    for column, day in enumerate([date(2026, 12, 31), date(2027, 1, 1), date(2028, 1, 1), date(2030, 1, 1)]):
        status = D.ze_status(until, np.full(len(VEHICLES), D.days(day)), none)
        assert [D.ZE_STATUSES[s] for s in status] == [v[4][column] for v in VEHICLES], day


UNDATED = [  # no datum_eerste_toelating: type, class, body -> ze_toegang_tot, status on 2026-06-01
    ("Vrachtauto", "Euro 6", "Vrachtwagen", "Onbekend", "Onbekend"),  # 2030, 2028 or none: the date decides
    ("Vrachtauto", "Euro 6", "Trekker", "Onbekend", "Onbekend"),
    ("Bestelauto", "Euro 6", None, "Onbekend", "Onbekend"),  # from 2025 zero emission only, else until 2028
    ("Vrachtauto", "Euro 5", "Trekker", "2025-01-01", "Verboden"),  # every date gives 2025-01-01
    ("Bestelauto", "Euro 4", None, "2025-01-01", "Verboden"),
    ("Bestelauto", "Z", None, "Altijd", "Toegestaan"),
    ("Personenauto", "Euro 3", "Hatchback", "Altijd", "Toegestaan"),
]


def test_without_a_first_admission_date_access_is_onbekend_only_when_the_date_decides():
    types, classes, bodies = (pa.array([v[i] for v in UNDATED], pa.string()) for i in range(3))
    until = D.ze_toegang_tot(types, classes, pa.nulls(len(UNDATED), pa.date32()), bodies, CONF)
    assert D.ze_toegang_tot_labels(until).to_pylist() == [v[3] for v in UNDATED]
    status = D.ze_status(until, np.full(len(UNDATED), D.days(date(2026, 6, 1))), np.zeros(len(UNDATED), np.int8))
    assert [D.ZE_STATUSES[s] for s in status] == [v[4] for v in UNDATED]


def test_an_exemption_turns_no_access_into_ontheffing_and_leaves_access_alone():
    until = np.array([D.days(date(2025, 1, 1)), D.days(date(2028, 1, 1)), D.UNKNOWN, D.ALWAYS], dtype=np.int32)
    status = D.ze_status(until, np.full(4, D.days(date(2026, 6, 1))), np.array([1, 2, 1, 2], dtype=np.int8))
    assert [D.ZE_STATUSES[s] for s in status] == ["Ontheffing", "Overgang", "Ontheffing", "Toegestaan"]
    assert D.ze_toegang_tot_labels(until).to_pylist() == ["2025-01-01", "2028-01-01", "Onbekend", "Altijd"]
