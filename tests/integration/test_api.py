"""Vendor API over a real release in a temporary Delta lake."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pyspark.sql import Row

from anpr.catalogue import HOURLY_PER_CAMERA
from anpr.lake import LocalLake
from api.app import create_app
from api.releases import ReleaseStore
from jobs.hourly_camera import suppress_small_cells
from jobs.release import publish

pytestmark = pytest.mark.integration
KEY = {"X-API-Key": "dev-vendor-key"}


def cells(spark, n: int):
    rows = [Row(gemeenteCode="GM0344", zoneId="Z1", cameraId=f"cam-{i % 3}", locatie=f"Cam {i % 3}",
                rijRichtingZone="Inbound", voertuigType="Personenauto", weekDag=1 + i % 7, uur=i % 24,
                maand=3, jaar=2026, aantalPassages=10 + i, aantalUniekeVoertuigen=5 + i)
            for i in range(n)]
    return suppress_small_cells(spark.createDataFrame(rows), 10)


@pytest.fixture
def client(spark, settings, tmp_path):
    lake = LocalLake(str(tmp_path / "lake"), spark)
    config = {"min_vehicles": 10}
    publish(spark, lake, "2026-03", [(HOURLY_PER_CAMERA, cells(spark, 25))], {"passages": 1}, config)
    newer = publish(spark, lake, "2026-03", [(HOURLY_PER_CAMERA, cells(spark, 30))], {"passages": 2}, config)
    app = create_app(settings, ReleaseStore(LocalLake(str(tmp_path / "lake"))))
    with TestClient(app) as c:
        yield c, newer


def test_keys_are_required(client):
    c, _ = client
    assert c.get("/v1/releases").status_code == 401
    bad = c.get("/v1/releases", headers={"X-API-Key": "nope"})
    assert bad.status_code == 401
    assert set(bad.json()["error"]) == {"code", "message", "hint", "trace_id"}


def test_latest_release_per_month_is_listed(client):
    c, newer = client
    releases = c.get("/v1/releases", headers=KEY).json()["releases"]
    assert [r["release_id"] for r in releases] == [newer.release_id]
    assert releases[0]["row_counts"] == {HOURLY_PER_CAMERA.name: 30}


def test_pages_cover_every_row_once_with_suppressed_values_null(client):
    c, _ = client
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = c.get(f"/v1/tables/{HOURLY_PER_CAMERA.name}/rows", headers=KEY, params=params).json()
        seen += page["rows"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 30 == len({(r["cameraId"], r["weekDag"], r["uur"]) for r in seen})
    assert list(seen[0]) == HOURLY_PER_CAMERA.columns
    suppressed = [r for r in seen if r["aantalPassages"] is None]
    assert len(suppressed) == 5 and all(r["aantalUniekeVoertuigen"] is None for r in suppressed)
    assert all(isinstance(r["aantalPassages"], int) for r in seen if r not in suppressed)


def test_filters_and_errors(client):
    c, _ = client
    url = f"/v1/tables/{HOURLY_PER_CAMERA.name}/rows"
    rows = c.get(url, headers=KEY, params={"cameraId": "cam-1", "limit": 100}).json()["rows"]
    assert rows and {r["cameraId"] for r in rows} == {"cam-1"}
    assert c.get(url, headers=KEY, params={"plate": "x"}).status_code == 400
    assert c.get("/v1/tables/nope/rows", headers=KEY).json()["error"]["code"] == "not_found"
    assert c.get(url, headers=KEY, params={"release": "nope"}).status_code == 404
    assert c.get(url, headers=KEY, params={"cursor": "!!"}).status_code == 400
