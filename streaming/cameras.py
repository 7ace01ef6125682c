"""The cameras the stream knows: configured in conf/municipalities plus those registered via ingest."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from anpr.feeds.camera_table import CAMERAS, registered_camera_rows
from anpr.lake import Lake
from anpr.zones import camera_rows, load_municipalities

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


def cameras_frame(spark: SparkSession, lake: Lake | None = None) -> DataFrame:
    municipalities = load_municipalities()
    rows = camera_rows(municipalities)
    if lake is not None:
        configured = {r["camera_id"] for r in rows}
        rows += [r for r in registered_camera_rows(lake, municipalities) if r["camera_id"] not in configured]
    fields = CAMERAS_SCHEMA.fieldNames()
    return spark.createDataFrame([tuple(r.get(f) for f in fields) for r in rows], CAMERAS_SCHEMA)


def cameras_version(lake: Lake | None) -> int | None:
    """The version of the API's cameras table (None: none registered yet): a query's cameras are those of the
    version read before its plan was made (`cameras_frame`), and a camera registered since is unknown to it."""
    return lake.version(CAMERAS) if lake is not None and lake.exists(CAMERAS) else None
