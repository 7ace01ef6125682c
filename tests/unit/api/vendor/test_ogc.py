"""OGC API - Features (issue 14): the zones and the cameras of table 4.12 read as QGIS or ArcGIS would,
with OWSLib's OGC API client against a uvicorn server, and the layers, bbox, paging and errors over
the API's own rows. Two municipalities (GM0344 Utrecht, GM0599 Rotterdam), two releases of one month
(the later one is current), a suppressed availability."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import owslib.ogcapi
import pytest
from fastapi.testclient import TestClient
from owslib.ogcapi.features import Features
from shapely.geometry import Point

from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.access_log import AccessLog, read_access_log
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.geo import camera_collection, camera_features
from api.vendor.main import create_app
from api.vendor.ogc import parse_bbox
from api.vendor.sample import synthetic_municipality
from cli.serve import in_thread, server_config
from tests.unit.api.vendor.test_series import overview_row, publish_tables

CAMERAS = "t4_12_camera"
KEYS = {"utrecht": "key-utrecht-0123456789", "both": "key-both-0123456789", "nocontract": "key-none-0123456789"}
CONTRACTS = parse_contracts("""
[defaults]
requests_per_minute = 100000
burst = 100000
[layers.open]
municipalities = ["GM0344"]
[vendors.utrecht]
municipalities = ["GM0344"]
[vendors.both]
municipalities = ["GM0344", "GM0599"]
""")
PLACES = [synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12, cameras=4), synthetic_municipality()]
UTRECHT = {"X-API-Key": KEYS["utrecht"]}
SUPPRESSED = "gm0344-cam-2"  # its availability is null in the current release


def camera_rows(percentage: float) -> list[dict]:
    """Table 4.12 of both municipalities: each camera and detection direction, at `percentage` but the
    suppressed camera (null) and Rotterdam's (percentage - 10)."""
    rows = []
    for place in PLACES:
        for cam in place.cameras:
            for detection, direction in (("Voorzijde", cam.obverse_direction), ("Achterzijde", cam.reverse_direction)):
                value = None if cam.camera_id == SUPPRESSED else percentage - 10 * (place.code == "GM0599")
                rows.append({"gemeenteCode": place.code, "zoneId": place.zone(cam.zone_id).ndw_code,
                             "zoneAanduiding": cam.zone_id, "cameraId": cam.camera_id,
                             "cameraNaam": cam.name, "latitude": cam.lat, "longitude": cam.lon,
                             "kijkRichtingGraden": cam.azimuth_deg, "detectieRichting": detection,
                             "rijRichtingZone": direction, "maand": 10, "jaar": 2026,
                             "beschikbaarheidsPercentage": value})
    return rows


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ogc")
    lake = str(root / "lake")
    publish_tables(lake, "2026-10-old", "2026-10", datetime(2026, 11, 3, 2, tzinfo=UTC), {CAMERAS: camera_rows(50.0)})
    publish_tables(lake, "2026-10-new", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC), {
        CAMERAS: camera_rows(97.5), "t4_9_overzicht": [overview_row("GM0344", 2026, 10, "Euro 6", 14)]})
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    return create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                      municipalities=PLACES, access_log=AccessLog(store.lake, flush_seconds=3600))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def server(app):
    """The app on a free local port (OWSLib speaks HTTP through requests), stopped after the module."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with in_thread(server_config(app, None, host="127.0.0.1", port=port), timeout_s=10):
        yield f"http://127.0.0.1:{port}/ogc"


def owslib_client(monkeypatch, url: str, key: str | None) -> Features:
    # OWSLib 0.35 merges every client's headers into one module-level dict (API.__init__ updates
    # REQUEST_HEADERS in place), so each client here gets a dict of its own: a key never leaks to the next.
    monkeypatch.setattr(owslib.ogcapi, "REQUEST_HEADERS", {"User-Agent": "OWSLib test"})
    return Features(url, headers={"X-API-Key": key} if key else None, timeout=10)


def api_rows(client, headers) -> list[dict]:
    answer = client.get(f"/v1/tables/{CAMERAS}/rows", headers=headers, params={"limit": 10000})
    assert answer.status_code == 200
    return answer.json()["rows"]


def test_owslib_reads_zones_and_cameras_equal_to_the_api(server, client, monkeypatch):
    ows = owslib_client(monkeypatch, server, KEYS["utrecht"])
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in ows.conformance()["conformsTo"]
    assert ows.feature_collections() == ["zones", "cameras"]
    zones = ows.collection_items("zones")
    assert zones["numberMatched"] == zones["numberReturned"] == 1
    assert zones["features"] == client.get("/v1/zones", headers=UTRECHT).json()["features"]
    cameras = ows.collection_items("cameras", limit=100)
    # Every field and measure of every table 4.12 row of the current release, the suppressed one null.
    assert cameras["releaseId"] == "2026-10-new" and cameras["numberMatched"] == 8
    assert [f["properties"] for f in cameras["features"]] == api_rows(client, UTRECHT)
    measures = {(f["properties"]["cameraId"], f["properties"]["beschikbaarheidsPercentage"])
                for f in cameras["features"]}
    assert measures == {(c.camera_id, None if c.camera_id == SUPPRESSED else 97.5) for c in PLACES[0].cameras}
    for f in cameras["features"]:
        assert f["geometry"] == {"type": "Point", "coordinates": [f["properties"]["longitude"],
                                                                  f["properties"]["latitude"]]}
    one = ows.collection_item("cameras", f"{SUPPRESSED}.Achterzijde")
    assert one["properties"]["cameraId"] == SUPPRESSED and one["properties"]["beschikbaarheidsPercentage"] is None
    extent = ows.collection("cameras")["extent"]
    assert extent["spatial"]["bbox"][0] == pytest.approx([5.11, 52.08, 5.13, 52.10])
    # a closed interval, as OGC reads extents: a review asked for its stated end and matched nothing
    assert extent["temporal"]["interval"] == [["2026-10-01T00:00:00Z", "2026-10-31T23:59:59.999999Z"]]
    last = extent["temporal"]["interval"][0][1]
    assert ows.collection_items("cameras", datetime_=last, limit=100)["numberMatched"] == 8
    october = ows.collection_items("cameras", datetime_="2026-10-15T12:00:00Z", limit=100)
    assert october["numberMatched"] == 8
    assert ows.collection_items("cameras", datetime_="2026-11-01/..")["numberMatched"] == 0


def test_owslib_pages_with_offset_and_bbox(server, client, monkeypatch):
    ows = owslib_client(monkeypatch, server, KEYS["both"])
    everything = ows.collection_items("cameras", limit=1000)
    assert everything["numberMatched"] == 14 and {f["properties"]["gemeenteCode"] for f in everything["features"]} == {
        "GM0344", "GM0599"}
    pages = [ows.collection_items("cameras", limit=5, offset=offset) for offset in (0, 5, 10)]
    assert [p["numberReturned"] for p in pages] == [5, 5, 4]
    assert [f["id"] for p in pages for f in p["features"]] == [f["id"] for f in everything["features"]]
    rotterdam = ows.collection_items("cameras", bbox=[4.4, 51.8, 4.6, 52.0], limit=1000)
    assert rotterdam["numberMatched"] == 6 and {f["properties"]["gemeenteCode"] for f in rotterdam["features"]} == {
        "GM0599"}
    zones = ows.collection_items("zones", bbox=[5.0, 52.0, 5.2, 52.2])
    assert [z["id"] for z in zones["features"]] == ["GM0344-ZE1"]


def test_next_links_walk_every_feature_once(client):
    url, seen = "/ogc/collections/cameras/items?limit=3", []
    while url:
        page = client.get(url, headers={"X-API-Key": KEYS["both"]})
        assert page.status_code == 200 and page.headers["content-type"] == "application/geo+json"
        body = page.json()
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        assert url is None or "release=2026-10-new" in url  # pinned: a newer release cannot shift the pages
    assert len(seen) == len(set(seen)) == 14


def test_release_serves_an_older_release_of_the_cameras(client):
    older = client.get("/ogc/collections/cameras/items", headers=UTRECHT, params={"release": "2026-10-old",
                                                                                  "limit": 100}).json()
    assert older["releaseId"] == "2026-10-old"
    assert {f["properties"]["beschikbaarheidsPercentage"] for f in older["features"]} == {50.0, None}
    missing = client.get("/ogc/collections/cameras/items", headers=UTRECHT, params={"release": "2026-09-x"})
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "no release '2026-09-x'"


def test_a_bbox_keeps_what_intersects_it(client):
    def ids(collection: str, bbox: str) -> list[str]:
        answer = client.get(f"/ogc/collections/{collection}/items", headers={"X-API-Key": KEYS["both"]},
                            params={"bbox": bbox, "limit": 100})
        assert answer.status_code == 200, answer.text
        return sorted({f["id"].split(".")[0] for f in answer.json()["features"]})

    # Utrecht's zone spans 5.11-5.13 lon: a box touching its east edge only still intersects it.
    assert ids("zones", "5.125,52.0,5.2,52.2") == ["GM0344-ZE1"]
    assert ids("zones", "5.131,52.0,5.2,52.2") == []
    assert ids("zones", "5.0,52.0,0,5.2,52.2,100") == ["GM0344-ZE1"]  # heights ignored
    assert ids("zones", "3,50,7,54") == ["GM0344-ZE1", "GM0599-ZE1"]
    assert ids("zones", "3,54,7,50") == []  # south above north: nothing
    north_edge = [c.camera_id for c in PLACES[0].cameras if c.lat == pytest.approx(52.10)]
    assert north_edge and ids("cameras", "5.0,52.099,5.2,52.2") == sorted(north_edge)


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=1,2,3,inf", "limit=0", "limit=x", "offset=-1",
                                   "limit=%D9%A3", "limit=1_0",
                                   "filter=x", "limit=5&limit=6", "datetime=2026-02-30", "datetime=2026-10",
                                   "datetime=2026-10-01T10:00:00", "datetime=yesterday", "datetime=2026-10-01%0A"])
def test_a_parameter_items_cannot_read_is_400_in_the_error_shape(client, query):
    answer = client.get(f"/ogc/collections/zones/items?{query}", headers=UTRECHT)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("when, cameras", [
    ("2026-10-31", 14), ("2026-09-30", 0), ("2026-11-01", 0), ("2026-09-30T23:00:00-01:00", 14),
    ("../2026-10-01", 14), ("2026-10-31/", 14), ("2026-11-01T00:00:00Z/..", 0), ("../..", 14),
    ("2026-10-20/2026-10-10", 0),  # ends before it starts
    ("2026-10-15t12:00:00z", 14), ("2026-10-15t12:00:00Z/..", 14),  # RFC 3339 5.6: t and z in lower case too
])
def test_datetime_keeps_the_cameras_of_the_release_month_and_every_zone(client, when, cameras):
    def matched(collection: str) -> int:
        answer = client.get(f"/ogc/collections/{collection}/items", headers={"X-API-Key": KEYS["both"]},
                            params={"datetime": when})
        assert answer.status_code == 200, answer.text
        return answer.json()["numberMatched"]

    assert (matched("cameras"), matched("zones")) == (cameras, 2)


def test_a_limit_above_the_maximum_is_served_as_the_maximum(client):
    answer = client.get("/ogc/collections/cameras/items", headers=UTRECHT, params={"limit": 10**6})
    assert answer.status_code == 200 and answer.json()["numberReturned"] == 8
    assert "limit=10000" in answer.json()["links"][0]["href"]


@pytest.mark.parametrize("headers, path, status, message", [
    ({}, "/ogc/collections/cameras/items", 401, "table t4_12_camera needs a key"),
    ({}, "/ogc/collections/cameras", 401, "table t4_12_camera needs a key"),
    ({"X-API-Key": "not-a-key"}, "/ogc/collections/zones/items", 401, "unknown API key"),
    ({"X-API-Key": "not-a-key"}, "/ogc", 401, "unknown API key"),
    ({"X-API-Key": KEYS["nocontract"]}, "/ogc/collections", 403, "vendor 'nocontract' has no contract for any "
                                                                 "municipality"),
    (UTRECHT, "/ogc/collections/zones/items/GM0599-ZE1", 403, "your contract does not cover municipality GM0599"),
    (UTRECHT, "/ogc/collections/cameras/items/gm0599-cam-1.Voorzijde", 403,
     "your contract does not cover municipality GM0599"),
    (UTRECHT, "/ogc/collections/cameras/items/gm0344-cam-9.Voorzijde", 404, "no camera 'gm0344-cam-9.Voorzijde' in "
                                                                           "release 2026-10-new"),
    (UTRECHT, "/ogc/collections/roads/items", 404, "unknown collection 'roads'"),
    # the collection (and the caller's right to it) before its parameters
    (UTRECHT, "/ogc/collections/roads/items?foo=1", 404, "unknown collection 'roads'"),
    ({}, "/ogc/collections/cameras/items?foo=1", 401, "table t4_12_camera needs a key"),
])
def test_keys_layers_and_contracts_refuse_in_the_error_shape(client, headers, path, status, message):
    answer = client.get(path, headers=headers)
    assert answer.status_code == status and answer.json()["error"]["message"] == message


def test_v1_cameras_and_ogc_give_a_camera_the_same_documented_id(client):
    v1 = client.get("/v1/cameras", headers=UTRECHT).json()["features"]
    items = client.get("/ogc/collections/cameras/items", headers=UTRECHT, params={"limit": 100}).json()["features"]
    assert sorted(f["id"] for f in v1) == sorted(f["id"] for f in items)
    assert f"{SUPPRESSED}.Achterzijde" in {f["id"] for f in v1}  # cameraId.detectieRichting, as docs/api.md says
    for f in v1:  # each found under its id as an OGC item
        assert client.get(f"/ogc/collections/cameras/items/{f['id']}", headers=UTRECHT).json()["properties"] == (
            f["properties"])


def test_owslib_without_a_key_sees_the_open_layer_only(server, monkeypatch):
    ows = owslib_client(monkeypatch, server, None)
    assert ows.feature_collections() == ["zones"]  # table 4.12 is not an open table
    assert [f["id"] for f in ows.collection_items("zones")["features"]] == ["GM0344-ZE1"]
    with pytest.raises(RuntimeError, match="needs a key"):
        ows.collection_items("cameras")
    refused = owslib_client(monkeypatch, server, "not-a-key")
    with pytest.raises(RuntimeError, match="unknown API key"):
        refused.collections()


def test_landing_page_links_the_conformance_collections_and_openapi(client):
    links = {link["rel"]: link["href"] for link in client.get("/ogc/", headers=UTRECHT).json()["links"]}
    for rel in ("conformance", "data", "service-desc"):
        assert client.get(links[rel], headers=UTRECHT).status_code == 200
    doc = client.get("/openapi.json").json()
    items = doc["paths"]["/ogc/collections/{collectionId}/items"]["get"]
    assert list(items["responses"]["200"]["content"]) == ["application/geo+json"]
    assert {p["name"] for p in items["parameters"]} == {"collectionId", "limit", "offset", "bbox", "datetime",
                                                           "release"}
    assert items["x-layers"] == ["open", "vendor", "municipality"]


def test_ogc_requests_are_audited_with_the_release_they_read(client):
    client.get("/ogc/collections/cameras/items", headers=UTRECHT)
    client.app.state.access_log.flush()
    entries = read_access_log(client.app.state.store.lake, vendor="utrecht", limit=None)
    assert any((e["path"], e["status"], e["table_name"], e["release_id"]) ==
               ("/ogc/collections/cameras/items", 200, CAMERAS, "2026-10-new") for e in entries)


def test_a_bbox_across_the_antimeridian_keeps_both_sides():
    area = parse_bbox("170,-10,-170,10")
    assert area.intersects(Point(179, 0)) and area.intersects(Point(-179, 0)) and not area.intersects(Point(0, 0))


def test_links_name_the_host_each_request_was_sent_to(client):
    # A page is cached and its request parsed once; the base URL of its links is part of both keys.
    for host in ("gis.example.org", "other.example.org", "gis.example.org"):
        page = client.get("/ogc/collections/cameras/items?limit=2", headers={"X-API-Key": KEYS["both"], "Host": host})
        assert page.status_code == 200 and page.json()["links"][0]["href"].startswith(f"http://{host}/ogc/")


def test_a_camera_without_a_position_keeps_its_row_with_a_null_geometry_in_both_answers():
    rows = camera_rows(97.5)[:2]
    rows[1] = {**rows[1], "latitude": None}
    features = camera_collection(rows, "2026-10-new")["features"]
    assert [(f["id"], f["geometry"]) for f in features] == [
        ("gm0344-cam-1.Voorzijde", {"type": "Point", "coordinates": [rows[0]["longitude"], rows[0]["latitude"]]}),
        ("gm0344-cam-1.Achterzijde", None)]
    assert features == camera_features(rows)  # /v1/cameras and OGC build one feature alike
    assert features[1]["properties"]["beschikbaarheidsPercentage"] == 97.5


@pytest.mark.parametrize("query", ["release=2026-10-old&release=2026-10-new", "month=2026-10&month=2026-10"])
def test_v1_cameras_refuses_a_release_or_month_given_twice(client, query):
    answer = client.get(f"/v1/cameras?{query}", headers=UTRECHT)
    name = query.split("=")[0]
    assert (answer.status_code, answer.json()["error"]["message"]) == (422, f"invalid request: {name} given 2 times")
