"""As-of lookups of the register snapshot on inline register rows (no Spark)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from anpr.lake import spark_to_arrow_schema
from anpr.pseudonym import company_key, vehicle_key
from anpr.register_conf import load_register_conf
from anpr.register_snapshot import OUTPUT, build_snapshot, key64
from anpr.register_tables import COMPANIES_SPEC, EXEMPTIONS_SCHEMA, OWNERS_SPEC, REGIONS_SPEC, VEHICLES_SPEC

PEPPER = b"unit-test-pepper"
VAN, CAR, TRUCK = (vehicle_key(PEPPER, p, "NL") for p in ("VX-123-B", "12-DFG-3", "BX-12-34"))
BUILDER, MOVER = company_key(PEPPER, "12345678"), company_key(PEPPER, "87654321")
EARLY = datetime(1900, 1, 1, tzinfo=UTC)
SOLD = datetime(2026, 3, 13, 23, tzinfo=UTC)  # 14 March 2026, local midnight
EXPORTED = datetime(2026, 4, 30, 22, tzinfo=UTC)


def table(spec_schema: pa.Schema, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, spec_schema)


def snapshot():
    vehicles = table(VEHICLES_SPEC.arrow_schema, [
        {"vehicle_key": VAN, "valid_from": datetime(2012, 3, 14, 23, tzinfo=UTC), "valid_to": EXPORTED,
         "voertuig_type": "Bestelauto", "brandstof": "Diesel", "emissieklasse": "Euro 5", "carrosserie": "Bestelwagen",
         "datum_eerste_toelating": date(2012, 3, 15)},
        {"vehicle_key": CAR, "valid_from": datetime(2020, 12, 31, 23, tzinfo=UTC), "valid_to": None,
         "voertuig_type": "Personenauto", "brandstof": "Hybride", "emissieklasse": "Euro 6",
         "carrosserie": "Hatchback", "datum_eerste_toelating": date(2021, 1, 1)},
        {"vehicle_key": TRUCK, "valid_from": datetime(2018, 5, 4, 22, tzinfo=UTC), "valid_to": None,
         "voertuig_type": "Vrachtauto", "brandstof": "Diesel", "emissieklasse": "Euro 6", "carrosserie": "Trekker",
         "datum_eerste_toelating": date(2018, 5, 5)},
    ])
    owners = table(OWNERS_SPEC.arrow_schema, [
        {"vehicle_key": VAN, "valid_from": EARLY, "valid_to": SOLD, "eigenaar_type": "Bedrijf",
         "company_key": BUILDER, "postcode4": 3511},
        {"vehicle_key": VAN, "valid_from": SOLD, "valid_to": None, "eigenaar_type": "Bedrijf",
         "company_key": MOVER, "postcode4": 1012},
        {"vehicle_key": CAR, "valid_from": EARLY, "valid_to": None, "eigenaar_type": "Particulier",
         "company_key": None, "postcode4": 3512},
    ])
    companies = table(COMPANIES_SPEC.arrow_schema, [
        {"company_key": BUILDER, "valid_from": EARLY, "valid_to": None, "sbi_code": "41201", "werkzame_personen": 8},
        {"company_key": MOVER, "valid_from": EARLY, "valid_to": None, "sbi_code": "49410", "werkzame_personen": 120},
    ])
    regions = table(REGIONS_SPEC.arrow_schema, [
        {"postcode4": pc4, "valid_from": EARLY, "valid_to": None, "nuts3_code": nuts3, "provincie_naam": province}
        for pc4, nuts3, province in ((3511, "NL310", "Utrecht"), (3512, "NL310", "Utrecht"),
                                     (1012, "NL329", "Noord-Holland"))])
    exemptions = table(spark_to_arrow_schema(EXEMPTIONS_SCHEMA), [
        {"vehicle_key": VAN, "municipality": "GM0344", "soort": "Tijdelijk", "valid_from": date(2026, 3, 10),
         "valid_to": date(2026, 3, 11)},
        {"vehicle_key": VAN, "municipality": "GM0363", "soort": "Langdurig", "valid_from": date(2025, 1, 1),
         "valid_to": date(2027, 1, 1)},
        {"vehicle_key": VAN, "municipality": "GM0363", "soort": "Tijdelijk", "valid_from": date(2026, 3, 20),
         "valid_to": date(2026, 3, 21)},
    ])
    return build_snapshot(vehicles, owners, companies, regions, exemptions, load_register_conf())


def look(rows: list[tuple], access_on: date | None = None) -> list[dict]:
    """rows: (key, country, UTC event time, municipality); the event date is the UTC date here."""
    out = snapshot().lookup(pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows]),
                            pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
                            pa.array([r[2].date() for r in rows], pa.date32()), pa.array([r[3] for r in rows]),
                            access_on=access_on)
    assert list(out) == OUTPUT
    return [{k: out[k][i].as_py() for k in out} for i in range(len(rows))]


def at(day: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def test_owner_attributes_follow_the_sale_within_the_month():
    before, after = look([(VAN, "NL", at(10), "GM0344"), (VAN, "NL", at(20), "GM0344")])
    assert (before["company_key"], before["sbi_groep_code"], before["sbi_sectie"], before["bedrijfsgrootte"],
            before["herkomst_nuts3"], before["herkomst_provincie"]) == (BUILDER, "41", "F", "Klein", "NL310", "Utrecht")
    assert (after["company_key"], after["sbi_groep_code"], after["sbi_groep_omschrijving"], after["bedrijfsgrootte"],
            after["herkomst_nuts3"], after["herkomst_provincie"]) == (
        MOVER, "49", "Vervoer over land", "Midden", "NL329", "Noord-Holland")
    assert before["voertuig_type"] == after["voertuig_type"] == "Bestelauto"
    assert before["eigenaar_type"] == "Bedrijf" and before["register_hit"]


def test_exemptions_count_only_in_their_municipality_and_on_their_days():
    rows = look([(VAN, "NL", at(10), "GM0344"), (VAN, "NL", at(11), "GM0344"), (VAN, "NL", at(20), "GM0363"),
                 (VAN, "NL", at(21), "GM0363"), (CAR, "NL", at(10), "GM0344")])
    assert [r["ontheffing"] for r in rows] == ["Tijdelijk", "Geen", "Langdurig", "Langdurig", "Geen"]


def test_access_status_on_the_event_date_or_a_coming_date():
    van, truck, car = look([(VAN, "NL", at(20), "GM0344"), (TRUCK, "NL", at(20), "GM0344"),
                            (CAR, "NL", at(20), "GM0344")])
    assert (van["ze_toegang"], truck["ze_toegang"], car["ze_toegang"]) == ("Overgang", "Overgang", "Toegestaan")
    # In transition: the day access ends is still to come, and stays the vehicle's whatever the day asked.
    assert car["ze_toegang_tot"] == "Altijd" and date.fromisoformat(van["ze_toegang_tot"]) > at(20).date()
    van, van_exempt = look([(VAN, "NL", at(20), "GM0344"), (VAN, "NL", at(20), "GM0363")], access_on=date(2027, 1, 1))
    assert (van["ze_toegang"], van_exempt["ze_toegang"]) == ("Verboden", "Ontheffing")


def test_unmatched_plates_are_kept_as_foreign_or_unknown_with_empty_attributes():
    foreign = vehicle_key(PEPPER, "B AB 1234", "DE")
    rows = look([(foreign, "DE", at(20), "GM0344"), (vehicle_key(PEPPER, "ZZ-999-Z", "NL"), "NL", at(20), "GM0344"),
                 (None, "NL", at(20), "GM0344"), (VAN, "NL", at(10, 5), "GM0344")])  # the van after its export
    assert [r["voertuig_type"] for r in rows] == ["Buitenlands", "Onbekend", "Onbekend", "Onbekend"]
    for r in rows:
        assert not r["register_hit"] and r["ze_toegang"] == r["ze_toegang_tot"] == "Onbekend"
        assert r["ontheffing"] == "Geen"
        assert all(r[c] is None for c in OUTPUT if c not in ("voertuig_type", "register_hit", "ze_toegang",
                                                            "ze_toegang_tot", "ontheffing"))


def test_before_first_admission_a_vehicle_is_not_in_the_register():
    (row,) = look([(CAR, "NL", datetime(2020, 12, 31, 22, tzinfo=UTC), "GM0344")])
    assert row["voertuig_type"] == "Onbekend" and not row["register_hit"]


def test_keys_are_read_as_their_first_64_bits():
    values, ok = key64(pa.array([VAN, "not-a-key", None, "0123456789abcdefXYZ"]))
    assert int(values[0]) == int(VAN[:16], 16) and int(values[3]) == 0x0123456789ABCDEF
    assert ok.tolist() == [True, False, False, True]
