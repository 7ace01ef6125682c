"""The Delta table `cameras`: every version of every camera registered through the ingest API.

One row per version, valid over [valid_from, valid_to) (valid_to null: the current one), with where
the platform placed the camera (municipality, zone, direction rule) and the contract record as JSON.
The ingest service is its only writer (with delta-rs, anpr/delta_reader.py); the stream reads it
through delta-spark.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

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


def camera_placements(lake: TableReader, municipalities: list[Municipality]) -> list[dict[str, object]]:
    """Where the stream places the reads of each API-registered camera, over event time: rows with the keys
    of anpr.zones.camera_rows plus `valid_from` and `valid_to`, the interval [valid_from, valid_to) of
    event time they place, ordered by camera and valid_from.

    The intervals follow the table's versions (`valid_from` of each version; a version ends where the next
    begins), so a read delivered late (up to the ingest contract's 7 days) is placed where the camera stood
    when it read, not where it stands now. The first placement of a camera has valid_from null: reads from
    before it (a registration without `active_from` is valid from its arrival, and its backlog follows; one
    whose first versions had no zone, say a mistyped location corrected since) are placed by it, as before
    versions were kept. The current one has valid_to null.
    Consecutive versions that place alike (a status or notes update) make one row, so that such an update
    changes nothing a running stream holds; a version without a zone of `municipalities` makes none, and
    its reads stay UNKNOWN_CAMERA."""
    if not lake.exists(CAMERAS):
        return []
    zones = {z.zone_id: z.name for m in municipalities for z in m.zones}
    versions: dict[str, list[dict[str, Any]]] = {}
    for r in lake.read_arrow(CAMERAS).to_pylist():
        # uuids compare in lower case (streaming/pipeline.py UUID_FIELDS), as anpr/zones.py Camera holds them
        versions.setdefault(r["camera_id"].lower(), []).append(r)
    out: list[dict[str, object]] = []
    for camera_id, rows in sorted(versions.items()):
        rows.sort(key=lambda r: r["valid_from"])
        ends = [r["valid_from"] for r in rows[1:]] + [None]
        previous: dict[str, object] | None = None
        first = True
        for r, end in zip(rows, ends, strict=True):
            if r["zone_id"] not in zones:
                previous = None
                continue
            record = json.loads(r["record"])
            place = {"camera_id": camera_id, "camera_name": record.get("address_formatted") or camera_id,
                     "municipality": r["municipality"], "zone_id": r["zone_id"], "zone_name": zones[r["zone_id"]],
                     "latitude": r["latitude"], "longitude": r["longitude"], "azimuth_deg": r["azimuth_deg"],
                     "obverse_direction": r["obverse_direction"], "reverse_direction": r["reverse_direction"]}
            if previous is not None and all(previous[k] == v for k, v in place.items()):
                previous["valid_to"] = end
                continue
            previous = place | {"valid_from": None if first else r["valid_from"], "valid_to": end}
            out.append(previous)
            first = False
    return out


def registered_camera_rows(lake: TableReader, municipalities: list[Municipality],
                           at: datetime | None = None) -> list[dict[str, object]]:
    """The placements (`camera_placements`) valid at `at` (default: the current ones), one per camera."""
    return [p for p in camera_placements(lake, municipalities)
            if (p["valid_to"] is None if at is None else _covers(p, at))]


def _covers(place: dict[str, Any], at: datetime) -> bool:
    return (place["valid_from"] is None or place["valid_from"] <= at) and (
        place["valid_to"] is None or at < place["valid_to"])
