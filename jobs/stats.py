"""`anpr stats`: monthly tables from passages, disclosure control, and a new release."""

from __future__ import annotations

import logging
import re

from pyspark.sql import DataFrame, SparkSession

from anpr.catalogue import HOURLY_PER_CAMERA
from anpr.lake import Lake
from anpr.settings import Settings
from anpr.zones import camera_rows, load_municipalities
from jobs.hourly_camera import hourly_per_camera, suppress_small_cells
from jobs.release import Release, publish
from streaming.tables import PASSAGES

log = logging.getLogger(__name__)


def parse_month(month: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return int(match.group(1)), int(match.group(2))


def cameras_frame(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(camera_rows(load_municipalities()))


def run_monthly_stats(spark: SparkSession, settings: Settings, lake: Lake, month: str) -> Release:
    jaar, maand = parse_month(month)
    if not lake.exists(PASSAGES):
        raise RuntimeError("no passages table yet: run the stream first (`anpr stream --until-idle`)")
    source_version = lake.version(PASSAGES)
    passages = lake.read(PASSAGES, version=source_version)
    hourly = suppress_small_cells(
        hourly_per_camera(passages, cameras_frame(spark), jaar, maand), settings.disclosure.min_vehicles)
    release = publish(spark, lake, month, [(HOURLY_PER_CAMERA, hourly)], {PASSAGES: source_version},
                      {"min_vehicles": settings.disclosure.min_vehicles})
    log.info("published release %s with %s", release.release_id, release.row_counts)
    return release
