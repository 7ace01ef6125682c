"""The working group's field spec in the vendor API: zoneId the NDW code as an integer (JSON and CSV), the
text id as zoneAanduiding, the English names on request (?names=en), both names in the metadata, and
releases published before the field spec refused with the remedy."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.lake import spark_to_arrow_schema
from anpr.settings import Settings
from api.access_log import AccessLog
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import synthetic_municipality
from jobs.stats.release import RELEASES, RELEASES_SCHEMA, legacy_published_table
from tests.unit.api.vendor.test_series import overview_row, publish_tables

OVERVIEW, CAMERAS = TABLES["t4_9_overzicht"], TABLES["t4_12_camera"]
KEYS = {"utrecht": "key-utrecht-0123456789"}
HEADERS = {"X-API-Key": KEYS["utrecht"]}
CONTRACTS = parse_contracts('[defaults]\nrequests_per_minute = 100000\nburst = 100000\n'
                            '[vendors.utrecht]\nmunicipalities = ["GM0344"]\n')
UTRECHT = synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12)


def camera_row(camera: str, detection: str, share: float | None) -> dict:
    return {"gemeenteCode": "GM0344", "zoneId": 344001, "zoneAanduiding": "GM0344-ZE1", "cameraId": camera,
            "cameraNaam": camera.upper(), "latitude": 52.09, "longitude": 5.12, "kijkRichtingGraden": 90.0,
            "detectieRichting": detection, "rijRichtingZone": "Inbound" if detection == "Voorzijde" else "Outbound",
            "maand": 10, "jaar": 2026, "beschikbaarheidsPercentage": share}


def legacy_release(root: str, release_id: str, month: str, created: datetime) -> None:
    """A release as the platform wrote it before the field spec: zoneId the text id, no zoneAanduiding,
    detection obverse/reverse, under the old location."""
    row = {"gemeenteCode": "GM0344", "zoneId": "GM0344-ZE1", "zoneNaam": "ZE-zone", "kenmerk": "totaal",
           "waarde": "totaal", "maand": int(month[5:]), "jaar": int(month[:4]), "aantalPassages": 90,
           "aantalRitten": 60, "aantalUniekeVoertuigen": 30, "release_id": release_id}
    write_deltalake(f"{root}/{legacy_published_table(OVERVIEW.name)}", pa.Table.from_pylist([row]), mode="append",
                    partition_by=["release_id"])
    record = {"release_id": release_id, "month": month, "created_at": created, "tables": json.dumps([OVERVIEW.name]),
              "row_counts": json.dumps({OVERVIEW.name: 1}), "source_versions": "{}", "config_hash": "old",
              "protection": "{}"}
    write_deltalake(f"{root}/{RELEASES}", pa.Table.from_pylist([record], spark_to_arrow_schema(RELEASES_SCHEMA)),
                    mode="append")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fieldspec")
    lake = str(root / "lake")
    legacy_release(lake, "2026-09-old", "2026-09", datetime(2026, 10, 3, 2, tzinfo=UTC))
    publish_tables(lake, "2026-10-a", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC), {
        OVERVIEW.name: [overview_row("GM0344", 2026, 10, "Euro 6", 150), overview_row("GM0344", 2026, 10, "Z", None),
                        overview_row("GM0599", 2026, 10, "Euro 6", 99)],
        CAMERAS.name: [camera_row("c1", "Voorzijde", 97.5), camera_row("c1", "Achterzijde", None)]})
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    app = create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                     municipalities=[UTRECHT, synthetic_municipality()],
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    with TestClient(app) as c:
        yield c


def rows(client, table: str = OVERVIEW.name, **params):
    return client.get(f"/v1/tables/{table}/rows", headers=HEADERS, params={"release": "2026-10-a", **params})


def test_zone_id_is_the_ndw_code_as_an_integer_with_the_text_id_as_label(client):
    answer = rows(client)
    assert answer.status_code == 200, answer.text
    body = answer.json()["rows"]
    assert [(r["zoneId"], r["zoneAanduiding"], r["waarde"]) for r in body] == [
        (344001, "GM0344-ZE1", "Euro 6"), (344001, "GM0344-ZE1", "Z")]
    assert '"zoneId":344001,' in answer.text  # a JSON number, not a string
    table = list(csv.reader(io.StringIO(rows(client, format="csv").text)))
    assert table[0][:4] == ["gemeenteCode", "zoneId", "zoneAanduiding", "zoneNaam"]
    assert [r[1:3] for r in table[1:]] == [["344001", "GM0344-ZE1"]] * 2
    # Filtering on zoneId takes the code; the text id is a label to filter on, not a zoneId.
    assert rows(client, zoneId=344001).json()["total"] == 2
    assert rows(client, zoneAanduiding="GM0344-ZE1").json()["total"] == 2
    assert rows(client, zoneId="GM0344-ZE1").status_code == 400
    assert rows(client, zoneId=599001).status_code == 403


def test_table_4_12_gives_the_detection_direction_as_voorzijde_or_achterzijde(client):
    body = rows(client, CAMERAS.name).json()["rows"]
    assert {(r["detectieRichting"], r["rijRichtingZone"]) for r in body} == {("Voorzijde", "Inbound"),
                                                                             ("Achterzijde", "Outbound")}
    assert rows(client, CAMERAS.name, detectieRichting="Voorzijde").json()["total"] == 1
    cameras = client.get("/v1/cameras", headers=HEADERS, params={"release": "2026-10-a"}).json()
    assert sorted(f["id"] for f in cameras["features"]) == ["c1.Achterzijde", "c1.Voorzijde"]


def test_names_en_gives_the_english_names_with_the_same_values_in_json_and_csv(client):
    dutch, english = rows(client).json(), rows(client, names="en").json()
    assert list(english["rows"][0]) == ["municipality_code", "zone_id", "zone_label", "zone_name", "characteristic",
                                        "value", "month", "year", "number_of_passages", "number_of_trips",
                                        "number_of_unique_vehicles"]
    assert [list(r.values()) for r in english["rows"]] == [list(r.values()) for r in dutch["rows"]]
    assert english["rows"][0]["zone_id"] == 344001
    text = rows(client, names="en", format="csv").text
    assert text.splitlines()[0] == ",".join(english["rows"][0])
    assert text.splitlines()[1:] == rows(client, format="csv").text.splitlines()[1:]
    cameras = rows(client, CAMERAS.name, names="en").json()["rows"]
    assert {r["detection_direction"] for r in cameras} == {"Voorzijde", "Achterzijde"}
    assert rows(client, names="de").status_code == 422


def test_the_next_page_keeps_the_english_names(client):
    first = rows(client, names="en", limit=1).json()
    assert "names=en" in first["links"]["next"]
    second = client.get(first["links"]["next"], headers=HEADERS).json()
    assert list(second["rows"][0]) == list(first["rows"][0]) and second["rows"][0]["value"] == "Z"


def test_metadata_gives_both_names_of_every_column(client):
    info = client.get(f"/v1/tables/{CAMERAS.name}", headers=HEADERS).json()
    columns = {c["name"]: c for c in info["columns"]}
    assert [(c["name"], c["nameEn"]) for c in info["columns"]][:3] == [
        ("gemeenteCode", "municipality_code"), ("zoneId", "zone_id"), ("zoneAanduiding", "zone_label")]
    assert (columns["zoneId"]["type"], columns["zoneId"]["role"]) == ("int", "scope")
    assert (columns["zoneAanduiding"]["type"], columns["zoneAanduiding"]["role"]) == ("string", "label")
    assert columns["detectieRichting"]["nameEn"] == "detection_direction"
    assert "Voorzijde" in columns["detectieRichting"]["definition"]
    assert columns["beschikbaarheidsPercentage"]["nameEn"] == "availability_percentage"
    listing = client.get("/v1/tables", headers=HEADERS).json()["tables"]
    assert all(c["nameEn"] == TABLES[t["table"]].english[c["name"]] for t in listing for c in t["columns"])


def test_zones_list_their_ndw_code_and_are_found_by_it(client):
    [place] = client.get("/v1/municipalities", headers=HEADERS).json()["municipalities"]
    assert place["zones"] == [{"zoneId": 344001, "zoneAanduiding": "GM0344-ZE1", "zoneNaam": "ZE-zone centrum Utrecht"}]
    by_code = client.get("/v1/zones/344001", headers=HEADERS).json()
    assert by_code == client.get("/v1/zones/GM0344-ZE1", headers=HEADERS).json()
    assert by_code["properties"]["zoneId"] == 344001 and by_code["properties"]["zoneAanduiding"] == "GM0344-ZE1"
    assert client.get("/v1/zones/599001", headers=HEADERS).status_code == 403


def test_a_release_published_before_the_field_spec_is_not_served_and_says_how_to_rebuild(client):
    answer = client.get(f"/v1/tables/{OVERVIEW.name}/rows", headers=HEADERS, params={"release": "2026-09-old"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["message"] == (f"release 2026-09-old was published before the field spec (zoneId as the NDW zone "
                                f"code, detectieRichting Voorzijde/Achterzijde): its {OVERVIEW.name} is not served")
    assert error["hint"] == "the operator re-runs `anpr stats --month 2026-09` to publish the month anew"
    series = client.get(f"/v1/tables/{OVERVIEW.name}/series", headers=HEADERS,
                        params={"measure": "aantalPassages", "from": "2026-09", "to": "2026-10"})
    assert series.status_code == 200, series.text
    months = series.json()["months"]
    assert [(m["month"], m["releaseId"]) for m in months] == [("2026-09", None), ("2026-10", "2026-10-a")]
    assert months[0]["missing"] == error["message"]
    listed = client.get("/v1/releases", headers=HEADERS).json()["releases"]
    assert [r["releaseId"] for r in listed] == ["2026-09-old", "2026-10-a"]


def test_the_sector_metadata_names_the_sbi_level_of_the_column_and_when_recoding_changes_it(client):
    """A vendor reading GET /v1/tables learns that SBI08GroepCode holds the SBI 2008 afdeling, and that a
    release listed under `recoded` holds the section instead (docs/statistics.md, "Global recoding")."""
    info = client.get("/v1/tables/t4_6_bezoeker_sector", headers=HEADERS).json()
    columns = {c["name"]: c for c in info["columns"]}
    code, name = columns["SBI08GroepCode"]["definition"], columns["SBI08Omschrijving"]["definition"]
    assert code == info["definitions"]["SBI08GroepCode"]
    assert code.startswith("SBI 2008 afdeling (division: the first two digits of the SBI code, e.g. 49)")
    assert "GET /v1/releases `recoded`: SBI08GroepCode sectie" in code and "SBI 2008 sectie (a letter A-U)" in code
    assert "SBI-afdeling 63 (sectie J: Informatie en communicatie)" in name and "The section's name" in name
    assert ("the table is published with SBI08GroepCode at the SBI 2008 sectie instead of the afdeling"
            in info["protection"])
    overview = client.get(f"/v1/tables/{OVERVIEW.name}", headers=HEADERS).json()
    assert "Global recoding" not in overview["protection"]  # 4.9 is never recoded
    assert "sectie" not in {c["name"]: c for c in overview["columns"]}.get("SBI08GroepCode", {}).get("definition", "")
    assert "sectie" not in overview["definitions"]["SBI08GroepCode"]


SECTOR = TABLES["t4_6_bezoeker_sector"]


def sector_row(month: int, code: str, name: str, vehicles: int | None) -> dict:
    return {"gemeenteCode": "GM0344", "zoneId": 344001, "zoneAanduiding": "GM0344-ZE1",
            "zoneNaam": "ZE-zone centrum Utrecht", "typeBezoeker": "Eenmalig", "SBI08GroepCode": code,
            "SBI08Omschrijving": name, "maand": month, "jaar": 2026, "aantalUniekeVoertuigen": vehicles}


@pytest.fixture(scope="module")
def sector_client(tmp_path_factory):
    """August published 4.6 by section (global recoding), September by afdeling."""
    root = tmp_path_factory.mktemp("sector")
    lake = str(root / "lake")
    publish_tables(lake, "2026-08-r", "2026-08", datetime(2026, 9, 5, 2, tzinfo=UTC),
                   {SECTOR.name: [sector_row(8, "H", "Vervoer en opslag", 14),
                                  sector_row(8, "Onbekend", "Onbekend", 30)]},
                   {"recoded": {SECTOR.name: {"SBI08GroepCode": "sectie"}}})
    publish_tables(lake, "2026-09-a", "2026-09", datetime(2026, 10, 5, 2, tzinfo=UTC),
                   {SECTOR.name: [sector_row(9, "49", "Vervoer over land", 12),
                                  sector_row(9, "53", "Post en koeriers", None)]})
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    app = create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                     municipalities=[UTRECHT, synthetic_municipality()],
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    with TestClient(app) as c:
        yield c


def test_a_tables_definition_in_a_release_gives_the_sbi_level_that_release_publishes(sector_client):
    def info(**params):
        answer = sector_client.get(f"/v1/tables/{SECTOR.name}", headers=HEADERS, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    recoded = info(release="2026-08-r")
    assert (recoded["releaseId"], recoded["recoded"]) == ("2026-08-r", {"SBI08GroepCode": "sectie"})
    assert recoded["definitions"]["SBI08GroepCode"].startswith("SBI 2008 sectie (section, a letter A-U)")
    assert recoded["definitions"]["SBI08Omschrijving"].startswith("The statistics office's name of the SBI 2008 sectie")
    assert recoded["protection"].endswith("Recoded before suppression: SBI08GroepCode holds codes of level sectie.")
    assert "Global recoding before suppression: in a month" not in recoded["protection"]
    # the rows of that release hold what the definition says: section letters
    rows = sector_client.get(f"/v1/tables/{SECTOR.name}/rows", headers=HEADERS, params={"release": "2026-08-r"})
    assert [r["SBI08GroepCode"] for r in rows.json()["rows"]] == ["H", "Onbekend"]

    kept = info(month="2026-09")
    assert (kept["releaseId"], kept["recoded"]) == ("2026-09-a", {})
    assert kept["definitions"]["SBI08GroepCode"].startswith("SBI 2008 afdeling (division")
    assert kept["protection"] == SECTOR.protection  # the catalogue's: recoding may come, in some month
    assert info() == {k: v for k, v in kept.items() if k not in ("releaseId", "recoded")}
    missing = sector_client.get(f"/v1/tables/{SECTOR.name}", headers=HEADERS, params={"release": "2026-07-x"})
    assert missing.status_code == 404
