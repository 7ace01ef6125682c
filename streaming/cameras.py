"""The cameras the stream knows: configured in conf/municipalities plus those registered via ingest."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from anpr.feeds.camera_table import CAMERAS, registered_camera_rows
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
])


Registered = dict[str, dict[str, object]]  # API-registered cameras a query holds, by camera id


def registered_cameras(lake: Lake | None, municipalities: list[Municipality]) -> Registered:
    """The API-registered cameras the stream places (current version, with a zone) that conf/municipalities
    does not configure (a configured camera keeps its configured place): rows of `CAMERAS_SCHEMA`."""
    if lake is None:
        return {}
    configured = {r["camera_id"] for r in camera_rows(municipalities)}
    return {str(r["camera_id"]): r for r in registered_camera_rows(lake, municipalities)
            if r["camera_id"] not in configured}


def cameras_frame(spark: SparkSession, lake: Lake | None = None, registered: Registered | None = None) -> DataFrame:
    """The configured cameras plus the registered ones (`registered`, default read from lake)."""
    municipalities = load_municipalities()
    if registered is None:
        registered = registered_cameras(lake, municipalities)
    rows = camera_rows(municipalities) + list(registered.values())
    fields = CAMERAS_SCHEMA.fieldNames()
    return spark.createDataFrame([tuple(r.get(f) for f in fields) for r in rows], CAMERAS_SCHEMA)


def changed_cameras(held: Registered, current: Registered) -> list[str]:
    """The camera ids of held whose current row differs (moved, re-aimed, another zone or direction rule) or
    that lost their place (no zone now): a query holding them would count their reads in the wrong place."""
    return sorted(c for c, row in held.items() if current.get(c) != row)


def cameras_version(lake: Lake | None) -> int | None:
    """The version of the API's cameras table (None: none registered yet): a query's cameras are those of the
    version read before its plan was made (`cameras_frame`), and a camera registered since is unknown to it."""
    return lake.version(CAMERAS) if lake is not None and lake.exists(CAMERAS) else None
