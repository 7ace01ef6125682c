"""The monthly cells computed by hand on inline passages: trips over midnight, two zones, visitor types."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import pytest

from anpr.catalogue import CATALOGUE, TABLES
from jobs.stats.tables.build import build_month
from jobs.stats.tables.cameras import availability, camera_hours
from jobs.stats.tables.cells import Sizes
from jobs.stats.tables.enrich import MissingColumnsError, needed_columns, passages_schema, prepare

# Thresholds small enough for a handful of passages: Dagelijks from 3 distinct days.
DEFS = CATALOGUE.definitions.model_copy(update={"bezoeker_dagelijks_min_dagen": 3, "rit_max_gap_minuten": 720})
CAT = replace(CATALOGUE, definitions=DEFS)
COLUMNS = needed_columns(CAT)
COMPANY = {"eigenaar_type": "Bedrijf", "sbi_groep_code": "49", "sbi_groep_omschrijving": "Vervoer over land",
           "bedrijfsgrootte": "Klein", "herkomst_nuts3": "NL310", "herkomst_provincie": "Utrecht"}
VAN = {"voertuig_type": "Bestelauto", "brandstof": "Diesel", "emissieklasse": "Euro 6", "carrosserie": "Gesloten"}


def passage(n: int, vehicle: str, local: str, direction: str | None, zone: str = "Z1", camera: str = "c1",
            owner: str | None = None, **attributes: object) -> tuple:
    """local: 'MM-DD HH:MM' in March 2026, when Amsterdam is UTC+1."""
    at = datetime.strptime(f"2026-{local}", "%Y-%m-%d %H:%M")
    row = {"observation_id": f"o{n:03d}", "camera_id": camera, "municipality": "GM0344", "zone_id": zone,
           "event_ts": at - timedelta(hours=1), "event_date": at.date(), "jaar": 2026, "maand": 3,
           "week_dag": at.isoweekday(), "uur": at.hour, "tijd_vak": "Nacht" if at.hour < 7 else "Dag",
           "venster_tijd": None, "rij_richting_zone": direction, "period_token": vehicle,
           "company_token": owner, **attributes}
    return tuple(row.get(c) for c in COLUMNS)


def month(spark, rows):
    return spark.createDataFrame(rows, passages_schema(COLUMNS))


ROWS = [
    # a: a company van. Zone 1: in at 22:30 on Monday, out at 01:15 on Tuesday: one trip over midnight.
    passage(1, "a", "03-02 22:30", "Inbound", owner="K1", **VAN, **COMPANY),
    passage(2, "a", "03-03 01:15", "Outbound", camera="c2", owner="K1", **VAN, **COMPANY),
    # Zone 2 on Thursday: in at 10:00, not seen leaving; in again 13.5 hours later: the gap ends the stay.
    passage(3, "a", "03-05 10:00", "Inbound", zone="Z2", camera="c3", owner="K1", **VAN, **COMPANY),
    passage(4, "a", "03-05 23:30", "Inbound", zone="Z2", camera="c3", owner="K1", **VAN, **COMPANY),
    # b: a private car (its own owner). A second inbound camera continues the stay; a lone outbound
    # opens nothing; seen on three days: Dagelijks with these thresholds.
    passage(5, "b", "03-02 08:00", "Inbound", owner="b", voertuig_type="Personenauto", eigenaar_type="Particulier"),
    passage(6, "b", "03-02 08:30", "Inbound", camera="c2", owner="b", voertuig_type="Personenauto",
            eigenaar_type="Particulier"),
    passage(7, "b", "03-02 09:00", "Outbound", owner="b", voertuig_type="Personenauto", eigenaar_type="Particulier"),
    passage(8, "b", "03-09 07:50", "Outbound", owner="b", voertuig_type="Personenauto", eigenaar_type="Particulier"),
    passage(9, "b", "03-09 10:00", "Inbound", owner="b", voertuig_type="Personenauto", eigenaar_type="Particulier"),
    passage(10, "b", "03-16 10:00", None, owner="b", voertuig_type="Personenauto", eigenaar_type="Particulier"),
    # c: a foreign plate, owner unknown, only seen leaving.
    passage(11, "c", "03-02 22:45", "Outbound", voertuig_type="Buitenlands"),
    # d: the same company's van; the register calls it a truck later in the month: still a van here.
    passage(12, "d", "03-02 22:40", "Inbound", owner="K1", **VAN, **COMPANY),
    passage(13, "d", "03-20 12:00", "Inbound", owner="K1", **(VAN | {"voertuig_type": "Vrachtauto"}), **COMPANY),
    # another month: never counted
    passage(14, "e", "03-02 12:00", "Inbound", voertuig_type="Bus"),
]
ROWS[-1] = ROWS[-1][:COLUMNS.index("maand")] + (4,) + ROWS[-1][COLUMNS.index("maand") + 1:]


@pytest.fixture(scope="module")
def cells(spark):
    specs = [s for s in TABLES.values() if s.kind != "cameras"]
    passages = month(spark, ROWS).where("maand = 3")
    built = build_month(passages, CAT, specs, Sizes())
    return {part.part: frame for part, frame in built.parts}, built


def row(frame, **keys):
    for name, value in keys.items():
        frame = frame[frame[name] == value]
    assert len(frame) == 1, f"expected one cell for {keys}, got {len(frame)}"
    return frame.iloc[0]


def test_trips_over_midnight_gaps_and_continued_stays(spark):
    prepared = prepare(month(spark, ROWS).where("maand = 3"), CAT)
    trips = {r.observation_id for r in prepared.where("trip_start").select("observation_id").collect()}
    assert trips == {"o001", "o003", "o004", "o005", "o009", "o012", "o013"}


def test_a_passage_without_direction_still_shows_the_vehicle_in_the_zone(spark):
    # rit_max_gap_minuten 720 (conf/tables.toml): a stay ends when the vehicle is not seen for over 12 hours,
    # counted from its previous passage of any kind, with a direction or without.
    rows = [
        # v: in at 06:00, seen (no direction) at 12:00, in at 19:00: last seen 7 h before, one stay.
        passage(1, "v", "03-02 06:00", "Inbound"), passage(2, "v", "03-02 12:00", None),
        passage(3, "v", "03-02 19:00", "Inbound"),
        # w: seen without direction at 12:00 and 18:30, in at 23:00: never 12 h unseen, one stay.
        passage(4, "w", "03-02 06:00", "Inbound"), passage(5, "w", "03-02 12:00", None),
        passage(6, "w", "03-02 18:30", None), passage(7, "w", "03-02 23:00", "Inbound"),
        # x: 14 h unseen before 20:00 ended the stay; the passage without direction opens none, the inbound does.
        passage(8, "x", "03-02 06:00", "Inbound"), passage(9, "x", "03-02 20:00", None),
        passage(10, "x", "03-02 21:00", "Inbound"),
        # y: out, then seen without direction: no stay is open, so the inbound opens one.
        passage(11, "y", "03-02 06:00", "Outbound"), passage(12, "y", "03-02 07:00", None),
        passage(13, "y", "03-02 08:00", "Inbound"),
    ]
    assert CATALOGUE.definitions.rit_max_gap_minuten == 720
    prepared = prepare(month(spark, rows), CATALOGUE).where("trip_start")
    trips = sorted(r.observation_id for r in prepared.select("observation_id").collect())
    assert trips == ["o001", "o004", "o008", "o010", "o013"]
    per_vehicle = {r.period_token: r["count"] for r in prepared.groupBy("period_token").count().collect()}
    assert per_vehicle == {"v": 1, "w": 1, "x": 2, "y": 1}


def test_overview_totals_per_zone(cells):
    parts, built = cells
    total = parts["totaal"]
    z1, z2 = row(total, zone_id="Z1"), row(total, zone_id="Z2")
    assert (z1.P, z1.R, z1.V, z1.O) == (11, 5, 4, 3)  # owners: K1 (a and d), b, c
    assert (z2.P, z2.R, z2.V, z2.O) == (2, 2, 1, 1)
    assert built.passages == 13 and built.zones() == [("GM0344", "Z1"), ("GM0344", "Z2")]


def test_a_vehicle_keeps_its_first_attributes_for_the_month(cells):
    parts, _ = cells
    vans = row(parts["typeVoertuig"], zone_id="Z1", voertuig_type="Bestelauto")
    assert (vans.P, vans.R, vans.V, vans.O) == (4, 3, 2, 1)
    assert parts["typeVoertuig"].query("voertuig_type == 'Vrachtauto'").empty
    sector = row(parts["t4_8a_sector_voertuig"], zone_id="Z1", sbi_groep_code="49", voertuig_type="Bestelauto")
    assert (sector.P, sector.R, sector.V) == (4, 3, 2)
    assert sector.sbi_groep_omschrijving == "Vervoer over land"
    unknown = row(parts["t4_8a_sector_voertuig"], zone_id="Z1", sbi_groep_code="Onbekend", voertuig_type="Personenauto")
    assert (unknown.P, unknown.R, unknown.V) == (6, 2, 1)


def test_visitor_type_per_vehicle_zone_and_month(cells):
    parts, _ = cells
    visitors = parts["t4_5_bezoeker_herkomst"]
    got = {(r.zone_id, r.type_bezoeker, r.herkomst_provincie): r.V for r in visitors.itertuples()}
    # a: two days in zone 1, one in zone 2; b: three days; c: one; d: two.
    assert got == {("Z1", "Incidenteel", "Utrecht"): 2, ("Z1", "Dagelijks", "Onbekend"): 1,
                   ("Z1", "Eenmalig", "Onbekend"): 1, ("Z2", "Eenmalig", "Utrecht"): 1}


def test_hourly_camera_cells_and_their_day_part(cells):
    parts, _ = cells
    hourly = parts["t4_1_uur_camera"]
    cell = row(hourly, zone_id="Z1", camera_id="c1", rij_richting_zone="Inbound", voertuig_type="Bestelauto",
               week_dag=1, uur=22)
    assert (cell.P, cell.V, cell.tijd_vak) == (2, 2, "Dag")
    no_direction = row(hourly, zone_id="Z1", rij_richting_zone="Onbekend")
    assert (no_direction.P, no_direction.uur) == (1, 10)
    assert int(hourly.query("zone_id == 'Z1'")["P"].sum()) == 11


def test_contributor_statistics_support_dominance_and_unions(cells):
    parts, _ = cells
    total = row(parts["totaal"], zone_id="Z1")
    top = [(-int(a), int(h)) for a, h in total.top_p]
    assert [amount for amount, _ in top] == [6, 4, 1]  # b: 6 passages, K1: 4 (a 2 + d 2), c: 1
    # vehicles per owner: K1 two (a, d), b and c one each, the tie broken by the smaller owner hash
    by_vehicles = [(-int(a), int(h)) for a, h in total.top_v]
    assert [amount for amount, _ in by_vehicles] == [2, 1, 1] and by_vehicles[1][1] < by_vehicles[2][1]
    assert (total.V, total.O) == (4, 3)
    assert len(total.vsample) == 4 and len(total.osample) == 3
    assert list(total.vsample) == sorted(total.vsample)


def test_missing_enrichment_columns_are_named(spark):
    frame = month(spark, ROWS).drop("sbi_groep_code", "herkomst_nuts3")
    with pytest.raises(MissingColumnsError, match="herkomst_nuts3.*sbi_groep_code"):
        prepare(frame, CAT)


def test_camera_availability_counts_only_judgeable_hours(spark):
    from anpr.zones import Camera, Municipality, Zone
    from jobs.stats.tables.cameras import full_cameras, worked_floors

    rows = [passage(100 + i, f"v{i}", f"03-02 08:{i:02d}", "Inbound", camera="c1" if i < 5 else "c2")
            for i in range(8)]
    rows += [passage(200 + i, f"w{i}", f"03-02 09:{i:02d}", "Inbound", camera="c2") for i in range(6)]
    rows += [passage(300, "x", "03-03 03:00", "Inbound", camera="c2")]  # too quiet to judge c1
    hours = camera_hours(month(spark, rows), min_zone_passages=3)
    zone = Zone(zone_id="Z1", ndw_code=344001, name="Zone 1", polygon=[(5.10, 52.08), (5.12, 52.08), (5.10, 52.10)])
    cams = [Camera(camera_id=c, name=c.upper(), lat=52.0, lon=5.0, zone_id="Z1", obverse_direction="Inbound")
            for c in ("c1", "c2", "c3")]
    table = availability(hours, [Municipality(municipality="M", code="GM0344", zones=[zone], cameras=cams)])
    pct = {(r.cameraId, r.detectieRichting): r.beschikbaarheidsPercentage for r in table.itertuples()}
    assert pct[("c1", "Voorzijde")] == pct[("c1", "Achterzijde")] == 50.0
    assert pct[("c2", "Voorzijde")] == 100.0 and pct[("c3", "Voorzijde")] == 0.0
    assert set(table.query("cameraId == 'c1'")["rijRichtingZone"]) == {"Inbound", "Outbound"}
    # The field spec: the zone's NDW code as zoneId, its text id kept as zoneAanduiding; the front-plate
    # read (the ingest contract's obverse) is Voorzijde and follows the camera's obverse rule.
    assert set(table["detectieRichting"]) == {"Voorzijde", "Achterzijde"}
    assert set(zip(table["zoneId"], table["zoneAanduiding"], strict=True)) == {(344001, "Z1")}
    front = table.query("cameraId == 'c1' and detectieRichting == 'Voorzijde'")
    assert list(front["rijRichtingZone"]) == ["Inbound"]
    # what the shares give away, as the audit takes it: c1 worked 1 judged hour, c2 2, c3 none
    assert worked_floors(hours, "Z1") == {("camera_id", "c1"): 1.0, ("camera_id", "c2"): 2.0}
    # a zone whose protection dropped its quiet-hour ceilings shows no percentage for its cameras at 100%
    assert full_cameras(hours, "Z1") == ["c2"] and full_cameras(hours, "Z2") == []
    muni = Municipality(municipality="M", code="GM0344", zones=[zone], cameras=cams)
    withheld = availability(hours, [muni], {("Z1", c) for c in full_cameras(hours, "Z1")})
    pct = {(r.cameraId, r.detectieRichting): r.beschikbaarheidsPercentage for r in withheld.itertuples()}
    assert pd.isna(pct[("c2", "Voorzijde")]) and pd.isna(pct[("c2", "Achterzijde")])
    assert pct[("c1", "Voorzijde")] == 50.0 and pct[("c3", "Voorzijde")] == 0.0


def test_an_hour_a_fully_available_camera_shows_empty_bounds_the_zones_passages_in_it(spark):
    """An independent attacker's relation (stop 47): c2 worked in both judged hours (Monday 08 and 09: 100%) and
    shows nothing on Wednesday at 04:00, so that hour was not judged and held at most 2 passages (threshold 3);
    every hour c2 shows gives no bound, and neither does c1, which missed a judged hour."""
    from jobs.stats.tables.cameras import hour_ceilings, slot_hours
    from jobs.stats.tables.cells import CellPart

    rows = [passage(100 + i, f"v{i}", f"03-02 08:{i:02d}", "Inbound", camera="c1" if i < 5 else "c2")
            for i in range(8)]
    rows += [passage(200 + i, f"w{i}", f"03-02 09:{i:02d}", "Inbound", camera="c2") for i in range(6)]
    rows += [passage(300, "x", "03-03 03:00", "Inbound", camera="c2"),
             passage(400, "y", "03-04 04:00", "Inbound", camera="c1"),
             passage(401, "y", "03-04 04:10", "Outbound", camera="c1")]
    frame = month(spark, rows)
    hours, slots = camera_hours(frame, min_zone_passages=3), slot_hours(frame)
    assert slots.to_dict("list") == {"zone_id": ["Z1"] * 4, "week_dag": [1, 1, 2, 3], "uur": [8, 9, 3, 4],
                                     "hours": [1, 1, 1, 1], "passages": [8, 6, 1, 2]}
    per_camera = frame.groupBy("camera_id", "week_dag", "uur").count().toPandas()
    part = CellPart("t4_1_uur_camera", "t4_1_uur_camera", ("camera_id", "week_dag", "uur"), (), ())
    assert hour_ceilings(hours, slots, [(part, per_camera)], "Z1", 3) == {(("uur", "week_dag"), (4, 3)): 2.0}
    # no table of cells per camera and hour: nothing is given away
    by_camera = CellPart("t4_1_uur_camera", "t4_1_uur_camera", ("camera_id",), (), ())
    assert hour_ceilings(hours, slots, [(by_camera, per_camera)], "Z1", 3) == {}
    assert hour_ceilings(hours, slots, [(part, per_camera)], "Z2", 3) == {}
    # a table that left out some of the hour's passages (c2's row missing although it passed) would put the
    # ceiling below the truth: not assumed
    assert hour_ceilings(hours, slots, [(part, per_camera[per_camera["uur"] != 9])], "Z1", 3) == {
        (("uur", "week_dag"), (4, 3)): 2.0}


def test_a_run_of_one_municipality_fixes_characteristics_from_the_first_passage_anywhere(spark):
    """A fresh reader's case: a van sold on the 10th, seen in another city on the 5th (old owner, sector 49) and here
    on the 12th (new owner, sector 46). A run of all municipalities counts it under 49 everywhere; a run of this
    municipality alone counted it under 46, as if the passages had been revised."""
    from pyspark.sql import functions as F

    from jobs.stats.tables.enrich import month_passages

    sold = COMPANY | {"sbi_groep_code": "46", "sbi_groep_omschrijving": "Groothandel"}
    rows = [passage(1, "v", "03-05 09:00", "Inbound", owner="K1", **VAN, **COMPANY),
            passage(2, "v", "03-12 09:00", "Inbound", owner="K2", **VAN, **sold),
            passage(3, "w", "03-12 10:00", "Inbound", owner="K2", **VAN, **sold)]
    frame = month(spark, rows).withColumn(
        "municipality", F.when(F.col("observation_id") == "o001", "GM0363").otherwise("GM0344"))
    specs = [TABLES["t4_8a_sector_voertuig"]]
    for code in ("GM0344", None):
        passages = month_passages(frame, 2026, 3, code, double_read_seconds=3.0)
        built = build_month(passages, CAT, specs, Sizes())
        part = next(f for p, f in built.parts if p.part == "t4_8a_sector_voertuig")
        here = part[part["municipality"] == "GM0344"] if "municipality" in part else part
        assert sorted(zip(here["sbi_groep_code"], here["V"], here["P"], strict=True)) == [("46", 1, 1), ("49", 1, 1)]
    assert prepare(month_passages(frame, 2026, 3, "GM0344", double_read_seconds=3.0), CAT).count() == 2
