"""Who may read what: keys, OAuth2 tokens, contracts per municipality, rate limits, the audit log."""

from __future__ import annotations

import base64
import re
import time
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.lake import Lake
from anpr.settings import Settings
from api.access_log import AccessLog, read_access_log
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import publish_sample, synthetic_municipality

pytestmark = pytest.mark.integration
KEYS = {"esri": "key-esri-0123456789", "argaleo": "key-argaleo-0123456789", "stranger": "key-stranger-0123456789",
        "tiny": "key-tiny-0123456789"}
ESRI, ARGALEO, STRANGER, TINY = ({"X-API-Key": KEYS[v]} for v in ("esri", "argaleo", "stranger", "tiny"))
CONTRACTS = parse_contracts("""
[defaults]
requests_per_minute = 100000
burst = 10000
[vendors.esri]
municipalities = ["GM0344"]
[vendors.argaleo]
municipalities = ["GM0599"]
[vendors.tiny]
municipalities = ["GM0344"]
requests_per_minute = 60
burst = 3
""")
HOURLY = "/v1/tables/t4_1_uur_camera/rows"
PLACES = [synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12, cameras=4), synthetic_municipality()]


class AdminSettings(Settings):
    admin_key: SecretStr | None = None  # the field asked of settings; until then the endpoint is off


def build(root, lake_path: str, admin_key: str | None = None) -> TestClient:
    settings = AdminSettings(data_dir=root / "data", vendor_keys=KEYS, admin_key=admin_key)
    store = ReleaseStore(DeltaReader(lake_path), refresh_seconds=0)
    return TestClient(create_app(settings, store, contracts=CONTRACTS, municipalities=PLACES,
                                 access_log=AccessLog(store.lake, flush_seconds=0.2)))


@pytest.fixture(scope="module")
def api(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("api-access")
    lake = Lake(str(root / "lake"), spark)
    cameras = next(s for s in TABLES.values() if s.kind == "cameras")
    release = publish_sample(spark, lake, "2026-10", PLACES, cap=2, seed=8, tables=[TABLES["t4_1_uur_camera"], cameras])
    with build(root, str(root / "lake"), admin_key="admin-key-0123456789") as client:
        yield SimpleNamespace(client=client, root=root, lake=DeltaReader(str(root / "lake")), release=release)


def error_of(answer) -> dict:
    assert set(answer.json()) == {"error"} and set(answer.json()["error"]) == {"code", "message", "hint", "trace_id"}
    return answer.json()["error"]


def test_credentials_are_required(api):
    missing = api.client.get("/v1/releases")
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert api.client.get("/v1/releases", headers={"X-API-Key": "nope"}).status_code == 401
    no_contract = api.client.get("/v1/releases", headers=STRANGER)
    assert no_contract.status_code == 403 and "no contract" in error_of(no_contract)["message"]


def test_a_vendor_reads_only_its_contracted_municipalities(api):
    esri = api.client.get(HOURLY, headers=ESRI, params={"limit": 10_000}).json()
    argaleo = api.client.get(HOURLY, headers=ARGALEO, params={"limit": 10_000}).json()
    assert {r["gemeenteCode"] for r in esri["rows"]} == {"GM0344"}
    assert {r["gemeenteCode"] for r in argaleo["rows"]} == {"GM0599"}
    assert esri["total"] + argaleo["total"] == api.release.row_counts["t4_1_uur_camera"]
    for params in ({"gemeenteCode": "GM0599"}, {"zoneId": "599001"}, {"zoneId": ["344001", "599001"]},
                   {"gemeenteCode": ["GM0344", "GM0599"]}):
        refused = api.client.get(HOURLY, headers=ESRI, params=params)
        assert refused.status_code == 403 and "GM0599" in error_of(refused)["message"], params
    own = api.client.get(HOURLY, headers=ESRI, params={"zoneId": "344001", "limit": 10_000}).json()
    assert own["total"] == esri["total"]


def test_maps_show_only_contracted_zones_and_cameras(api):
    zones = api.client.get("/v1/zones", headers=ESRI).json()
    assert [(f["properties"]["zoneId"], f["id"]) for f in zones["features"]] == [(344001, "GM0344-ZE1")]
    ring = zones["features"][0]["geometry"]["coordinates"][0]
    assert zones["features"][0]["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]
    assert api.client.get("/v1/zones/GM0599-ZE1", headers=ESRI).status_code == 403
    assert api.client.get("/v1/zones", headers=ESRI, params={"gemeenteCode": "GM0599"}).status_code == 403
    assert api.client.get("/v1/zones/nowhere", headers=ESRI).status_code == 404
    cameras = api.client.get("/v1/cameras", headers=ESRI).json()
    points = cameras["features"]
    assert points and {f["properties"]["gemeenteCode"] for f in points} == {"GM0344"}
    assert all(f["geometry"]["coordinates"] == [f["properties"]["longitude"], f["properties"]["latitude"]]
               for f in points)
    assert api.client.get("/v1/cameras", headers=ESRI, params={"zoneId": "599001"}).status_code == 403
    listing = api.client.get("/v1/municipalities", headers=ARGALEO).json()["municipalities"]
    assert [(m["gemeenteCode"], [(z["zoneId"], z["zoneAanduiding"]) for z in m["zones"]]) for m in listing] == [
        ("GM0599", [(599001, "GM0599-ZE1")])]


def test_oauth2_client_credentials_give_the_same_access_as_the_key(api):
    form = {"grant_type": "client_credentials", "client_id": "esri", "client_secret": KEYS["esri"]}
    issued = api.client.post("/v1/oauth/token", data=form)
    assert issued.status_code == 200 and issued.json()["token_type"] == "Bearer"
    assert issued.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert api.client.get(HOURLY, headers=bearer).json() == api.client.get(HOURLY, headers=ESRI).json()
    assert api.client.get(HOURLY, headers=bearer, params={"gemeenteCode": "GM0599"}).status_code == 403
    basic = base64.b64encode(f"argaleo:{KEYS['argaleo']}".encode()).decode()
    via_basic = api.client.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                                headers={"Authorization": f"Basic {basic}"})
    assert via_basic.status_code == 200
    # errors as RFC 6749 5.2 shapes them, which OAuth2 client libraries read (a review found the service's own)
    wrong = api.client.post("/v1/oauth/token", data={**form, "client_secret": KEYS["argaleo"]})
    assert (wrong.status_code, wrong.json()["error"], wrong.json()["error_description"]) == (
        401, "invalid_client", "unknown client or wrong secret")
    grant = api.client.post("/v1/oauth/token", data={**form, "grant_type": "password"})
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    both = api.client.post("/v1/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")  # RFC 6749 2.3: one method
    token = issued.json()["access_token"]
    forged = token.replace(token.split(".")[0], base64.urlsafe_b64encode(b"argaleo").decode().rstrip("="))
    assert api.client.get(HOURLY, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_rate_limit_per_vendor_answers_429_with_retry_after(api):
    answers = [api.client.get("/v1/tables", headers=TINY) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[3].status_code == 429 and int(answers[3].headers["retry-after"]) >= 1
    assert error_of(answers[3])["code"] == "rate_limited"
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert api.client.get("/v1/tables", headers=ESRI).status_code == 200  # other vendors are not held up


def test_every_request_is_in_the_access_log_with_what_it_returned(api):
    trace = f"audit-{time.time_ns()}"
    ok = api.client.get(HOURLY, headers={**ARGALEO, "X-Request-Id": trace},
                        params={"voertuigType": "Bestelauto", "limit": 5})
    api.client.get(HOURLY, headers={**ARGALEO, "X-Request-Id": trace + "-403"}, params={"gemeenteCode": "GM0344"})
    api.client.get("/v1/releases", headers={"X-Request-Id": trace + "-401"})
    api.client.get("/health", headers={"X-Request-Id": trace + "-probe"})
    assert ok.headers["x-request-id"] == trace
    api.client.app.state.access_log.flush()
    logged = {e["trace_id"]: e for e in read_access_log(api.lake, limit=None)}
    entry = logged[trace]
    assert (entry["vendor"], entry["status"], entry["table_name"], entry["rows"], entry["municipalities"]) == (
        "argaleo", 200, "t4_1_uur_camera", len(ok.json()["rows"]), "GM0599")
    assert '"voertuigType": ["Bestelauto"]' in entry["filters"] and entry["release_id"] == api.release.release_id
    assert (logged[trace + "-403"]["status"], logged[trace + "-403"]["vendor"]) == (403, "argaleo")
    assert (logged[trace + "-401"]["status"], logged[trace + "-401"]["vendor"]) == (401, None)
    assert trace + "-probe" not in logged
    only_argaleo = read_access_log(api.lake, vendor="argaleo", municipality="GM0599", limit=None)
    assert only_argaleo and all(e["vendor"] == "argaleo" for e in only_argaleo)


def test_the_platform_team_reads_the_log_with_the_admin_key(api, tmp_path):
    api.client.get("/v1/tables", headers=ESRI)
    assert api.client.get("/v1/admin/access-log").status_code == 401
    assert api.client.get("/v1/admin/access-log", headers={"X-Admin-Key": KEYS["esri"]}).status_code == 401
    page = api.client.get("/v1/admin/access-log", headers={"X-Admin-Key": "admin-key-0123456789"},
                          params={"vendor": "esri", "since": "2000-01-01", "limit": 3}).json()["entries"]
    assert 0 < len(page) <= 3 and all(e["vendor"] == "esri" for e in page)
    assert page == sorted(page, key=lambda e: e["ts"], reverse=True)
    with build(tmp_path, str(api.root / "lake"), admin_key=None) as without:
        refused = without.get("/v1/admin/access-log", headers={"X-Admin-Key": "anything"})
        assert refused.status_code == 403 and "not configured" in error_of(refused)["message"]


def test_health_and_readiness(api, tmp_path):
    assert api.client.get("/health").json() == {"status": "ok"}
    assert api.client.get("/ready").status_code == 200
    with build(tmp_path, str(tmp_path / "empty-lake")) as empty:
        not_ready = empty.get("/ready")
        assert not_ready.status_code == 503 and error_of(not_ready)["code"] == "unavailable"


def test_the_openapi_document_validates_and_documents_filters_and_security(api):
    document = api.client.get("/openapi.json").json()
    rows = document["paths"]["/v1/tables/{table}/rows"]["get"]
    assert {"zoneId", "voertuigType", "uur", "sort", "cursor", "format"} <= {p["name"] for p in rows["parameters"]}
    assert {"ApiKey", "OAuth2"} <= set(document["components"]["securitySchemes"])
    validator = pytest.importorskip("openapi_spec_validator", reason="dev dependency openapi-spec-validator missing")
    validator.validate(document)


def test_the_dashboard_is_served_self_contained(api):
    assert api.client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/"
    page = api.client.get("/dashboard/")
    assert page.status_code == 200 and "dashboard.js" in page.text and "Content-Security-Policy" in page.text
    for asset in ("dashboard.js", "panels.js", "dashboard.css"):
        text = api.client.get(f"/dashboard/{asset}").text
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text + page.text))
        assert text and urls <= {"http://www.w3.org/2000/svg"}, asset  # no CDN, nothing external: works offline
