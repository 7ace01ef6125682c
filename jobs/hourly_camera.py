"""Table 4.1 without disclosure control: the build before issue 6, kept as the benchmark's baseline.

Published tables come from jobs/stats.py, which fixes vehicle attributes per month and protects all
tables together; this module counts passages at their own event-time attributes and only applies the
frequency rule to single cells.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from anpr.catalogue import HOURLY_PER_CAMERA as SPEC


def passages_of_month(passages: DataFrame, jaar: int, maand: int) -> DataFrame:
    return passages.where((F.col("jaar") == jaar) & (F.col("maand") == maand))


def hourly_per_camera(passages: DataFrame, cameras: DataFrame, jaar: int, maand: int) -> DataFrame:
    """A unique vehicle is a distinct period_token: tokens link passages within one month only."""
    cells = (passages_of_month(passages, jaar, maand)
             .groupBy("municipality", "zone_id", "camera_id", "rij_richting_zone", "voertuig_type", "week_dag", "uur")
             .agg(F.count(F.lit(1)).alias("aantalPassages"),
                  F.countDistinct("period_token").alias("aantalUniekeVoertuigen")))
    names = cameras.select("camera_id", F.col("camera_name").alias("locatie"))
    return (cells.join(F.broadcast(names), "camera_id", "left")
            .select(F.col("municipality").alias("gemeenteCode"), F.col("zone_id").alias("zoneId"),
                    F.col("camera_id").alias("cameraId"), "locatie",
                    F.col("rij_richting_zone").alias("rijRichtingZone"),
                    F.col("voertuig_type").alias("voertuigType"),
                    F.col("aantalPassages").cast("long"), F.col("aantalUniekeVoertuigen").cast("long"),
                    F.col("week_dag").cast("int").alias("weekDag"), F.col("uur").cast("int"),
                    F.lit(maand).alias("maand"), F.lit(jaar).alias("jaar"))
            .select(*SPEC.columns))


def suppress_small_cells(cells: DataFrame, min_vehicles: int, measures: list[str] = SPEC.measures) -> DataFrame:
    """Frequency rule on single cells: fewer than `min_vehicles` distinct vehicles publishes no counts.

    Its passages go with it, since a passage count of a one-vehicle cell describes that vehicle.
    """
    small = F.col("aantalUniekeVoertuigen") < min_vehicles
    out = cells
    for measure in measures:
        out = out.withColumn(measure, F.when(small, F.lit(None)).otherwise(F.col(measure)).cast("long"))
    return out
