"""The enrichment step in Spark: a synthetic register in Delta, passages looked up as of their time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from pyspark.sql import types as T

from anpr.lake import Lake
from anpr.pseudonym import vehicle_key
from anpr.register_snapshot import OUTPUT
from anpr.settings import Settings
from anpr.synth import register as S
from jobs.register import RegisterFiles, load_register_files, load_synthetic_register
from streaming.enrich import enrich, is_current, load_register_snapshot, release

pytestmark = pytest.mark.integration
SIZE, SEED = 3_000, 5
PASSAGE = T.StructType([
    T.StructField("observation_id", T.StringType()), T.StructField("vehicle_key", T.StringType()),
    T.StructField("plate_country", T.StringType()), T.StructField("event_ts", T.TimestampType()),
    T.StructField("event_date", T.DateType()), T.StructField("municipality", T.StringType()),
    T.StructField("lane", T.IntegerType()),
])
WHEN = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory, spark):
    data = tmp_path_factory.mktemp("enrich")
    settings = Settings(data_dir=data, pepper=SecretStr("test-enrich-pepper"))
    lake = Lake(settings.lake_root, spark)
    counts = load_synthetic_register(lake, settings, SIZE, SEED)
    snapshot = load_register_snapshot(spark, lake)
    yield settings, lake, counts, snapshot
    release(snapshot)


def passages(spark, settings: Settings, indices: list[int], extra: tuple[tuple, ...] = ()):
    pepper = settings.pepper_bytes
    rows = [(f"obs-{i}", vehicle_key(pepper, S.vehicle_at(i, SIZE, SEED).plate, "NL"), "NL", WHEN, WHEN.date(),
             "GM0344", 1) for i in indices]
    return spark.createDataFrame(rows + list(extra), PASSAGE)


def test_every_passage_keeps_its_columns_and_gains_the_register_columns(spark, register):
    settings, _, counts, snapshot = register
    assert counts["register/vehicles"] == SIZE and snapshot.size == SIZE
    foreign = ("obs-de", vehicle_key(settings.pepper_bytes, "B-AB-1234", "DE"), "DE", WHEN, WHEN.date(), "GM0344", 2)
    unknown = ("obs-nl", vehicle_key(settings.pepper_bytes, "ZZ-999-Z", "NL"), "NL", WHEN, WHEN.date(), "GM0344", 1)
    broken = ("obs-null", None, "NL", WHEN, WHEN.date(), "GM0344", 1)
    indices = [0, 1, S.type_ranges(SIZE)["Bestelauto"][0], S.type_ranges(SIZE)["Vrachtauto"][0], SIZE - 1]
    df = passages(spark, settings, indices, (foreign, unknown, broken))
    out = enrich(df, snapshot)
    assert out.columns == [*PASSAGE.fieldNames(), *OUTPUT]
    rows = {r.observation_id: r for r in out.collect()}
    assert len(rows) == len(indices) + 3
    for i in indices:
        v, row = S.vehicle_at(i, SIZE, SEED), rows[f"obs-{i}"]
        registered = v.first_admission <= WHEN.date()
        assert row.register_hit == registered
        assert row.voertuig_type == (v.voertuig_type if registered else "Onbekend")
        assert row.event_ts == WHEN.replace(tzinfo=None) and row.lane == 1  # passed through untouched
        if registered:
            assert row.eigenaar_type in ("Bedrijf", "Particulier")
            assert row.herkomst_provincie is not None and row.ze_toegang in ("Toegestaan", "Overgang", "Verboden")
            assert (row.company_key is not None) == (row.eigenaar_type == "Bedrijf")
    assert rows["obs-de"].voertuig_type == "Buitenlands" and not rows["obs-de"].register_hit
    assert rows["obs-nl"].voertuig_type == rows["obs-null"].voertuig_type == "Onbekend"
    assert rows["obs-null"].ontheffing == "Geen" and rows["obs-null"].ze_toegang == "Onbekend"


def test_vans_on_a_coming_date_show_what_the_tightening_affects(spark, register):
    settings, _, _, snapshot = register
    lo, hi = S.type_ranges(SIZE)["Bestelauto"]
    vans = [i for i in range(lo, hi) if S.vehicle_at(i, SIZE, SEED).euro == 6
            and S.vehicle_at(i, SIZE, SEED).first_admission < date(2025, 1, 1)][:5]
    assert vans, "the synthetic register holds Euro 6 vans"
    df = passages(spark, settings, vans)
    now = {r.observation_id: r.ze_toegang for r in enrich(df, snapshot).collect()}
    later = {r.observation_id: r.ze_toegang for r in enrich(df, snapshot, access_on=date(2028, 1, 1)).collect()}
    assert set(now.values()) <= {"Overgang", "Ontheffing"}
    assert set(later.values()) <= {"Verboden", "Ontheffing"} and "Verboden" in later.values()


def test_a_register_load_after_the_snapshot_makes_it_stale(register, tmp_path: Path):
    settings, lake, _, snapshot = register
    assert is_current(snapshot, lake)
    csv = tmp_path / "exemptions.csv"
    csv.write_text("kenteken,gemeente_code,soort,geldig_vanaf\n00-DDD-0,GM0344,dag,20261102\n")
    load_register_files(lake, settings, RegisterFiles(exemptions=csv), date(2026, 11, 2))
    assert not is_current(snapshot, lake)


def test_without_any_register_every_passage_is_foreign_or_unknown(spark, settings, tmp_path: Path):
    lake = Lake(str(tmp_path / "empty-lake"), spark)
    snapshot = load_register_snapshot(spark, lake)
    extra = [("a", "k" * 64, "NL", WHEN, WHEN.date(), "GM0344", 1),
             ("b", "f" * 64, "BE", WHEN, WHEN.date(), "GM0344", 1)]
    rows = enrich(spark.createDataFrame(extra, PASSAGE), snapshot).orderBy("observation_id").collect()
    release(snapshot)
    assert [r.voertuig_type for r in rows] == ["Onbekend", "Buitenlands"]
    assert not any(r.register_hit for r in rows)
