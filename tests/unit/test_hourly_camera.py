"""Table 4.1 computed by hand on inline passages."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Row

from jobs.hourly_camera import SPEC, hourly_per_camera, suppress_small_cells

CAM = "cam-1"


def passage(token: str, uur: int, direction: str = "Inbound", kind: str = "Bestelauto", maand: int = 3):
    return Row(municipality="GM0344", zone_id="Z1", camera_id=CAM, rij_richting_zone=direction,
               voertuig_type=kind, week_dag=2, uur=uur, jaar=2026, maand=maand,
               event_date=date(2026, maand, 10), period_token=token)


def test_counts_passages_and_distinct_vehicles_per_cell(spark):
    rows = [passage("a", 8), passage("a", 8), passage("b", 8), passage("c", 9, "Outbound"),
            passage("d", 8, maand=4)]
    cameras = spark.createDataFrame([Row(camera_id=CAM, camera_name="Weerdsingel")])
    out = hourly_per_camera(spark.createDataFrame(rows), cameras, 2026, 3)
    assert out.columns == SPEC.columns
    got = sorted((r.uur, r.rijRichtingZone, r.aantalPassages, r.aantalUniekeVoertuigen, r.locatie)
                 for r in out.collect())
    assert got == [(8, "Inbound", 3, 2, "Weerdsingel"), (9, "Outbound", 1, 1, "Weerdsingel")]


def test_small_cells_lose_all_their_counts(spark):
    cells = spark.createDataFrame([Row(aantalPassages=40, aantalUniekeVoertuigen=12),
                                   Row(aantalPassages=30, aantalUniekeVoertuigen=9)])
    out = [tuple(r) for r in suppress_small_cells(cells, 10).collect()]
    assert out == [(40, 12), (None, None)]
