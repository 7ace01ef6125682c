"""Tables 5.1-5.4 computed by hand on inline passages: owner type, exemptions and ZE access on the day of
passage, day type and week of the month. A van loses access mid-month; another holds a day exemption."""

from __future__ import annotations

import pytest

from anpr.catalogue import TABLES
from jobs.stats.tables.build import build_month
from jobs.stats.tables.cells import Sizes
from jobs.stats.tables.enrich import needed_columns
from tests.unit.jobs.stats.tables.test_tables import CAT, VAN, month, passage

COMPANY = {"eigenaar_type": "Bedrijf", "sbi_groep_code": "49", "bedrijfsgrootte": "Klein"}
PRIVATE = {"eigenaar_type": "Particulier"}
OPEN = {"ontheffing": "Geen"}  # no exemption that day
EURO5_VAN = {**VAN, "emissieklasse": "Euro 5", "ze_toegang_tot": "2026-03-15"}
ROWS = [
    # v: a company Euro 5 van whose access ends on the 15th: Overgang before, Verboden after.
    passage(1, "v", "03-10 08:00", "Inbound", owner="K1", **EURO5_VAN, **COMPANY, **OPEN, ze_toegang="Overgang"),
    passage(2, "v", "03-10 09:00", "Outbound", owner="K1", **EURO5_VAN, **COMPANY, **OPEN, ze_toegang="Overgang"),
    passage(3, "v", "03-20 06:30", "Inbound", owner="K1", **EURO5_VAN, **COMPANY, **OPEN, ze_toegang="Verboden"),
    passage(4, "v", "03-29 10:00", "Inbound", owner="K1", **EURO5_VAN, **COMPANY, **OPEN, ze_toegang="Verboden"),
    # w: a privately owned van without access, with a day exemption on Tuesday the 17th only.
    passage(5, "w", "03-17 10:00", "Inbound", owner="w", **VAN, **PRIVATE, ontheffing="Tijdelijk",
            ze_toegang="Ontheffing", ze_toegang_tot="2025-01-01"),
    passage(6, "w", "03-18 10:00", "Inbound", owner="w", **VAN, **PRIVATE, **OPEN, ze_toegang="Verboden",
            ze_toegang_tot="2025-01-01"),
    # p: a private car, Saturday the 7th and Monday the 9th.
    passage(7, "p", "03-07 11:00", "Inbound", owner="p", voertuig_type="Personenauto", **PRIVATE, **OPEN,
            ze_toegang="Toegestaan", ze_toegang_tot="Altijd"),
    passage(8, "p", "03-09 12:00", "Outbound", owner="p", voertuig_type="Personenauto", **PRIVATE, **OPEN,
            ze_toegang="Toegestaan", ze_toegang_tot="Altijd"),
    # f: a foreign plate (no owner), Sunday the 8th; u: a Dutch plate not in the register, Tuesday the 31st.
    passage(9, "f", "03-08 05:00", "Inbound", voertuig_type="Buitenlands", **OPEN, ze_toegang="Onbekend"),
    passage(10, "u", "03-31 20:00", "Inbound", voertuig_type="Onbekend", **OPEN, ze_toegang="Onbekend"),
    # l: a company truck with a long-term exemption, Monday the 2nd.
    passage(11, "l", "03-02 07:30", "Inbound", owner="K2", voertuig_type="Vrachtauto", emissieklasse="Euro 5",
            **COMPANY, ontheffing="Langdurig", ze_toegang="Ontheffing", ze_toegang_tot="2025-01-01"),
]
SPECS = [TABLES[n] for n in ("t4_2_dagdeel", "t5_1_eigenaar_voertuig", "t5_1b_eigenaar_sector", "t5_2_ontheffing",
                             "t5_3_naleving", "t5_4_toegang_tot", "t5_4b_toegang_tot_sector")]


@pytest.fixture(scope="module")
def parts(spark):
    built = build_month(month(spark, ROWS), CAT, SPECS, Sizes())
    return {part.part: frame for part, frame in built.parts}


def counts(frame, keys, measures=("P", "V")):
    return {tuple(r[k] for k in keys): tuple(int(r[m]) for m in measures) for r in frame.to_dict("records")}


def test_owner_type_by_vehicle_type(parts):
    got = counts(parts["t5_1_eigenaar_voertuig"], ["eigenaar_type", "voertuig_type"], ("P", "R", "V", "O"))
    assert got == {
        ("Rechtspersoon", "Bestelauto"): (4, 3, 1, 1),  # v: in, out, in, in after a 9-day gap
        ("Particulier", "Bestelauto"): (2, 2, 1, 1),
        ("Particulier", "Personenauto"): (2, 1, 1, 1),
        ("Buitenlands", "Buitenlands"): (1, 1, 1, 1),
        ("Onbekend", "Onbekend"): (1, 1, 1, 1),
        ("Rechtspersoon", "Vrachtauto"): (1, 1, 1, 1),
    }


def test_owner_type_by_sector_puts_every_owner_without_a_company_in_sector_onbekend(parts):
    got = counts(parts["t5_1b_eigenaar_sector"], ["eigenaar_type", "sbi_groep_code"], ("P", "R", "V", "O"))
    assert got == {
        ("Rechtspersoon", "49"): (5, 4, 2, 2),  # v and l, owners K1 and K2
        ("Particulier", "Onbekend"): (4, 3, 2, 2),  # w and p
        ("Buitenlands", "Onbekend"): (1, 1, 1, 1),
        ("Onbekend", "Onbekend"): (1, 1, 1, 1),
    }


def test_exemption_kind_on_the_day_of_passage_by_day_type(parts):
    got = counts(parts["t5_2_ontheffing"], ["ontheffing", "voertuig_type", "dag_type"])
    assert got == {
        ("Geen", "Bestelauto", "Werkdag"): (4, 2),  # v on the 10th (2) and 20th, w on the 18th
        ("Geen", "Bestelauto", "Weekend"): (1, 1),  # v on Sunday the 29th
        ("Tijdelijk", "Bestelauto", "Werkdag"): (1, 1),  # w's day exemption covers its day only
        ("Geen", "Personenauto", "Weekend"): (1, 1),
        ("Geen", "Personenauto", "Werkdag"): (1, 1),
        ("Geen", "Buitenlands", "Weekend"): (1, 1),
        ("Geen", "Onbekend", "Werkdag"): (1, 1),
        ("Langdurig", "Vrachtauto", "Werkdag"): (1, 1),
    }
    has = parts["t5_2_ontheffing"].query("ontheffing != 'Geen'")
    assert (int(has["P"].sum()), int(has["V"].sum())) == (2, 2)  # has an exemption: w once, l


def test_non_compliance_per_week_of_month_and_day_part(parts):
    got = counts(parts["t5_3_naleving"], ["ze_toegang", "week_van_maand", "tijd_vak"])
    assert got == {
        ("Overgang", 2, "Dag"): (2, 1),  # v before its access ended
        ("Verboden", 3, "Nacht"): (1, 1),  # v after: the same vehicle, now without access
        ("Verboden", 3, "Dag"): (1, 1),  # w the day after its day exemption
        ("Verboden", 5, "Dag"): (1, 1),  # v on the 29th: week 5
        ("Ontheffing", 3, "Dag"): (1, 1),  # w on its exemption day
        ("Ontheffing", 1, "Dag"): (1, 1),  # l
        ("Toegestaan", 1, "Dag"): (1, 1),
        ("Toegestaan", 2, "Dag"): (1, 1),
        ("Onbekend", 2, "Nacht"): (1, 1),  # f on the 8th: week 2
        ("Onbekend", 5, "Dag"): (1, 1),
    }
    barred = parts["t5_3_naleving"].query("ze_toegang == 'Verboden'")
    assert int(barred["P"].sum()) == 3


def test_access_end_date_by_vehicle_type_and_emission_class(parts):
    """The day access ends is the vehicle's: v, whose access ends mid-month, stays in one cell all month."""
    got = counts(parts["t5_4_toegang_tot"], ["ze_toegang_tot", "voertuig_type", "emissieklasse"])
    assert got == {
        ("2026-03-15", "Bestelauto", "Euro 5"): (4, 1),  # v: before and after the 15th alike
        ("2025-01-01", "Bestelauto", "Euro 6"): (2, 1),  # w: no access (its day exemption aside)
        ("2025-01-01", "Vrachtauto", "Euro 5"): (1, 1),  # l: no access, a long-term exemption
        ("Altijd", "Personenauto", "Onbekend"): (2, 1),
        ("Onbekend", "Buitenlands", "Onbekend"): (1, 1),
        ("Onbekend", "Onbekend", "Onbekend"): (1, 1),
    }


def test_access_end_date_by_sector(parts):
    got = counts(parts["t5_4b_toegang_tot_sector"], ["ze_toegang_tot", "sbi_groep_code"])
    assert got == {
        ("2026-03-15", "49"): (4, 1),  # v, a road haulier's van
        ("2025-01-01", "49"): (1, 1),  # l
        ("2025-01-01", "Onbekend"): (2, 1),  # w, privately owned: no sector
        ("Altijd", "Onbekend"): (2, 1),
        ("Onbekend", "Onbekend"): (2, 2),  # f and u
    }


def test_tables_keyed_by_weekday_carry_the_day_type_as_a_hidden_key(parts):
    """4.2 sums into day types: the audit links it to 5.2 through that hidden key."""
    dagdeel = parts["t4_2_dagdeel"]
    assert set(zip(dagdeel["week_dag"], dagdeel["dag_type"], strict=True)) == {
        (1, "Werkdag"), (2, "Werkdag"), (3, "Werkdag"), (5, "Werkdag"), (6, "Weekend"), (7, "Weekend")}


def test_derived_columns_are_not_read_from_the_passages():
    assert {"dag_type", "week_van_maand"}.isdisjoint(needed_columns(CAT))
    assert {"ontheffing", "ze_toegang", "eigenaar_type", "week_dag", "event_date"} <= set(needed_columns(CAT))
