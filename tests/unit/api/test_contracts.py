"""Both APIs against their own OpenAPI documents (schemathesis, in-process over ASGI, seeded).

Every generated request must get an answer its document declares: a documented status code, content
type, headers and body schema, 405 with Allow for an undeclared method, and no 5xx but the documented
503 `unavailable` (the ingest service here has no broker: Kafka at a closed port, so a delivery that
passes every check is answered 503). The vendor API serves a small synthetic release of every catalogue
table (api/vendor/sample.py), so rows, series and releases answer 200 and their bodies are checked too.
Then one test per fault the contract runs found, with the right value.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import openapi_spec_validator
import pytest
import schemathesis
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.access_log import AccessLog
from api.common.ratelimit import RateLimiter
from api.ingest.main import create_ingest_app
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import sample_rows, synthetic_municipality
from tests.unit.api.ingest.test_ingest import KEY, make_services
from tests.unit.api.vendor.test_series import publish_tables

VENDOR_KEY, ADMIN_KEY = "key-contract-0123456789", "admin-contract-0123456789"
# With an open layer, so the document declares anonymous access ({} security) where it serves.
CONTRACTS = parse_contracts('[defaults]\nrequests_per_minute = 1000000\nburst = 100000\n'
                            '[layers.open]\nmunicipalities = ["GM0599"]\n'
                            '[vendors.contract]\nmunicipalities = ["GM0599"]\n')
# Bounded and seeded: 25 examples per operation and phase, the same ones every run (~30 s for both apps).
RUN = """
seed = 15
suppress-health-check = ["all"]
[generation]
max-examples = 25
deterministic = true
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]
"""
# A schema-valid message can still be refused for the camera registry's state (an update of an
# unregistered camera, a zone of another municipality): 422, as documented.
INGEST_RUN = RUN + """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""
RELEASE = "2026-10-a"
# Many cases name a published table, measure, month and the release, so rows, series and the release
# answer 200 and their bodies are checked; the others stay generated (unknown names: 404, as documented).
VENDOR_RUN = RUN + f"""
[dictionaries.tables]
values = {sorted(TABLES)!r}
[dictionaries.releases]
values = ["{RELEASE}"]
[dictionaries.measures]
values = ["aantalPassages"]  # a measure of most tables
[dictionaries.months]
values = ["2026-10"]
[parameters]
"query.from" = {{ dictionary = "months", probability = 0.8 }}
"query.to" = {{ dictionary = "months", probability = 0.8 }}
"path.table" = {{ dictionary = "tables", probability = 0.5 }}
"path.release_id" = {{ dictionary = "releases", probability = 0.5 }}

# The operations of every table list every table's filters (and any measure): a filter or measure the
# named table lacks is the documented 400. A table's own operation (api/vendor/table_docs.py) lists its
# filters and measures only, typed, but a reversed month range or a bad cursor is a 400 there too.
[[operations]]
include-path-regex = "^/v1/tables/[{{]table[}}]/series$"
[operations.parameters]
"query.measure" = {{ dictionary = "measures", probability = 0.8 }}
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-path-regex = "^/v1/tables/[{{]table[}}]/rows$"
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

# 42 operations alike but for their parameters, which the operations of every table cover value by
# value (the coverage phase): generated cases only, fewer (the vendor run: 22 s before them, 35 s with them).
[[operations]]
include-path-regex = "^/v1/tables/[a-z0-9_]+/(rows|series)$"
[operations.generation]
max-examples = 6
[operations.phases.coverage]
enabled = false
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""

# schemathesis parametrizes at collection, so the apps are built then, over a directory of their own
# (schemathesis.pytest.from_fixture would defer it, but it breaks on pytest 9: no Function._nodeid).
WORKDIR = Path(tempfile.mkdtemp(prefix="anpr-contracts-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)  # also when collected but deselected


def vendor_app():
    place = synthetic_municipality()
    # cap 2: the first two values of each dimension keep the release small (a few rows per table).
    publish_tables(str(WORKDIR / "lake"), RELEASE, "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC),
                   {name: sample_rows(spec, [place], 2026, 10, cap=2).to_pylist() for name, spec in TABLES.items()})
    store = ReleaseStore(DeltaReader(str(WORKDIR / "lake")), refresh_seconds=0)
    settings = Settings(data_dir=WORKDIR / "data", vendor_keys={"contract": VENDOR_KEY}, admin_key=ADMIN_KEY)
    return create_app(settings, store, contracts=CONTRACTS, municipalities=[place],
                      access_log=AccessLog(store.lake, flush_seconds=3600))


INGEST_APP, VENDOR_APP = create_ingest_app(make_services(WORKDIR / "ingest")), vendor_app()
ingest = schemathesis.openapi.from_asgi("/openapi.json", INGEST_APP,
                                        config=schemathesis.Config.from_str(INGEST_RUN))
vendor = schemathesis.openapi.from_asgi("/openapi.json", VENDOR_APP, config=schemathesis.Config.from_str(VENDOR_RUN))


@ingest.parametrize()
def test_ingest_answers_as_documented(case):
    case.call_and_validate(headers={"X-API-Key": KEY})


@vendor.parametrize()
def test_vendor_api_answers_as_documented(case):
    # Each case is a fresh client: the failed-login limit (10 per address) would otherwise turn the
    # invalid-credential probes of later cases into 429s (documented, and tested below).
    VENDOR_APP.state.auth.limiter = RateLimiter()
    response = case.call_and_validate(headers={"X-API-Key": VENDOR_KEY})
    SEEN[case.operation.label][response.status_code] += 1


# operation -> status -> cases answered so, filled by the run above
SEEN: defaultdict[str, Counter[int]] = defaultdict(Counter)
# A series of each table the contract reads, through the table's own operation: the operation of every
# table adds filters of other tables to nearly every case (a documented 400).
DATA = ("GET /v1/tables/{table}/rows", "GET /v1/releases/{release_id}", "GET /v1/releases", "GET /v1/cameras",
        *(f"GET /v1/tables/{name}/series" for name, spec in sorted(TABLES.items()) if spec.served_to("vendor")))


def test_the_vendor_run_reached_the_release_data():
    if not SEEN:
        pytest.skip("only with the vendor contract run (test_vendor_api_answers_as_documented) in the session")
    missing = {op: dict(SEEN[op]) for op in DATA if not SEEN[op][200]}
    assert not missing, f"no generated case answered 200: {missing}"


def test_a_series_of_the_release_answers_200_as_documented():
    VENDOR_APP.state.auth.limiter = RateLimiter()
    series = answer(vendor, "GET", "/v1/tables/{table}/series", path_parameters={"table": "t4_9_overzicht"},
                    query={"measure": "aantalPassages", "from": "2026-10", "to": "2026-10"},
                    headers={"X-API-Key": VENDOR_KEY})
    assert series.status_code == 200 and [m["releaseId"] for m in series.json()["months"]] == [RELEASE]
    assert series.json()["rows"]


def answer(schema, method: str, path: str, **parts):
    """One request of ours, checked against the document as the runs above check theirs."""
    return schema[path][method].Case(**parts).call_and_validate()


def test_a_zone_is_documented_and_answered_as_a_feature():
    doc = VENDOR_APP.openapi()
    documented = doc["paths"]["/v1/zones/{zone_id}"]["get"]["responses"]["200"]["content"]["application/geo+json"]
    assert documented["schema"] == {"$ref": "#/components/schemas/Feature"}
    zone = answer(vendor, "GET", "/v1/zones/{zone_id}", path_parameters={"zone_id": "GM0599-ZE1"},
                  headers={"X-API-Key": VENDOR_KEY})
    assert zone.status_code == 200 and zone.json()["type"] == "Feature" and zone.json()["id"] == "GM0599-ZE1"
    # RFC 7946 12, as the OGC items: a review met application/json here and geo+json there
    assert zone.headers["content-type"] == ["application/geo+json"]


def test_422_is_documented_as_the_error_body_it_is():
    for app in (INGEST_APP, VENDOR_APP):
        doc = app.openapi()
        invalid = [op["responses"]["422"] for ops in doc["paths"].values() for op in ops.values()
                   if "422" in op["responses"]]
        assert invalid and all(r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
                               for r in invalid)
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        openapi_spec_validator.validate(doc)
    rows = answer(vendor, "GET", "/v1/tables/{table}/rows", path_parameters={"table": "t4_1_uur_camera"},
                  query={"limit": "0"}, headers={"X-API-Key": VENDOR_KEY})
    assert rows.status_code == 422 and rows.json()["error"]["code"] == "invalid_request"


def test_a_day_of_the_rejection_report_is_yyyy_mm_dd_not_a_unix_time():
    epoch = answer(ingest, "GET", "/v1/rejections", query={"to": "0"}, headers={"X-API-Key": KEY})
    assert epoch.status_code == 422 and "a day is YYYY-MM-DD" in epoch.json()["error"]["message"]
    day = answer(ingest, "GET", "/v1/rejections", query={"to": "2026-11-30"}, headers={"X-API-Key": KEY})
    assert day.status_code == 200 and day.json()["to_day"] == "2026-11-30" and day.json()["from_day"] == "2026-10-31"


def test_400_is_documented_where_parameters_are_read():
    cursor = answer(vendor, "GET", "/v1/tables/{table}/rows", path_parameters={"table": "t4_1_uur_camera"},
                    query={"cursor": "not-a-cursor"}, headers={"X-API-Key": VENDOR_KEY})
    assert cursor.status_code == 400 and cursor.json()["error"]["message"] == "invalid cursor"
    months = answer(vendor, "GET", "/v1/tables/{table}/series", path_parameters={"table": "t4_9_overzicht"},
                    query={"measure": "aantalPassages", "from": "2026-10", "to": "2026-01"},
                    headers={"X-API-Key": VENDOR_KEY})
    assert months.status_code == 400 and months.json()["error"]["message"] == "from 2026-10 is after to 2026-01"
    grant = answer(vendor, "POST", "/v1/oauth/token", body={"grant_type": "password"},
                   media_type="application/x-www-form-urlencoded")
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"  # RFC 6749 5.2
    day = answer(vendor, "GET", "/v1/admin/access-log", query={"since": "yesterday"},
                 headers={"X-Admin-Key": ADMIN_KEY})
    assert day.status_code == 400 and "ISO dates" in day.json()["error"]["message"]


@pytest.mark.parametrize("method, path, parts", [
    ("GET", "/v1/tables", {}),
    ("GET", "/v1/zones/{zone_id}", {"path_parameters": {"zone_id": "GM0599-ZE1"}}),
    ("POST", "/v1/oauth/token", {"body": {"grant_type": "client_credentials", "client_id": "contract",
                                          "client_secret": "guessed"},
                                 "media_type": "application/x-www-form-urlencoded"}),
])
def test_429_after_ten_failed_logins_is_documented(method, path, parts):
    VENDOR_APP.state.auth.limiter = RateLimiter()
    wrong = {} if method == "POST" else {"headers": {"X-API-Key": "guessed-key"}}
    statuses = [answer(vendor, method, path, **parts, **wrong).status_code for _ in range(10)]
    assert statuses == [401] * 10
    refused = answer(vendor, method, path, **parts, **wrong)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"][0]) >= 1


@pytest.mark.parametrize("app, path, allowed", [(INGEST_APP, "/", "POST"), (INGEST_APP, "/v1/cameras", "GET, HEAD"),
                                                (VENDOR_APP, "/v1/zones", "GET, HEAD"),
                                                (VENDOR_APP, "/v1/oauth/token", "POST")])
def test_an_undeclared_method_gets_405_with_allow(app, path, allowed):
    answered = TestClient(app).request("TRACE", path)
    assert answered.status_code == 405 and answered.headers["Allow"] == allowed
    assert answered.json()["error"]["code"] == "method_not_allowed"


def test_the_token_endpoint_refuses_query_parameters_and_a_second_credential():
    VENDOR_APP.state.auth.limiter = RateLimiter()
    client = TestClient(VENDOR_APP)
    form = {"grant_type": "client_credentials", "client_id": "contract", "client_secret": VENDOR_KEY}
    assert client.post("/v1/oauth/token", data=form).status_code == 200
    for answer in (client.post("/v1/oauth/token?foo=1", data=form),
                   client.post("/v1/oauth/token", data=form, headers={"X-API-Key": VENDOR_KEY})):
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_the_access_log_limit_is_ascii_digits():
    client = TestClient(VENDOR_APP)
    for limit in ("1_0", " 5", "٣"):
        answer = client.get("/v1/admin/access-log", params={"limit": limit}, headers={"X-Admin-Key": ADMIN_KEY})
        assert answer.status_code == 422, limit
    listed = client.get("/v1/admin/access-log", params={"limit": "5"}, headers={"X-Admin-Key": ADMIN_KEY})
    assert listed.status_code == 200


@pytest.mark.parametrize("app, path", [(VENDOR_APP, "/v1/tables"), (VENDOR_APP, "/v1/tables/t4_9_overzicht/rows"),
                                       (VENDOR_APP, "/health"), (INGEST_APP, "/health")])
def test_head_answers_as_get_without_the_body(app, path):
    """RFC 9110 9.3.2: a review met 405 for HEAD on every route (link checkers and caches read an ETag or
    Content-Length with it)."""
    VENDOR_APP.state.auth.limiter = RateLimiter()
    client = TestClient(app)
    got, head = client.get(path), client.head(path)
    assert (head.status_code, head.content) == (got.status_code, b"")
    for name in ("content-type", "content-length", "etag"):
        assert head.headers.get(name) == got.headers.get(name), name


def test_the_expiry_of_release_data_is_documented_where_it_is_served():
    doc = VENDOR_APP.openapi()
    for path in ("/v1/tables/{table}/rows", "/v1/tables/{table}/series", "/v1/releases/{release_id}", "/v1/cameras"):
        ok = doc["paths"][path]["get"]["responses"]["200"]
        assert ok["headers"]["X-Data-Expires"]["required"] is True, path
    schemas = doc["components"]["schemas"]
    assert all("expiresAt" in schemas[name]["required"]
               for name in ("RowsPage", "Series", "Release", "CameraCollection"))
    for path in ("/v1/tables/{table}/rows", "/v1/tables/{table}/series"):
        assert "text/csv" in doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert {"200", "400", "401", "403", "429"} <= set(doc["paths"][path]["get"]["responses"])


def test_the_open_layer_answers_without_a_key_as_documented():
    VENDOR_APP.state.auth.limiter = RateLimiter()
    listed = answer(vendor, "GET", "/v1/tables")
    assert listed.status_code == 200
    assert [(t["table"], t["access"]) for t in listed.json()["tables"]] == [("t4_5_bezoeker_herkomst", "open"),
                                                                            ("t4_9_overzicht", "open")]
    refused = answer(vendor, "GET", "/v1/tables/{table}/rows", path_parameters={"table": "t4_1_uur_camera"})
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "table t4_1_uur_camera needs a key"
