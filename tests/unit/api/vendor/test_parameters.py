"""One rule for query parameters and credentials on every /v1 route, from a vendor's review: each case
below was answered otherwise (ignored, the last value taken, a Python repr, a pydantic text)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.access_log import read_access_log
from api.vendor.http import preferred_media, whole_number
from tests.unit.api.vendor.test_ogc import UTRECHT, app  # noqa: F401 (the module's app fixture)

ROWS = "/v1/tables/t4_9_overzicht/rows"


@pytest.fixture(scope="module")
def client(app):  # noqa: F811
    with TestClient(app) as c:
        yield c


def error(answer) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["message"]


@pytest.mark.parametrize("path, message", [
    ("/v1/releases?foo=1", "/v1/releases takes no foo"),
    ("/v1/zones?foo=1", "/v1/zones takes no foo"),
    ("/v1/tables?month=2026-10", "/v1/tables takes no month"),
    ("/v1/municipalities?gemeenteCode=GM0344", "/v1/municipalities takes no gemeenteCode"),
])
def test_a_parameter_an_operation_does_not_read_is_400(client, path, message):
    assert error(client.get(path, headers=UTRECHT)) == (400, message)


@pytest.mark.parametrize("path, name", [
    ("/v1/releases?history=true&history=false", "history"),
    ("/v1/tables/t4_9_overzicht?month=2026-10&month=2026-11", "month"),
    (f"{ROWS}?month=2026-10&month=2026-10", "month"),
    ("/v1/cameras?month=2026-10&month=2026-10", "month"),
    ("/v1/tables/t4_9_overzicht/series?measure=aantalPassages&measure=aantalRitten&from=2026-10&to=2026-10",
     "measure"),
])
def test_a_single_valued_parameter_given_twice_is_422_everywhere(client, path, name):
    assert error(client.get(path, headers=UTRECHT)) == (422, f"invalid request: {name} given 2 times")


def test_filters_and_zones_still_take_alternatives(client):
    assert client.get("/v1/zones?gemeenteCode=GM0344&gemeenteCode=GM0344", headers=UTRECHT).status_code == 200
    assert client.get(f"{ROWS}?waarde=Euro%206&waarde=Euro%205", headers=UTRECHT).json()["total"] == 1


@pytest.mark.parametrize("path, expected", [
    (f"{ROWS}?limit=%D9%A3", (422, "invalid request: limit must be 1..10000")),  # an Arabic-Indic 3
    (f"{ROWS}?limit=1_0", (422, "invalid request: limit must be 1..10000")),
    (f"{ROWS}?zoneId=1_2", (400, "zoneId is a number, not '1_2'")),
    (f"{ROWS}?zoneId=2147483648", (400, "zoneId is a 32-bit integer, -2147483648 to 2147483647")),
    ("/v1/cameras?zoneId=GM0344-ZE1", (400, "zoneId is a number, not 'GM0344-ZE1'")),
    ("/v1/cameras?month=2026-13", (422, "invalid request: month '2026-13' is not YYYY-MM")),
    (f"{ROWS}?release=", (422, "invalid request: release is empty")),
    (f"{ROWS}?cursor=", (422, "invalid request: cursor is empty")),  # was page 1: a client could loop on it
    ("/v1/tables/t4_12_camera/rows?latitude=1_0", (400, "latitude is a number, not '1_0'")),
    ("/v1/cameras?release=", (422, "invalid request: release is empty")),
    ("/v1/tables/t4_9_overzicht?release=", (422, "invalid request: release is empty")),
    ("/ogc/collections/zones/items?release=", (400, "release is empty")),
])
def test_numbers_are_ascii_int32_and_an_empty_release_is_no_release(client, path, expected):
    assert error(client.get(path, headers=UTRECHT)) == expected


def test_whole_numbers_and_accept_negotiation():
    assert [whole_number(t) for t in ("7", "+7", "-7", "007")] == [7, 7, -7, 7]
    for text in ("٣", "1_0", " 5", "5 ", "1e3", "", "9" * 5000):  # int() refuses over 4,300 digits
        with pytest.raises(ValueError):
            whole_number(text)
    # RFC 9110 12.5.1: the higher q wins, q=0 refuses; a tie or */* keeps JSON, the default
    assert [preferred_media(a) for a in ("text/csv, application/json;q=0.1", "application/json;q=0, text/csv",
                                         "*/*", "application/json, text/csv", "", "not a media type")] == [
        "text/csv", "text/csv", "application/json", "application/json", "", ""]


@pytest.mark.parametrize("accept", ["text/csv, application/json;q=0.1", "TEXT/CSV"])  # media types ignore case
def test_rows_answer_csv_when_accept_prefers_it(client, accept):
    answer = client.get(ROWS, headers={**UTRECHT, "Accept": accept})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")


def test_an_empty_release_with_a_cursor_is_refused_too(client):
    cursor = client.get(f"{ROWS}?limit=1", headers=UTRECHT).json()["nextCursor"]
    assert error(client.get(f"{ROWS}?limit=1&cursor={cursor}&release=", headers=UTRECHT)) == (
        422, "invalid request: release is empty")


def test_the_parameter_rule_comes_after_authentication(client, app):  # noqa: F811
    """A review: the rule ran before the key was read, so a wrong key with an unread parameter got 400
    (not 401, uncounted), and a refused request was audited without its vendor."""
    wrong = client.get("/v1/releases?foo=1", headers={"X-API-Key": "not-a-key"})
    assert wrong.status_code == 401
    refused = client.get("/v1/tables?foo=1", headers=UTRECHT)
    assert refused.status_code == 400
    head = client.head(f"{ROWS}?limit=1", headers=UTRECHT)
    assert head.status_code == 200 and head.content == b""
    app.state.access_log.flush()
    entries = read_access_log(app.state.store.lake, limit=None)
    assert any((e["path"], e["status"], e["vendor"]) == ("/v1/tables", 400, "utrecht") for e in entries)
    # a HEAD is audited as what it asked for, with no rows delivered
    assert any((e["method"], e["path"], e["rows"]) == ("HEAD", ROWS, 0) for e in entries)


def test_two_credentials_in_one_request_are_400(client):
    answer = client.get("/v1/tables", headers={**UTRECHT, "Authorization": "Bearer some-token"})
    assert error(answer) == (400, "two credentials in one request: an X-API-Key header and an Authorization header")


def test_a_cursor_alone_pages_its_own_query(client):
    """A review: a generated client that passes nextCursor alone got 400 "the cursor belongs to another
    query"; the cursor now carries its filters and sort."""
    first = client.get("/v1/tables/t4_12_camera/rows?detectieRichting=Voorzijde&sort=-cameraId&limit=1",
                       headers=UTRECHT).json()
    linked = client.get(first["links"]["next"], headers=UTRECHT).json()
    alone = client.get("/v1/tables/t4_12_camera/rows", params={"cursor": first["nextCursor"], "limit": 1},
                       headers=UTRECHT).json()
    assert alone["rows"] == linked["rows"] and alone["offset"] == 1 and alone["total"] == first["total"] == 4
    assert alone["rows"][0]["detectieRichting"] == "Voorzijde"
    assert alone["rows"][0]["cameraId"] < first["rows"][0]["cameraId"]  # -cameraId kept
    other = client.get("/v1/tables/t4_12_camera/rows", params={"cursor": first["nextCursor"],
                                                               "detectieRichting": "Achterzijde"}, headers=UTRECHT)
    assert error(other) == (400, "the cursor belongs to another query")
