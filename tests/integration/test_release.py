"""Releases are immutable and versioned; the vendor API reads them; internal rows stay internal."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import Row

from anpr.catalogue import CATALOGUE, TABLES
from anpr.delta_reader import DeltaReader
from anpr.lake import Lake, to_arrow
from api.releases import ReleaseStore
from jobs.stats.release import (
    RELEASES,
    SUPPRESSIONS,
    content_digest,
    legacy_published_table,
    predates_field_spec,
    publish,
    published_table,
)
from jobs.stats.rows import INTERNAL_SCHEMA, spec_schema

pytestmark = pytest.mark.integration
SPEC = TABLES["t4_8d_grootte_voertuig"]


def table(values: list[int | None]) -> pa.Table:
    frame = pd.DataFrame({
        "gemeenteCode": "GM0344", "zoneId": 344001, "zoneAanduiding": "GM0344-ZE1", "zoneNaam": "Binnenstad",
        "bedrijfsgrootte": [f"size{i}" for i in range(len(values))], "typeVoertuig": "Bestelauto",
        "maand": 3, "jaar": 2026, "aantalPassages": values, "aantalRitten": values, "aantalUniekeVoertuigen": values,
    })
    return to_arrow(frame, spec_schema(SPEC, CATALOGUE))


def internal() -> pa.Table:
    schema = INTERNAL_SCHEMA.__class__([f for f in INTERNAL_SCHEMA.fields if f.name != "release_id"])
    frame = pd.DataFrame([{"table": SPEC.name, "gemeenteCode": "GM0344", "zoneId": "GM0344-ZE1",
                           "cell": '{"bedrijfsgrootte": "size1"}', "status": "primary", "reasons": "min_vehicles",
                           "audit": "{}"}])
    return to_arrow(frame, schema)


def test_republishing_a_month_adds_a_release_and_never_edits_the_old_one(spark, tmp_path):
    lake = Lake(str(tmp_path / "lake"), spark)
    first = publish(spark, lake, "2026-03", [(SPEC, table([40, None]))], {"passages": 3}, {"k": 1},
                    audit={"attacked": 1}, internal=internal())
    before = lake.read_arrow(published_table(SPEC.name), filters=[("release_id", "=", first.release_id)])
    second = publish(spark, lake, "2026-03", [(SPEC, table([41, 12, None]))], {"passages": 4}, {"k": 1})
    assert second.release_id != first.release_id and second.row_counts == {SPEC.name: 3}
    after = lake.read_arrow(published_table(SPEC.name), filters=[("release_id", "=", first.release_id)])
    assert after.equals(before)
    records = lake.read_arrow(RELEASES).to_pandas().set_index("release_id")
    assert list(records.loc[[first.release_id, second.release_id], "source_versions"].map(json.loads)) == [
        {"passages": 3}, {"passages": 4}]
    protection = json.loads(records.loc[first.release_id, "protection"])
    assert protection["audit"] == {"attacked": 1} and protection["tables"][SPEC.name] == SPEC.protection
    assert protection["content_sha256"] == first.content_sha256 == content_digest({SPEC.name: table([40, None])})


def test_vendors_see_published_rows_only_with_suppressed_values_null(spark, tmp_path):
    lake = Lake(str(tmp_path / "lake"), spark)
    release = publish(spark, lake, "2026-03", [(SPEC, table([40, None]))], {"passages": 3}, {"k": 1},
                      internal=internal())
    store = ReleaseStore(DeltaReader(str(tmp_path / "lake")))
    frame = store.rows(release.release_id, SPEC)
    frame = frame.to_pandas() if isinstance(frame, pa.Table) else frame  # the store's type is the API's choice
    assert list(frame.columns) == SPEC.columns
    assert frame["aantalPassages"].isna().tolist() == [False, True]
    assert frame[SPEC.measures].iloc[1].isna().all()
    hidden = lake.read_arrow(SUPPRESSIONS, filters=[("release_id", "=", release.release_id)]).to_pandas()
    assert hidden["reasons"].tolist() == ["min_vehicles"]
    assert not any(published_table(name) == SUPPRESSIONS for name in TABLES)


def test_spark_frames_still_publish(spark, tmp_path):
    """The API tests and older callers hand over Spark DataFrames."""
    lake = Lake(str(tmp_path / "lake"), spark)
    spec = TABLES["t4_1_uur_camera"]
    frame = spark.createDataFrame([Row(gemeenteCode="GM0344", zoneId=344001, zoneAanduiding="Z1", cameraId="c",
                                       locatie="C",
                                       rijRichtingZone="Inbound", voertuigType="Bus", weekDag=1, uur=8, maand=3,
                                       jaar=2026, aantalPassages=12, aantalUniekeVoertuigen=11)])
    release = publish(spark, lake, "2026-03", [(spec, frame)], {"passages": 1}, {})
    assert release.row_counts == {spec.name: 1}


def test_a_data_dir_with_releases_from_before_the_field_spec_publishes_anew(spark, tmp_path):
    """Releases written before the field spec keep zoneId as text under the old location, whose schema a
    new release cannot append to: the new one goes to its own location, and the API serves it only."""
    from api.common.errors import ApiError

    lake = Lake(str(tmp_path / "lake"), spark)
    old = publish(spark, lake, "2026-03", [(SPEC, table([40, None]))], {"passages": 3}, {"k": 1})
    # Move the release's rows where (and as) the platform kept them before: the text id as zoneId.
    from deltalake import write_deltalake

    rows = lake.read_arrow(published_table(SPEC.name)).drop(["zoneId", "zoneAanduiding"])
    rows = rows.add_column(1, "zoneId", pa.array(["GM0344-ZE1"] * rows.num_rows))
    write_deltalake(lake.path(legacy_published_table(SPEC.name)), rows, partition_by=["release_id"])
    lake.delete(published_table(SPEC.name), f"release_id = '{old.release_id}'")
    record = lake.read_arrow(RELEASES).to_pylist()[0]
    assert predates_field_spec(lake, record)

    new = publish(spark, lake, "2026-03", [(SPEC, table([41, 12]))], {"passages": 4}, {"k": 1})
    assert not predates_field_spec(lake, next(r for r in lake.read_arrow(RELEASES).to_pylist()
                                              if r["release_id"] == new.release_id))
    store = ReleaseStore(DeltaReader(str(tmp_path / "lake")), refresh_seconds=0)
    served = store.rows(new.release_id, SPEC).to_pydict()
    assert served["zoneId"] == [344001, 344001] and served["zoneAanduiding"] == ["GM0344-ZE1"] * 2
    with pytest.raises(ApiError, match=f"release {old.release_id} was published before the field spec"):
        store.rows(old.release_id, SPEC)
