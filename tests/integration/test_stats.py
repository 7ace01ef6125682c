"""`anpr stats` end to end on synthetic enriched passages in a temporary lake: protected, audited,
reproducible releases, and a single municipality republished without touching the others."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from anpr.catalogue import TABLES
from anpr.lake import Lake, spark_to_arrow_schema
from anpr.stream_tables import OUT_OF_SCOPE, OUT_OF_SCOPE_PARTITIONS, OUT_OF_SCOPE_SCHEMA, PASSAGES
from bench.stats import municipalities, synthetic_passages
from jobs.stats.job import run_monthly_stats
from jobs.stats.release import RELEASES, SUPPRESSIONS, published_table
from jobs.stats.tables.enrich import passages_schema

pytestmark = pytest.mark.integration
MONTH = "2026-02"
# One camera each: the audit's cost grows fast with the hour-by-camera cells, and nothing here is about cameras.
CITIES = municipalities(2, cameras=1)
ANONYMOUS = "t5_5_buiten_doelgroep"
# The stream's anonymous counts (municipality, zone, camera, direction, local day, hour, detections): two
# micro-batches of one cell, the same weekday a week later, a direction unknown, and days of other months.
DROPPED = [(g, f"{g}-ZE1", f"{g}-cam0", d, day, u, n) for g, d, day, u, n in [
    ("GM9000", "Inbound", date(2026, 2, 2), 8, 40), ("GM9000", "Inbound", date(2026, 2, 2), 8, 2),
    ("GM9000", "Inbound", date(2026, 2, 9), 8, 30), ("GM9000", None, date(2026, 2, 28), 23, 5),
    ("GM9001", "Outbound", date(2026, 2, 1), 0, 7), ("GM9001", "Outbound", date(2026, 1, 31), 23, 100),
    ("GM9000", "Inbound", date(2026, 3, 2), 8, 100)]]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    lake = Lake(str(tmp_path_factory.mktemp("stats") / "lake"), spark)
    table = synthetic_passages(CITIES, vehicles=160, seed=5)
    lake.create(PASSAGES, passages_schema(table.column_names), partition_by=["municipality"])
    lake.append(PASSAGES, table)
    lake.create(OUT_OF_SCOPE, OUT_OF_SCOPE_SCHEMA, partition_by=OUT_OF_SCOPE_PARTITIONS)
    names = OUT_OF_SCOPE_SCHEMA.fieldNames()
    lake.append(OUT_OF_SCOPE, pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in DROPPED],
                                                   spark_to_arrow_schema(OUT_OF_SCOPE_SCHEMA)))
    return lake


@pytest.fixture(scope="module")
def first(spark, settings, lake):
    return run_monthly_stats(spark, settings, lake, MONTH, municipalities=CITIES)


def rows(lake, name: str, release_id: str) -> pd.DataFrame:
    frame = lake.read_arrow(published_table(name), filters=[("release_id", "=", release_id)]).to_pandas()
    return frame.drop(columns=["release_id"])


def test_every_table_is_published_with_its_fields_and_no_small_count(lake, first):
    assert set(first.row_counts) == set(TABLES)
    for name, spec in TABLES.items():
        frame = rows(lake, name, first.release_id)
        assert list(frame.columns) == spec.columns and len(frame) == first.row_counts[name] > 0
        if "aantalUniekeVoertuigen" in spec.measures:
            shown = frame.dropna(subset=["aantalUniekeVoertuigen"])
            assert (shown["aantalUniekeVoertuigen"] >= 10).all()
            hidden = frame[frame["aantalUniekeVoertuigen"].isna()]
            assert hidden[spec.measures].isna().all().all()  # a suppressed cell loses every count
    totals = rows(lake, "t4_9_overzicht", first.release_id).query("kenmerk == 'totaal'")
    assert len(totals) == 2 and totals["aantalPassages"].notna().all()


def test_release_records_audit_sources_and_configuration(lake, first):
    record = lake.read_arrow(RELEASES).to_pandas().set_index("release_id").loc[first.release_id]
    protection = json.loads(record["protection"])
    audit = protection["audit"]
    assert audit["exact_disclosures"] == 0 and audit["too_narrow"] == 0 and audit["unsafe_unions"] == 0
    assert audit["attacked"] >= audit["primary"] > 0
    assert audit["narrowest"]["width"] >= audit["narrowest"]["margin"]
    assert 0 < audit["tables"]["t4_1_uur_camera"]["suppressed_share"] <= 1
    assert protection["content_sha256"] == first.content_sha256
    assert json.loads(record["source_versions"]) == {PASSAGES: lake.version(PASSAGES),
                                                     OUT_OF_SCOPE: lake.version(OUT_OF_SCOPE)}
    assert protection["tables"][ANONYMOUS] == TABLES[ANONYMOUS].protection
    assert "published as is" in protection["tables"][ANONYMOUS]
    assert len(record["config_hash"]) == 16


def test_the_anonymous_table_holds_the_months_out_of_scope_counts(lake, first):
    frame = rows(lake, ANONYMOUS, first.release_id)
    in_month = [r for r in DROPPED if r[4].month == 2]
    assert frame["aantalDetectiesBuitenDoelgroep"].sum() == sum(r[-1] for r in in_month) == 84
    for g in ("GM9000", "GM9001"):
        assert frame.loc[frame["gemeenteCode"] == g, "aantalDetectiesBuitenDoelgroep"].sum() == sum(
            r[-1] for r in in_month if r[0] == g)
    cells = {(r["cameraId"], r["rijRichtingZone"], r["weekDag"], r["uur"]): r["aantalDetectiesBuitenDoelgroep"]
             for r in frame.to_dict("records")}
    assert cells == {("GM9000-cam0", "Inbound", 1, 8): 72, ("GM9000-cam0", "Onbekend", 6, 23): 5,
                     ("GM9001-cam0", "Outbound", 7, 0): 7}
    assert set(frame["zoneId"]) == {9000001, 9001001} and (frame["maand"] == 2).all()


def test_information_loss_is_recorded_per_table_and_matches_the_published_rows(lake, first):
    tables = first.audit["tables"]
    # every table of counts of vehicles is audited; the camera table publishes availability, not vehicles, and
    # the anonymous table detections without vehicle identity
    assert set(tables) == {n for n, spec in TABLES.items() if spec.protected}
    for name in tables:
        spec, loss, frame = TABLES[name], tables[name], rows(lake, name, first.release_id)
        assert loss["cells"] == len(frame)
        hidden = frame[spec.measures].isna().all(axis=1)
        assert loss["primary"] + loss["secondary"] == hidden.sum()
        assert loss["suppressed_share"] == round(hidden.mean(), 4)
        if "aantalPassages" in spec.measures:  # published exactly (noise "none"): the rest is in hidden cells
            assert frame.loc[~hidden, "aantalPassages"].sum() == loss["passages"] - loss["passages_suppressed"]
            assert loss["passages_suppressed_share"] == round(loss["passages_suppressed"] / loss["passages"], 4)
    shares = [t["passages_suppressed_share"] for t in tables.values()]
    assert all(0 <= x <= 1 for x in shares) and any(0 < x < 1 for x in shares)


def test_suppression_reasons_stay_internal(lake, first):
    internal = lake.read_arrow(SUPPRESSIONS, filters=[("release_id", "=", first.release_id)]).to_pandas()
    assert set(internal["status"]) == {"primary", "secondary"}
    assert internal.loc[internal["status"] == "primary", "reasons"].str.contains("min_vehicles").any()
    assert not SUPPRESSIONS.startswith("published/")
    for name in TABLES:
        assert "reasons" not in rows(lake, name, first.release_id).columns


def test_one_municipality_is_republished_bit_identically_and_the_others_carried_over(spark, settings, lake, first):
    before = {name: rows(lake, name, first.release_id) for name in TABLES}
    # Another shuffle partitioning: the rebuilt municipality's cells, protection and rows must not depend on it.
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        redo = run_monthly_stats(spark, settings, lake, MONTH, "GM9000", municipalities=CITIES)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert redo.release_id != first.release_id
    record = lake.read_arrow(RELEASES).to_pandas().set_index("release_id").loc[redo.release_id]
    assert json.loads(record["source_versions"])["carried_from"]
    for name in TABLES:
        now = rows(lake, name, redo.release_id)
        assert set(now["gemeenteCode"]) == {"GM9000", "GM9001"}
        assert len(now) == len(before[name])
        # the old release is untouched
        pd.testing.assert_frame_equal(rows(lake, name, first.release_id), before[name])
    assert redo.content_sha256 == first.content_sha256  # same passages, same protection, same rows
