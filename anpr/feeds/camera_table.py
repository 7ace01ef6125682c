"""The Delta table `cameras`: every version of every camera registered through the ingest API.

One row per version, valid over [valid_from, valid_to) (valid_to null: the current one), with where
the platform placed the camera (municipality, zone, direction rule) and the contract record as JSON.
The ingest service is its only writer (with delta-rs, anpr/delta_reader.py); the stream reads it
through delta-spark.
"""

from __future__ import annotations

import json
from datetime import datetime

from pyspark.sql import types as T

from anpr.delta_reader import TableReader
from anpr.lake import spark_to_arrow_schema
from anpr.zones import Municipality

CAMERAS = "cameras"
CAMERAS_SCHEMA = T.StructType([
    T.StructField("camera_id", T.StringType(), False),
    T.StructField("valid_from", T.TimestampType(), False),
    T.StructField("valid_to", T.TimestampType(), True),
    T.StructField("supplier", T.StringType(), False),
    T.StructField("municipality", T.StringType(), True),
    T.StructField("zone_id", T.StringType(), True),
    T.StructField("zone_source", T.StringType(), False),  # declared | location | unresolved
    T.StructField("obverse_direction", T.StringType(), True),
    T.StructField("reverse_direction", T.StringType(), True),
    T.StructField("direction_source", T.StringType(), False),  # geometry | unresolved
    T.StructField("problem", T.StringType(), True),
    T.StructField("camera_type", T.StringType(), True),
    T.StructField("camera_status", T.StringType(), True),
    T.StructField("latitude", T.DoubleType(), True),
    T.StructField("longitude", T.DoubleType(), True),
    T.StructField("azimuth_deg", T.DoubleType(), True),
    T.StructField("record", T.StringType(), False),  # the contract's camera object as delivered and merged
    T.StructField("request_id", T.StringType(), True),
    T.StructField("recorded_at", T.TimestampType(), False),
])
ARROW_SCHEMA = spark_to_arrow_schema(CAMERAS_SCHEMA)


def registered_camera_rows(lake: TableReader, municipalities: list[Municipality],
                           at: datetime | None = None) -> list[dict[str, object]]:
    """The API-registered cameras valid at `at` (default: the current versions) that have a zone, as
    rows with the keys of anpr.zones.camera_rows, so that the stream can know them next to the
    configured ones."""
    if not lake.exists(CAMERAS):
        return []
    zones = {z.zone_id: z.name for m in municipalities for z in m.zones}
    rows = []
    for r in lake.read_arrow(CAMERAS).to_pylist():
        current = r["valid_to"] is None if at is None else r["valid_from"] <= at and (
            r["valid_to"] is None or at < r["valid_to"])
        if not current or r["zone_id"] not in zones:
            continue
        record = json.loads(r["record"])
        # uuids compare in lower case (streaming/pipeline.py UUID_FIELDS), as anpr/zones.py Camera holds them
        rows.append({"camera_id": r["camera_id"].lower(),
                     "camera_name": record.get("address_formatted") or r["camera_id"],
                     "municipality": r["municipality"], "zone_id": r["zone_id"], "zone_name": zones[r["zone_id"]],
                     "latitude": r["latitude"], "longitude": r["longitude"], "azimuth_deg": r["azimuth_deg"],
                     "obverse_direction": r["obverse_direction"], "reverse_direction": r["reverse_direction"]})
    return rows
