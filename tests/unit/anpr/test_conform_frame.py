"""anpr/lake.py conform_frame: a pipeline step's frame in its table's column order and types, the errors one
line each. It reads the frame's schema once (the stream conforms three frames on every micro-batch)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import types as T

from anpr.lake import conform_frame

SCHEMA = T.StructType([
    T.StructField("observation_id", T.StringType(), False),
    T.StructField("lane", T.LongType(), True),
    T.StructField("event_ts", T.TimestampType(), True),
    T.StructField("notes", T.StringType(), True),
])


@pytest.fixture
def frame(spark):
    return spark.createDataFrame(
        [("a", 1, dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC), 0.5), ("b", None, None, 0.7)],
        "observation_id string, lane int, event_ts timestamp, _helper double")


def test_columns_come_in_the_table_order_cast_to_its_types_and_a_missing_nullable_one_is_null(frame):
    out = conform_frame(frame, SCHEMA, drop_extra=True)
    assert [(f.name, f.dataType) for f in out.schema.fields] == [(f.name, f.dataType) for f in SCHEMA.fields]
    rows = out.selectExpr("observation_id", "lane", "string(event_ts)", "notes").orderBy("observation_id")
    assert [tuple(r) for r in rows.collect()] == [("a", 1, "2026-03-09 08:00:00", None), ("b", None, None, None)]


def test_a_helper_column_is_refused_unless_dropped_and_a_missing_required_one_always(frame):
    with pytest.raises(ValueError, match=r"columns \['_helper'\] are not in the table schema"):
        conform_frame(frame, SCHEMA)
    with pytest.raises(ValueError, match="non-nullable column 'observation_id' is missing"):
        conform_frame(frame.drop("observation_id"), SCHEMA, drop_extra=True)
