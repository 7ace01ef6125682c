"""What a vendor's query names and the API must not read past: a month that contradicts the release or
cursor, a zone of another municipality by its text id, a month that is not a whole YYYY-MM. Releases of
2026-09 and 2026-10 (two, the later current) of table 4.9 in GM0344 and GM0599; the key reads GM0344."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.access_log import AccessLog
from api.releases import ReleaseStore
from api.vendor.main import create_app
from api.vendor.queries import is_month
from api.vendor.sample import synthetic_municipality
from tests.unit.api.vendor.test_series import CONTRACTS, HEADERS, KEYS, OVERVIEW, overview_row, publish, zone_code

ROWS = f"/v1/tables/{OVERVIEW.name}/rows"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("queries")
    lake = str(root / "lake")
    for release, month, created in (("2026-09-a", "2026-09", datetime(2026, 10, 5, 2, tzinfo=UTC)),
                                    ("2026-10-a", "2026-10", datetime(2026, 11, 3, 2, tzinfo=UTC)),
                                    ("2026-10-b", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC))):
        number = int(month[5:])
        publish(lake, release, month, created, [overview_row("GM0344", 2026, number, "Euro 6", 30),
                                                overview_row("GM0344", 2026, number, "Z", 12),
                                                overview_row("GM0599", 2026, number, "Euro 6", 99)])
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    app = create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                     municipalities=[synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12),
                                     synthetic_municipality()],
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    with TestClient(app) as c:
        yield c


def get(client, path: str = ROWS, **params):
    return client.get(path, headers=HEADERS, params=params)


def refusal(answer) -> tuple[int, str, str]:  # noqa: ANN001 - an httpx response
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["message"]


def test_a_month_that_is_not_the_releases_is_400_and_an_agreeing_one_is_served(client):
    conflict = (400, "bad_request", "release 2026-10-b is of month 2026-10, not 2026-09")
    assert refusal(get(client, month="2026-09", release="2026-10-b")) == conflict
    assert get(client, month="2026-09", release="2026-10-b").json()["error"]["hint"] == (
        "drop month=: a release or cursor already names its month")
    assert refusal(get(client, f"/v1/tables/{OVERVIEW.name}", month="2026-09", release="2026-10-b")) == conflict
    agreeing = get(client, month="2026-10", release="2026-10-a")
    assert agreeing.status_code == 200 and agreeing.json()["releaseId"] == "2026-10-a"  # not the month's latest
    assert get(client, month="2026-09").json()["releaseId"] == "2026-09-a"


def test_a_month_that_is_not_the_cursors_is_400_and_an_agreeing_one_pages_on(client):
    first = get(client, month="2026-10", limit=1).json()
    assert first["releaseId"] == "2026-10-b" and first["nextCursor"]
    assert refusal(get(client, month="2026-09", limit=1, cursor=first["nextCursor"])) == (
        400, "bad_request", "release 2026-10-b is of month 2026-10, not 2026-09")
    second = get(client, month="2026-10", limit=1, cursor=first["nextCursor"]).json()
    assert (second["releaseId"], second["offset"], second["nextCursor"]) == ("2026-10-b", 1, None)


@pytest.mark.parametrize("path, params", [
    (ROWS, {}), (f"/v1/tables/{OVERVIEW.name}/series", {"measure": "aantalPassages", "from": "2026-09",
                                                         "to": "2026-10"})])
def test_another_municipalitys_zone_is_403_by_its_text_id_as_by_its_code(client, path, params):
    outside = (403, "forbidden", "your contract does not cover municipality GM0599")
    assert refusal(get(client, path, zoneId=zone_code("GM0599"), **params)) == outside
    assert refusal(get(client, path, zoneAanduiding="GM0599-ZE1", **params)) == outside
    assert refusal(get(client, path, zoneAanduiding=["GM0344-ZE1", "GM0599-ZE1"], **params)) == outside
    own = get(client, path, zoneAanduiding="GM0344-ZE1", **params)
    assert own.status_code == 200 and {r["zoneAanduiding"] for r in own.json()["rows"]} == {"GM0344-ZE1"}
    # a text id no zone has stays an empty answer, as an unknown zoneId does
    assert get(client, path, zoneAanduiding="GM0344-ZE9", **params).json()["rows"] == []


@pytest.mark.parametrize("month", ["2026-10\n", "2026-10 ", "\u0662\u0660\u0662\u0666-10", "２０２６-10", "2026-1",
                                   "2026-13"])
def test_a_month_is_a_whole_yyyy_mm_in_ascii_digits(client, month):
    assert not is_month(month)
    message = f"invalid request: month {month!r} is not YYYY-MM"
    assert refusal(get(client, month=month)) == (422, "invalid_request", message)
    assert refusal(get(client, f"/v1/tables/{OVERVIEW.name}", month=month)) == (422, "invalid_request", message)
    assert get(client, "/v1/cameras", month=month).status_code == 422
    series = get(client, f"/v1/tables/{OVERVIEW.name}/series", measure="aantalPassages", to="2026-10",
                 **{"from": month})
    assert refusal(series) == (400, "bad_request", f"from {month!r} is not a month YYYY-MM")


def test_is_month_takes_every_real_month():
    assert all(is_month(f"2026-{m:02d}") for m in range(1, 13)) and is_month("0001-01")
    assert not any(is_month(text) for text in ("", "2026-00", "2026-10-01", "202610", " 2026-10"))
