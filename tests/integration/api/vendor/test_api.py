"""Vendor API over real releases in a temporary Delta lake: tables, rows, paging, CSV, ETags."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from anpr.catalogue import COUNTS, TABLES
from anpr.delta_reader import DeltaReader
from anpr.lake import Lake
from anpr.settings import Settings
from api.access_log import AccessLog
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import publish_sample, synthetic_municipality

pytestmark = pytest.mark.integration
KEYS = {"both": "key-both-0123456789", "esri": "key-esri-0123456789"}
BOTH, ESRI = ({"X-API-Key": KEYS[v]} for v in ("both", "esri"))
CONTRACTS = parse_contracts("""
[defaults]
requests_per_minute = 1000000
burst = 100000
[vendors.both]
municipalities = ["GM0344", "GM0599"]
layer = "municipality"  # every table, the municipality's own included
[vendors.esri]
municipalities = ["GM0344"]
export_days = 30
""")
HOURLY = TABLES["t4_1_uur_camera"]
CAMERAS = next(s for s in TABLES.values() if s.kind == "cameras")


def places():
    return [synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12, cameras=4), synthetic_municipality()]


def make_client(root, lake_path: str) -> TestClient:
    settings = Settings(data_dir=root / "data", vendor_keys=KEYS)
    store = ReleaseStore(DeltaReader(lake_path), refresh_seconds=0)
    app = create_app(settings, store, contracts=CONTRACTS, municipalities=places(),
                     access_log=AccessLog(store.lake, flush_seconds=0.2))
    return TestClient(app)


@pytest.fixture(scope="module")
def api(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    lake = Lake(str(root / "lake"), spark)
    without_cameras = [s for s in TABLES.values() if s is not CAMERAS]
    september = publish_sample(spark, lake, "2026-09", places(), cap=3, seed=1, tables=without_cameras)
    publish_sample(spark, lake, "2026-10", places(), cap=3, seed=2)
    october = publish_sample(spark, lake, "2026-10", places(), cap=3, seed=3)
    with make_client(root, str(root / "lake")) as client:
        yield SimpleNamespace(client=client, september=september, october=october)


def rows_url(spec) -> str:
    return f"/v1/tables/{spec.name}/rows"


def everything(client, spec, headers, **params) -> list[dict]:
    out, cursor = [], None
    while True:
        page = client.get(rows_url(spec), headers=headers, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        out += page.json()["rows"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return out


def test_latest_release_per_month_is_listed_and_history_on_request(api):
    listed = api.client.get("/v1/releases", headers=BOTH).json()["releases"]
    assert [(r["month"], r["releaseId"]) for r in listed] == [
        ("2026-09", api.september.release_id), ("2026-10", api.october.release_id)]
    history = api.client.get("/v1/releases", headers=BOTH, params={"history": "true"}).json()["releases"]
    assert len(history) == 3
    one = api.client.get(f"/v1/releases/{api.october.release_id}", headers=BOTH).json()
    assert set(one["tables"]) == set(TABLES)


def test_every_answer_with_release_data_carries_its_expiry(api):
    """Exported data carry a best-before date (seed 001, 4.2): release creation + the contract's export_days."""
    listed = api.client.get("/v1/releases", headers=ESRI).json()["releases"]
    october = next(r for r in listed if r["releaseId"] == api.october.release_id)
    expected = (datetime.fromisoformat(october["createdAt"]) + timedelta(days=30)).isoformat()
    assert october["expiresAt"] == expected
    one = api.client.get(f"/v1/releases/{api.october.release_id}", headers=ESRI)
    assert one.json()["expiresAt"] == one.headers["x-data-expires"] == expected
    as_json = api.client.get(rows_url(HOURLY), headers=ESRI, params={"limit": 5})
    assert as_json.json()["expiresAt"] == as_json.headers["x-data-expires"] == expected
    as_csv = api.client.get(rows_url(HOURLY), headers=ESRI, params={"limit": 5, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv") and as_csv.headers["x-data-expires"] == expected
    cameras = api.client.get("/v1/cameras", headers=ESRI)
    assert cameras.json()["expiresAt"] == cameras.headers["x-data-expires"] == expected
    # The same page for a vendor on the default 90 days: its own expiry, not the cached one of another.
    both = api.client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 5, "gemeenteCode": "GM0344"})
    assert both.headers["x-data-expires"] == (datetime.fromisoformat(october["createdAt"])
                                              + timedelta(days=90)).isoformat()
    assert both.json()["rows"] == as_json.json()["rows"]


def test_every_table_publishes_the_fields_its_definition_declares(api):
    listed = {t["table"]: t for t in api.client.get("/v1/tables", headers=BOTH).json()["tables"]}
    assert list(listed) == list(TABLES)
    for spec in TABLES.values():
        info = api.client.get(f"/v1/tables/{spec.name}", headers=BOTH).json()
        assert info == listed[spec.name]
        assert [c["name"] for c in info["columns"]] == spec.columns
        assert (info["dimensions"], info["measures"], info["protection"]) == (spec.dimensions, spec.measures,
                                                                              spec.protection)
        assert info["definitions"] == spec.definitions
        types = {c["name"]: c["type"] for c in info["columns"]}
        rows = everything(api.client, spec, BOTH, limit=1000)
        assert rows, spec.name
        for row in rows:
            assert list(row) == spec.columns, spec.name
            for name, value in row.items():
                if value is None:
                    assert name in spec.measures, (spec.name, name)  # only measures are ever suppressed
                    continue
                expected = {"string": str, "int": int, "double": float}[types[name]]
                assert isinstance(value, expected) and not isinstance(value, bool), (spec.name, name, value)
        counts = [m for m in spec.measures if m in COUNTS]
        if counts:
            suppressed = [r for r in rows if r[counts[0]] is None]
            assert suppressed and all(r[m] is None for r in suppressed for m in counts), spec.name


def test_pages_neither_skip_nor_repeat_rows_in_any_sort(api):
    whole = api.client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 10_000}).json()
    keys = [(r["zoneId"], r["cameraId"], r["rijRichtingZone"], r["voertuigType"], r["weekDag"], r["uur"])
            for r in whole["rows"]]
    assert len(keys) == len(set(keys)) == whole["total"]
    for sort in (None, "-aantalPassages", "uur,-voertuigType"):
        params = {"limit": 7, **({"sort": sort} if sort else {})}
        paged = everything(api.client, HOURLY, BOTH, **params)
        single = api.client.get(rows_url(HOURLY), headers=BOTH, params={**params, "limit": 10_000}).json()["rows"]
        assert paged == single and len(paged) == whole["total"]
    by_passages = everything(api.client, HOURLY, BOTH, limit=50, sort="-aantalPassages")
    published = [r["aantalPassages"] for r in by_passages if r["aantalPassages"] is not None]
    assert published == sorted(published, reverse=True)
    assert all(r["aantalPassages"] is None for r in by_passages[len(published):])  # suppressed cells last


def test_paging_stays_on_its_release_when_a_newer_one_is_published(spark, tmp_path):
    lake = Lake(str(tmp_path / "lake"), spark)
    first = publish_sample(spark, lake, "2026-10", places(), cap=2, seed=4, tables=[HOURLY])
    with make_client(tmp_path, str(tmp_path / "lake")) as client:
        expected = client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 10_000}).json()["rows"]
        page = client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 5}).json()
        seen, cursor = page["rows"], page["nextCursor"]
        newer = publish_sample(spark, lake, "2026-10", places(), cap=2, seed=5, tables=[HOURLY])
        assert client.get("/v1/releases", headers=BOTH).json()["releases"][-1]["releaseId"] == newer.release_id
        while cursor:
            page = client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 5, "cursor": cursor}).json()
            assert page["releaseId"] == first.release_id
            seen, cursor = seen + page["rows"], page["nextCursor"]
    assert seen == expected


def test_csv_has_the_same_columns_and_values_as_json(api):
    for spec in TABLES.values():
        info = api.client.get(f"/v1/tables/{spec.name}", headers=BOTH).json()
        types = {c["name"]: c["type"] for c in info["columns"]}
        params = {"limit": 40, "sort": ",".join(reversed(spec.columns[-3:]))}
        as_json = api.client.get(rows_url(spec), headers=BOTH, params=params)
        as_csv = api.client.get(rows_url(spec), headers=BOTH, params={**params, "format": "csv"})
        negotiated = api.client.get(rows_url(spec), headers={**BOTH, "Accept": "text/csv"}, params=params)
        assert as_csv.headers["content-type"].startswith("text/csv") and negotiated.text == as_csv.text
        reader = csv.reader(io.StringIO(as_csv.text))
        header = next(reader)
        assert header == spec.columns
        parse = {"string": str, "int": int, "double": float}
        from_csv = [{k: None if v == "" else parse[types[k]](v) for k, v in zip(header, line, strict=True)}
                    for line in reader]
        assert from_csv == as_json.json()["rows"], spec.name
        assert as_csv.headers["x-total-count"] == str(as_json.json()["total"])
        if as_json.json()["nextCursor"]:
            assert as_csv.headers["x-next-cursor"] == as_json.json()["nextCursor"]
            assert 'rel="next"' in as_csv.headers["link"]


def test_etag_revalidation_answers_304_without_a_body(api):
    params = {"limit": 20, "voertuigType": "Bestelauto"}
    first = api.client.get(rows_url(HOURLY), headers=BOTH, params=params)
    etag = first.headers["etag"]
    again = api.client.get(rows_url(HOURLY), headers={**BOTH, "If-None-Match": etag}, params=params)
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other_page = api.client.get(rows_url(HOURLY), headers={**BOTH, "If-None-Match": etag},
                                params={**params, "limit": 21})
    assert other_page.status_code == 200 and other_page.headers["etag"] != etag
    older = api.client.get(rows_url(HOURLY), headers={**BOTH, "If-None-Match": etag},
                           params={**params, "release": api.september.release_id})
    assert older.status_code == 200 and older.headers["etag"] != etag  # per release
    narrower = api.client.get(rows_url(HOURLY), headers={**ESRI, "If-None-Match": etag}, params=params)
    assert narrower.status_code == 200  # another contract sees other rows: another entity
    for path in ("/v1/tables", "/v1/releases", "/v1/zones", "/v1/cameras"):
        tag = api.client.get(path, headers=BOTH).headers["etag"]
        assert api.client.get(path, headers={**BOTH, "If-None-Match": f'"x", {tag}'}).status_code == 304


def test_large_answers_are_gzipped_when_asked(api):
    params = {"limit": 500}
    zipped = api.client.get(rows_url(HOURLY), headers={**BOTH, "Accept-Encoding": "gzip"}, params=params)
    plain = api.client.get(rows_url(HOURLY), headers={**BOTH, "Accept-Encoding": "identity"}, params=params)
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert zipped.json() == plain.json() and zipped.headers["etag"] == plain.headers["etag"]
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3


def test_filters_on_dimensions_and_their_errors(api):
    rows = everything(api.client, HOURLY, BOTH, voertuigType=["Bestelauto", "Vrachtauto"], uur=["0", "2"],
                      zoneId="599001", limit=1000)
    assert rows and {r["voertuigType"] for r in rows} <= {"Bestelauto", "Vrachtauto"}
    assert {r["uur"] for r in rows} <= {0, 2} and {r["gemeenteCode"] for r in rows} == {"GM0599"}
    totals = [api.client.get(rows_url(HOURLY), headers=BOTH, params={"uur": hour}).json()["total"]
              for hour in ("2", "02")]
    assert totals[0] == totals[1] > 0  # an int filter compares numbers, not text
    overview = everything(api.client, TABLES["t4_9_overzicht"], BOTH, kenmerk="totaal")
    assert len(overview) == 2 and {r["waarde"] for r in overview} == {"totaal"}  # one zone total per zone
    for params, status in [({"uur": "seven"}, 400), ({"aantalPassages": "3"}, 400), ({"plate": "x"}, 400),
                           ({"sort": "nope"}, 400), ({"cursor": "!!"}, 400), ({"release": "nope"}, 404),
                           ({"month": "2025-01"}, 404), ({"month": "2026-13"}, 422), ({"limit": "0"}, 422)]:
        answer = api.client.get(rows_url(HOURLY), headers=BOTH, params=params)
        assert answer.status_code == status, params
        assert set(answer.json()["error"]) == {"code", "message", "hint", "trace_id"}


def test_unknown_tables_releases_and_foreign_cursors_are_refused(api):
    missing = api.client.get("/v1/tables/t9_9/rows", headers=BOTH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.client.get("/v1/tables/t9_9", headers=BOTH).status_code == 404
    assert api.client.get("/v1/releases/nope", headers=BOTH).status_code == 404
    no_cameras = api.client.get("/v1/cameras", headers=BOTH, params={"month": "2026-09"})
    assert no_cameras.status_code == 404 and "has no table" in no_cameras.json()["error"]["message"]
    cursor = api.client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 2}).json()["nextCursor"]
    other_query = api.client.get(rows_url(HOURLY), headers=BOTH, params={"limit": 2, "cursor": cursor, "uur": "1"})
    assert other_query.status_code == 400 and "another query" in other_query.json()["error"]["message"]
    other_release = api.client.get(rows_url(HOURLY), headers=BOTH,
                                   params={"cursor": cursor, "release": api.september.release_id})
    assert other_release.status_code == 400
