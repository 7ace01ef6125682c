"""The cameras the stream knows: configured in conf/municipalities plus those registered via ingest, each
registered one with its placements over event time (anpr/feeds/camera_table.py camera_placements)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from anpr.feeds.camera_table import CAMERAS, camera_placements
from anpr.lake import Lake
from anpr.zones import Municipality, camera_rows, load_municipalities

CAMERAS_SCHEMA = T.StructType([
    T.StructField("camera_id", T.StringType(), False),
    T.StructField("camera_name", T.StringType(), True),
    T.StructField("municipality", T.StringType(), False),
    T.StructField("zone_id", T.StringType(), True),
    T.StructField("zone_name", T.StringType(), True),
    T.StructField("latitude", T.DoubleType(), True),
    T.StructField("longitude", T.DoubleType(), True),
    T.StructField("azimuth_deg", T.DoubleType(), True),
    # null when the direction rule could not be resolved: such passages keep a null direction
    T.StructField("obverse_direction", T.StringType(), True),
    T.StructField("reverse_direction", T.StringType(), True),
    # [valid_from, valid_to) of event time this row places; null: unbounded (configured cameras, a
    # registered camera's first and current placements)
    T.StructField("valid_from", T.TimestampType(), True),
    T.StructField("valid_to", T.TimestampType(), True),
])


# API-registered cameras a query holds, by camera id: their placements, rows of `CAMERAS_SCHEMA` by valid_from
Registered = dict[str, list[dict[str, object]]]


def registered_cameras(lake: Lake | None, municipalities: list[Municipality]) -> Registered:
    """The API-registered cameras the stream places (a version with a zone, at any time) that
    conf/municipalities does not configure (a configured camera keeps its configured place)."""
    if lake is None:
        return {}
    configured = {r["camera_id"] for r in camera_rows(municipalities)}
    out: Registered = {}
    for place in camera_placements(lake, municipalities):
        if place["camera_id"] not in configured:
            out.setdefault(str(place["camera_id"]), []).append(place)
    return out


def cameras_frame(spark: SparkSession, lake: Lake | None = None, registered: Registered | None = None) -> DataFrame:
    """The configured cameras plus the registered ones (`registered`, default read from lake)."""
    municipalities = load_municipalities()
    if registered is None:
        registered = registered_cameras(lake, municipalities)
    rows = camera_rows(municipalities) + [place for places in registered.values() for place in places]
    fields = CAMERAS_SCHEMA.fieldNames()
    return spark.createDataFrame([tuple(r.get(f) for f in fields) for r in rows], CAMERAS_SCHEMA)


def changed_cameras(held: Registered, current: Registered) -> list[str]:
    """The camera ids of held whose placements differ now (moved, re-aimed, another zone or direction rule,
    no zone any more, from some moment on): a query holding them would count reads in the wrong place."""
    return sorted(c for c, row in held.items() if current.get(c) != row)


def placed_anew(held: Registered | None, current: Registered) -> set[str]:
    """The camera ids of current placed otherwise than held places them (all of current without held): a
    camera registered since, or moved back into a zone. Its unknown reads are worth a restart; those of a
    camera placed as held (no zone now, or at the read's time) stay unknown after one."""
    return {c for c, places in current.items() if held is None or held.get(c) != places}


def cameras_version(lake: Lake | None) -> int | None:
    """The version of the API's cameras table (None: none registered yet): a query's cameras are those of the
    version read before its plan was made (`cameras_frame`), and a camera registered since is unknown to it."""
    return lake.version(CAMERAS) if lake is not None and lake.exists(CAMERAS) else None
