"""Layered access (issue 13, seed 004's layered model): open (no key, coarse tables, rounded counts),
vendor and municipality, over a release of an open, a vendor, a municipality and the camera table in
two municipalities. The matrix is layer x municipality x endpoint with exact statuses and values."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES, DeclarationError, parse_catalogue
from anpr.delta_reader import DeltaReader
from anpr.settings import CONF_DIR, Settings
from api.access_log import AccessLog, read_access_log
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.rows import round_counts
from api.vendor.sample import synthetic_municipality
from api.vendor.tables import column_type
from tests.unit.api.vendor.test_series import overview_row, publish_tables, zone_code

OPEN, VENDOR_ONLY, OWN = "t4_9_overzicht", "t4_8c_voertuig_carrosserie", "t5_3_naleving"
CAMERAS = "t4_12_camera"
KEYS = {"vendor": "key-vendor-0123456789", "gemeente344": "key-gm0344-0123456789",
        "gemeente599": "key-gm0599-0123456789"}
CONTRACTS = """
[defaults]
requests_per_minute = 100000
burst = 100000
[layers.open]
municipalities = ["GM0344"]
round_to = 10
[vendors.vendor]
municipalities = ["GM0344"]
[vendors.gemeente344]
municipalities = ["GM0344"]
layer = "municipality"
[vendors.gemeente599]
municipalities = ["GM0599"]
layer = "municipality"
"""
# Who asks: the open layer has no key.
CALLERS = {"open": {}, "vendor": {"X-API-Key": KEYS["vendor"]},
           "municipality": {"X-API-Key": KEYS["gemeente344"]}}
RELEASE = "2026-10-a"


def cell(table: str, gm: str, **values) -> dict:
    """A row of `table` in municipality `gm`'s zone: `values`, the other fields a value of their type."""
    spec = TABLES[table]
    filler = {"string": "x", "int": 1, "double": 0.5}
    row = {c: filler[column_type(spec, c)] for c in spec.columns}
    return {**row, "gemeenteCode": gm, "zoneId": zone_code(gm), "zoneAanduiding": f"{gm}-ZE1", "maand": 10,
            "jaar": 2026, **values}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # conf/tables.toml declares no table for the municipality alone (every one is a vendor's too); the
    # matrix declares 5.3 so, to cover a layer that reads more than the one below it.
    from api.vendor.routes.tables import _tables_body

    # The listing is cached per layer for the process (the catalogue never changes in production).
    _tables_body.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(TABLES, OWN, dataclasses.replace(TABLES[OWN], access="municipality"))
        yield from _client(tmp_path_factory)
    _tables_body.cache_clear()


def _client(tmp_path_factory):
    root = tmp_path_factory.mktemp("layers")
    lake = str(root / "lake")
    publish_tables(lake, RELEASE, "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC), {
        # Unique vehicles 14, 15, suppressed and 4; passages three times as many (42, 45, 12).
        OPEN: [overview_row("GM0344", 2026, 10, "Euro 6", 14), overview_row("GM0344", 2026, 10, "Euro 5", 15),
               overview_row("GM0344", 2026, 10, "Z", None), overview_row("GM0599", 2026, 10, "Euro 6", 4)],
        VENDOR_ONLY: [cell(VENDOR_ONLY, gm, aantalPassages=23) for gm in ("GM0344", "GM0599")],
        OWN: [cell(OWN, gm, zeToegang="Verboden", aantalPassages=7) for gm in ("GM0344", "GM0599")],
        CAMERAS: [cell(CAMERAS, gm, cameraId=f"{gm}-C1", latitude=52.0, longitude=5.0) for gm in ("GM0344", "GM0599")],
    })
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    places = [synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12), synthetic_municipality()]
    app = create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=parse_contracts(CONTRACTS),
                     municipalities=places,
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    with TestClient(app) as c:
        yield c


def get(client, caller: str, path: str, **params):
    return client.get(path, headers=CALLERS[caller], params=params)


# layer x table x municipality -> status of /rows (and /series, /tables/{table}: the same gate).
ROWS_MATRIX = [
    ("open", OPEN, "GM0344", 200), ("open", OPEN, "GM0599", 403),
    ("open", VENDOR_ONLY, "GM0344", 401), ("open", VENDOR_ONLY, "GM0599", 401),
    ("open", OWN, "GM0344", 401), ("open", OWN, "GM0599", 401),
    ("vendor", OPEN, "GM0344", 200), ("vendor", OPEN, "GM0599", 403),
    ("vendor", VENDOR_ONLY, "GM0344", 200), ("vendor", VENDOR_ONLY, "GM0599", 403),
    ("vendor", OWN, "GM0344", 403), ("vendor", OWN, "GM0599", 403),
    ("municipality", OPEN, "GM0344", 200), ("municipality", OPEN, "GM0599", 403),
    ("municipality", VENDOR_ONLY, "GM0344", 200), ("municipality", VENDOR_ONLY, "GM0599", 403),
    ("municipality", OWN, "GM0344", 200), ("municipality", OWN, "GM0599", 403),
]

OWN_MUNICIPALITY = {(caller, table): status for caller, table, gm, status in ROWS_MATRIX if gm == "GM0344"}


@pytest.mark.parametrize("caller, table, gm, status", ROWS_MATRIX)
def test_rows_series_and_definition_answer_the_matrix(client, caller, table, gm, status):
    rows = get(client, caller, f"/v1/tables/{table}/rows", gemeenteCode=gm)
    assert rows.status_code == status, rows.text
    series = get(client, caller, f"/v1/tables/{table}/series", measure="aantalPassages", gemeenteCode=gm,
                 **{"from": "2026-10", "to": "2026-10"})
    assert series.status_code == status, series.text
    # A definition has no municipality: it answers as the rows of the caller's own (GM0344) do.
    definition = get(client, caller, f"/v1/tables/{table}")
    assert definition.status_code == OWN_MUNICIPALITY[caller, table]
    if status == 200:
        assert {r["gemeenteCode"] for r in rows.json()["rows"]} == {gm}


def test_why_a_table_is_refused_is_one_line(client):
    anonymous = get(client, "open", f"/v1/tables/{VENDOR_ONLY}/rows").json()["error"]
    assert anonymous["message"] == f"table {VENDOR_ONLY} needs a key"
    assert anonymous["hint"] == "without a key only the open tables are served: t4_5_bezoeker_herkomst, t4_9_overzicht"
    vendor = get(client, "vendor", f"/v1/tables/{OWN}/rows").json()["error"]
    assert vendor["message"] == f"table {OWN} is not in the vendor layer of your contract"
    assert get(client, "open", "/v1/tables/t9_unknown/rows").status_code == 404  # unknown stays 404
    wrong_key = client.get(f"/v1/tables/{OPEN}/rows", headers={"X-API-Key": "not-a-key"})
    assert wrong_key.status_code == 401  # a wrong key is refused, never served as the open layer


EMPTY_KEY = ("empty X-API-Key header", "send your key in it, or leave the header out for the open layer")
NO_TOKEN = ("no access token in the Authorization header",
            "send Authorization: Bearer <token from /v1/oauth/token>, or leave the header out for the open layer")


# Without a release: a rows page of the open layer is 404, the listings are 200.
OPEN_ANSWERS = {f"/v1/tables/{OPEN}/rows": 404, "/v1/tables": 200, "/ogc/collections/zones/items": 200}


@pytest.mark.parametrize("path", list(OPEN_ANSWERS))
@pytest.mark.parametrize("headers, refusal", [
    ({"X-API-Key": ""}, EMPTY_KEY), ({"X-API-Key": "   "}, EMPTY_KEY),
    ({"X-API-Key": "", "Authorization": f"Bearer {'x' * 20}"}, EMPTY_KEY),
    ({"Authorization": ""}, NO_TOKEN), ({"Authorization": "  "}, NO_TOKEN), ({"Authorization": "Bearer "}, NO_TOKEN)])
def test_an_empty_or_blank_credential_is_401_never_the_open_layer(tmp_path, path, headers, refusal):
    # An app of its own: the failed attempts would use up the module client's allowance per address.
    store = ReleaseStore(DeltaReader(str(tmp_path / "lake")), refresh_seconds=0)
    app = create_app(Settings(data_dir=tmp_path, vendor_keys=KEYS), store, contracts=parse_contracts(CONTRACTS),
                     municipalities=[], access_log=AccessLog(store.lake, flush_seconds=3600))
    client = TestClient(app)
    assert client.get(path).status_code == OPEN_ANSWERS[path]  # without the headers: the open layer
    answer = client.get(path, headers=headers)
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["message"], error["hint"]) == ("unauthorized", *refusal)
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="anpr"')


def test_anonymous_requests_are_audited_as_anonymous(client):
    get(client, "open", f"/v1/tables/{OPEN}/rows", gemeenteCode="GM0344")
    client.app.state.access_log.flush()
    entries = read_access_log(client.app.state.store.lake, vendor="anonymous", limit=None)
    assert any((e["path"], e["status"], e["table_name"], e["municipalities"]) ==
               (f"/v1/tables/{OPEN}/rows", 200, OPEN, "GM0344") for e in entries)


def test_municipality_layer_of_another_municipality_sees_its_own_only(client):
    theirs = {"X-API-Key": KEYS["gemeente599"]}
    own = client.get(f"/v1/tables/{OWN}/rows", headers=theirs)
    assert own.status_code == 200 and [(r["gemeenteCode"], r["aantalPassages"]) for r in own.json()["rows"]] == [
        ("GM0599", 7)]
    assert client.get(f"/v1/tables/{OWN}/rows", headers=theirs, params={"gemeenteCode": "GM0344"}).status_code == 403


def test_the_open_layer_serves_counts_rounded_to_ten_and_suppressed_null(client):
    body = get(client, "open", f"/v1/tables/{OPEN}/rows", sort="waarde").json()
    assert body["roundedTo"] == 10
    # 14 -> 10, 15 -> 20 (halves up), suppressed stays null; passages 42 -> 40, 45 -> 50.
    assert [(r["waarde"], r["aantalUniekeVoertuigen"], r["aantalPassages"], r["aantalRitten"])
            for r in body["rows"]] == [("Euro 5", 20, 50, 30), ("Euro 6", 10, 40, 30), ("Z", None, None, None)]
    exact = get(client, "vendor", f"/v1/tables/{OPEN}/rows", sort="waarde").json()
    assert exact["roundedTo"] == 1
    assert [r["aantalUniekeVoertuigen"] for r in exact["rows"]] == [15, 14, None]


def test_the_open_layer_is_told_its_counts_are_rounded_in_the_table_definitions(client):
    """A review read "Published values are exact." in the open layer's definitions while its rows came
    rounded to 10."""
    rounding = ("Counts served to this caller (the open layer, without a key) are rounded to the nearest multiple "
                "of 10, halves up; the guarantee holds for the exact values.")
    listed = next(t for t in get(client, "open", "/v1/tables").json()["tables"] if t["table"] == OPEN)
    one = get(client, "open", f"/v1/tables/{OPEN}").json()
    of_release = get(client, "open", f"/v1/tables/{OPEN}", month="2026-10").json()
    for info in (listed, one, of_release):
        assert info["roundedTo"] == 10 and info["protection"].endswith(rounding)
        assert "Published values are exact" not in info["protection"]
    exact = get(client, "vendor", f"/v1/tables/{OPEN}").json()
    assert exact["roundedTo"] == 1 and exact["protection"].endswith("Published values are exact.")


def test_rows_series_and_csv_agree_on_the_rounding(client):
    rows = get(client, "open", f"/v1/tables/{OPEN}/rows", sort="waarde", format="csv")
    assert rows.headers["X-Counts-Rounded-To"] == "10"
    table = list(csv.reader(io.StringIO(rows.text)))
    vehicles = table[0].index("aantalUniekeVoertuigen")
    assert [r[vehicles] for r in table[1:]] == ["20", "10", ""]
    series = get(client, "open", f"/v1/tables/{OPEN}/series", measure="aantalUniekeVoertuigen",
                 **{"from": "2026-10", "to": "2026-10"})
    assert series.headers["X-Counts-Rounded-To"] == "10" and series.json()["roundedTo"] == 10
    assert sorted((r["waarde"], r["aantalUniekeVoertuigen"]) for r in series.json()["rows"]) == [
        ("Euro 5", 20), ("Euro 6", 10), ("Z", None)]
    # Sorted on the rounded values, so the order tells no more than they do: 20, 10, then null.
    ordered = get(client, "open", f"/v1/tables/{OPEN}/rows", sort="-aantalUniekeVoertuigen,waarde").json()["rows"]
    assert [r["aantalUniekeVoertuigen"] for r in ordered] == [20, 10, None]


@pytest.mark.parametrize("caller, tables", [
    ("open", ["t4_5_bezoeker_herkomst", "t4_9_overzicht"]),
    ("vendor", [t for t in TABLES if t != OWN]),  # the fixture declares OWN for the municipality alone
    ("municipality", list(TABLES)),
])
def test_the_tables_listing_and_releases_show_the_callers_tables_only(client, caller, tables):
    listed = get(client, caller, "/v1/tables")
    assert listed.status_code == 200 and [t["table"] for t in listed.json()["tables"]] == tables
    release = get(client, caller, f"/v1/releases/{RELEASE}").json()
    assert release["tables"] == [t for t in (OPEN, VENDOR_ONLY, OWN, CAMERAS) if t in tables]
    assert set(release["informationLoss"]) <= set(release["tables"])


@pytest.mark.parametrize("caller, gm, status", [
    ("open", "GM0344", 401), ("open", "GM0599", 401), ("vendor", "GM0344", 200), ("vendor", "GM0599", 403),
    ("municipality", "GM0344", 200), ("municipality", "GM0599", 403)])
def test_cameras_follow_the_layer_of_the_camera_table(client, caller, gm, status):
    answer = get(client, caller, "/v1/cameras", gemeenteCode=gm)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert [f["properties"]["cameraId"] for f in answer.json()["features"]] == [f"{gm}-C1"]


@pytest.mark.parametrize("parameter, value", [("sort", "cameraId"), ("limit", "1"), ("cursor", "x"),
                                              ("format", "csv"), ("names", "en")])
def test_cameras_refuse_the_rows_parameters_they_do_not_read(client, parameter, value):
    answer = get(client, "vendor", "/v1/cameras", **{parameter: value})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["message"]) == ("bad_request", f"/v1/cameras takes no {parameter}")
    assert error["hint"] == ("it answers every camera of the release in one GeoJSON FeatureCollection; "
                             f"/v1/tables/{CAMERAS}/rows pages, sorts, gives CSV and English names")
    # what it does read: the release (or its month) and filters on table 4.12's fields
    served = get(client, "vendor", "/v1/cameras", release=RELEASE, month="2026-10", zoneId=zone_code("GM0344"),
                 cameraId="GM0344-C1")
    assert served.status_code == 200 and len(served.json()["features"]) == 1


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("gm, status", [("GM0344", 200), ("GM0599", 403)])
def test_zones_and_municipalities_are_those_of_the_layer(client, caller, gm, status):
    assert get(client, caller, "/v1/zones", gemeenteCode=gm).status_code == status
    places = get(client, caller, "/v1/municipalities").json()["municipalities"]
    assert [m["gemeenteCode"] for m in places] == ["GM0344"]


def test_the_openapi_document_says_which_layer_serves_what(client):
    doc = client.get("/openapi.json").json()
    rows = doc["paths"]["/v1/tables/{table}/rows"]["get"]
    assert rows["x-layers"] == ["open", "vendor", "municipality"] and {} in rows["security"]
    assert "open: t4_5_bezoeker_herkomst, t4_9_overzicht; vendor:" in rows["description"]
    cameras = doc["paths"]["/v1/cameras"]["get"]
    assert cameras["x-layers"] == ["vendor", "municipality"] and {} not in cameras["security"]
    assert "x-layers" not in doc["paths"]["/v1/admin/access-log"]["get"]
    assert rows["responses"]["200"]["headers"]["X-Counts-Rounded-To"]["required"] is True
    layers = doc["info"]["x-layers"]
    assert layers["open"] == {"key": False, "roundedTo": 10, "municipalities": ["GM0344"],
                              "tables": ["t4_5_bezoeker_herkomst", "t4_9_overzicht"]}
    assert layers["municipality"]["tables"] == list(TABLES) and layers["vendor"]["roundedTo"] == 1


def test_each_table_has_its_own_rows_and_series_operations_with_its_filters_typed(client):
    doc = client.get("/openapi.json").json()
    every = {p["name"]: p["schema"]["items"]["type"] for p in doc["paths"]["/v1/tables/{table}/series"]["get"][
        "parameters"] if p["schema"].get("type") == "array"}
    assert (every["uur"], every["zoneId"], every["latitude"], every["cameraId"]) == (
        "integer", "integer", "number", "string")
    series = doc["paths"]["/v1/tables/t4_9_overzicht/series"]["get"]
    parameters = {p["name"]: p["schema"] for p in series["parameters"]}
    assert parameters["measure"] == {"type": "string", "enum": ["aantalPassages", "aantalRitten",
                                                                 "aantalUniekeVoertuigen"]}
    assert {n for n, s in parameters.items() if s.get("type") == "array"} == set(TABLES["t4_9_overzicht"].columns) - {
        "aantalPassages", "aantalRitten", "aantalUniekeVoertuigen"}
    assert parameters["maand"]["items"]["type"] == "integer" and parameters["waarde"]["items"]["type"] == "string"
    assert series["x-layers"] == ["open", "vendor", "municipality"] and {} in series["security"]
    rows = doc["paths"]["/v1/tables/t4_1_uur_camera/rows"]["get"]
    assert rows["x-layers"] == ["vendor", "municipality"] and {} not in rows["security"]
    assert "table" not in {p["name"] for p in rows["parameters"]} and rows["operationId"] == "rows_t4_1_uur_camera"
    assert {f"/v1/tables/{name}/{kind}" for name in TABLES for kind in ("rows", "series")} <= set(doc["paths"])
    # answered by the route of every table
    assert client.get("/v1/tables/t4_9_overzicht/series", params={
        "measure": "aantalPassages", "from": "2026-10", "to": "2026-10"}).status_code == 200


def test_without_an_open_layer_every_request_needs_a_key(tmp_path):
    store = ReleaseStore(DeltaReader(str(tmp_path / "lake")), refresh_seconds=0)
    app = create_app(Settings(data_dir=tmp_path, vendor_keys=KEYS), store,
                     contracts=parse_contracts('[vendors.vendor]\nmunicipalities = ["GM0344"]\n'),
                     municipalities=[], access_log=AccessLog(store.lake, flush_seconds=3600))
    answer = TestClient(app).get("/v1/tables")
    assert answer.status_code == 401 and answer.json()["error"]["message"] == "missing credentials"
    doc = app.openapi()
    assert doc["paths"]["/v1/tables/{table}/rows"]["get"]["x-layers"] == ["vendor", "municipality"]
    assert {} not in doc["paths"]["/v1/tables"]["get"]["security"] and "open" not in doc["info"]["x-layers"]


def test_anonymous_requests_are_limited_per_client_address(tmp_path):
    store = ReleaseStore(DeltaReader(str(tmp_path / "lake")), refresh_seconds=0)
    contracts = parse_contracts('[layers.open]\nmunicipalities = ["GM0344"]\nrequests_per_minute = 1\nburst = 2\n')
    app = create_app(Settings(data_dir=tmp_path), store, contracts=contracts, municipalities=[],
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    statuses = [TestClient(app).get("/v1/tables").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_round_counts_rounds_halves_up_and_keeps_nulls():
    table = pa.table({"waarde": ["a"] * 7, "aantalPassages": [0, 4, 5, 14, 15, 995, None]})
    assert round_counts(table, 10).column("aantalPassages").to_pylist() == [0, 0, 10, 10, 20, 1000, None]
    assert round_counts(table, 5).column("aantalPassages").to_pylist() == [0, 5, 5, 15, 15, 995, None]
    assert round_counts(table, 1) is table
    assert round_counts(table, 10).column("waarde").to_pylist() == ["a"] * 7


@pytest.mark.parametrize("text, message", [
    ('[vendors.a]\nmunicipalities = ["GM0344"]\nlayer = "municipalty"\n',
     "vendor a: layer 'municipalty' is not a layer; a contract's layer is vendor or municipality"),
    ('[vendors.a]\nmunicipalities = ["GM0344"]\nlayer = "open"\n',
     "vendor a: layer 'open' is the layer of requests without a key; a contract's layer is vendor or municipality"),
    ('[vendors.anonymous]\nmunicipalities = ["GM0344"]\n',
     "vendor anonymous: the name is reserved for requests without a key (the open layer)"),
    ('[layers.open]\nmunicipalities = ["Utrecht"]\n',
     "layers.open: municipality codes look like GM0344, not ['Utrecht']"),
])
def test_a_bad_layer_is_a_one_line_error_naming_the_contract(text, message):
    with pytest.raises(ValueError) as error:
        parse_contracts(text)
    assert str(error.value) == message


def test_an_open_table_broken_down_by_camera_or_hour_is_refused():
    text = (CONF_DIR / "tables.toml").read_text()
    fine = text.replace('name = "t4_1_uur_camera"\n', 'name = "t4_1_uur_camera"\naccess = "open"\n')
    with pytest.raises(DeclarationError) as error:
        parse_catalogue(fine)
    assert str(error.value) == (
        "table t4_1_uur_camera: an open table is coarse, but cameraId breaks it down by camera; "
        "table t4_1_uur_camera: an open table is coarse, but uur breaks it down by uur")
    typo = text.replace('access = "open"', 'access = "opne"', 1)
    with pytest.raises(ValueError, match="access"):
        parse_catalogue(typo)
