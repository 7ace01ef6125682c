"""Table 5.5 (the stream's anonymous out-of-scope counts) in the vendor API: listed with both names, its own
population and protection, served through the rows endpoint in JSON and CSV, Dutch and English names, per
contract like every table."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.access_log import AccessLog
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import synthetic_municipality
from tests.unit.api.vendor.test_series import publish_tables

ANONYMOUS = TABLES["t5_5_buiten_doelgroep"]
KEYS = {"utrecht": "key-utrecht-0123456789"}
HEADERS = {"X-API-Key": KEYS["utrecht"]}
CONTRACTS = parse_contracts('[defaults]\nrequests_per_minute = 100000\nburst = 100000\n'
                            '[vendors.utrecht]\nmunicipalities = ["GM0344"]\n')
UTRECHT = synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12)


def detections(gemeente: str, camera: str, weekday: int, hour: int, n: int) -> dict:
    zone = int(gemeente[2:]) * 1000 + 1
    return {"gemeenteCode": gemeente, "zoneId": zone, "zoneAanduiding": f"{gemeente}-ZE1", "zoneNaam": "ZE-zone",
            "cameraId": camera, "locatie": camera.upper(), "rijRichtingZone": "Inbound", "weekDag": weekday,
            "uur": hour, "maand": 10, "jaar": 2026, "aantalDetectiesBuitenDoelgroep": n}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("anonymous")
    lake = str(root / "lake")
    publish_tables(lake, "2026-10-a", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC), {
        ANONYMOUS.name: [detections("GM0344", "c1", 1, 8, 130), detections("GM0344", "c2", 1, 8, 7),
                         detections("GM0344", "c1", 6, 23, 2), detections("GM0599", "c9", 1, 8, 999)]})
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    app = create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                     municipalities=[UTRECHT, synthetic_municipality()],
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    with TestClient(app) as c:
        yield c


def rows(client, **params):
    return client.get(f"/v1/tables/{ANONYMOUS.name}/rows", headers=HEADERS, params={"release": "2026-10-a", **params})


def test_listed_with_both_names_its_population_and_published_as_is(client):
    listing = client.get("/v1/tables", headers=HEADERS).json()["tables"]
    [info] = [t for t in listing if t["table"] == ANONYMOUS.name]
    assert (info["number"], info["kind"], info["unit"]) == ("5.5", "anonymous", "detectie")
    assert info["measures"] == ["aantalDetectiesBuitenDoelgroep"]
    columns = {c["name"]: c for c in info["columns"]}
    assert [(c["name"], c["nameEn"]) for c in info["columns"]] == list(ANONYMOUS.english.items())
    assert columns["aantalDetectiesBuitenDoelgroep"]["nameEn"] == "number_of_detections_out_of_scope"
    assert (columns["aantalDetectiesBuitenDoelgroep"]["type"], columns["weekDag"]["type"]) == ("int", "int")
    assert "without any token" in columns["aantalDetectiesBuitenDoelgroep"]["definition"]
    assert "published as is" in info["protection"] and "counted again" in info["protection"]
    assert info["population"].startswith("Out-of-scope detections only")
    assert client.get(f"/v1/tables/{ANONYMOUS.name}", headers=HEADERS).json()["columns"] == info["columns"]


def test_served_through_the_rows_endpoint_for_the_contracted_municipality_only(client):
    answer = rows(client)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == 3 and {r["gemeenteCode"] for r in body["rows"]} == {"GM0344"}
    assert sorted(r["aantalDetectiesBuitenDoelgroep"] for r in body["rows"]) == [2, 7, 130]
    assert '"zoneId":344001,' in answer.text
    assert rows(client, cameraId="c1", weekDag=1).json()["rows"][0]["aantalDetectiesBuitenDoelgroep"] == 130
    assert rows(client, gemeenteCode="GM0599").status_code == 403


def test_names_en_gives_the_english_names_with_the_same_values_in_json_and_csv(client):
    dutch, english = rows(client).json(), rows(client, names="en").json()
    assert list(english["rows"][0]) == list(ANONYMOUS.english.values())
    assert [list(r.values()) for r in english["rows"]] == [list(r.values()) for r in dutch["rows"]]
    table = list(csv.reader(io.StringIO(rows(client, names="en", format="csv").text)))
    assert table[0] == list(ANONYMOUS.english.values())
    assert table[0][-1] == "number_of_detections_out_of_scope" and len(table) == 4
