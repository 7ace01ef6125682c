"""GET /v1/tables/{table}/series over a lake of three months' releases, written with delta-rs (no Spark):
each month's latest release, one measure, suppressed values null, a missing month listed, scope and errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES, TableSpec
from anpr.delta_reader import DeltaReader
from anpr.lake import spark_to_arrow_schema
from anpr.settings import Settings
from api.access_log import AccessLog
from api.common.errors import ApiError
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import arrow_schema, synthetic_municipality
from api.vendor.series import month_range
from jobs.stats.release import RELEASES, RELEASES_SCHEMA, published_table

OVERVIEW = TABLES["t4_9_overzicht"]
KEYS = {"utrecht": "key-utrecht-0123456789"}
HEADERS = {"X-API-Key": KEYS["utrecht"]}
CONTRACTS = parse_contracts('[defaults]\nrequests_per_minute = 100000\nburst = 100000\nexport_days = 30\n'
                            '[vendors.utrecht]\nmunicipalities = ["GM0344"]\n')
URL = f"/v1/tables/{OVERVIEW.name}/series"


def overview_row(gm: str, jaar: int, maand: int, waarde: str, vehicles: int | None) -> dict:
    """A row of table 4.9 for kenmerk emissieklasse; `vehicles` None is a suppressed cell (all measures null)."""
    counts = {"aantalPassages": None if vehicles is None else vehicles * 3,
              "aantalRitten": None if vehicles is None else vehicles * 2, "aantalUniekeVoertuigen": vehicles}
    return {"gemeenteCode": gm, "zoneId": zone_code(gm), "zoneAanduiding": f"{gm}-ZE1", "zoneNaam": f"ZE-zone {gm}",
            "kenmerk": "emissieklasse", "waarde": waarde, "maand": maand, "jaar": jaar, **counts}


def zone_code(gm: str) -> int:
    """The NDW code api.vendor.sample.synthetic_municipality gives the zone of municipality `gm`."""
    return int(gm[2:]) * 1000 + 1


def publish(root: str, release_id: str, month: str, created: datetime, rows: list[dict],
            spec: TableSpec = OVERVIEW) -> None:
    """A release of one table as jobs.stats.release lays it out: rows partitioned by release_id, then the record."""
    publish_tables(root, release_id, month, created, {spec.name: rows})


def publish_tables(root: str, release_id: str, month: str, created: datetime, tables: dict[str, list[dict]],
                   protection: dict | None = None) -> None:
    """A release of several tables (catalogue name -> rows), each as in `publish`, with its `protection`
    record (jobs/stats/release.py; default empty)."""
    for name, rows in tables.items():
        spec = TABLES[name]
        schema = arrow_schema(spec).append(pa.field("release_id", pa.string(), nullable=False))
        table = pa.Table.from_pylist([{**r, "release_id": release_id} for r in rows], schema=schema)
        write_deltalake(f"{root}/{published_table(spec.name)}", table, mode="append", partition_by=["release_id"])
    record = {"release_id": release_id, "month": month, "created_at": created, "tables": json.dumps(list(tables)),
              "row_counts": json.dumps({name: len(rows) for name, rows in tables.items()}),
              "source_versions": "{}", "config_hash": "test", "protection": json.dumps(protection or {})}
    write_deltalake(f"{root}/{RELEASES}", pa.Table.from_pylist([record], spark_to_arrow_schema(RELEASES_SCHEMA)),
                    mode="append")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("series")
    lake = str(root / "lake")
    # 2026-07's release has another table only.
    publish(lake, "2026-07-b", "2026-07", datetime(2026, 8, 4, 2, tzinfo=UTC), [], TABLES["t4_8c_voertuig_carrosserie"])
    publish(lake, "2026-08-a", "2026-08", datetime(2026, 9, 5, 2, tzinfo=UTC), [
        overview_row("GM0344", 2026, 8, "Euro 6", 120), overview_row("GM0344", 2026, 8, "Euro 5", 40),
        overview_row("GM0344", 2026, 8, "Z", None), overview_row("GM0599", 2026, 8, "Euro 6", 999)])
    # 2026-09 has no release. 2026-10 has two: the later one is current.
    publish(lake, "2026-10-old", "2026-10", datetime(2026, 11, 3, 2, tzinfo=UTC), [
        overview_row("GM0344", 2026, 10, "Euro 6", 1)])
    publish(lake, "2026-10-new", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC), [
        overview_row("GM0344", 2026, 10, "Euro 6", 150), overview_row("GM0344", 2026, 10, "Euro 5", None),
        overview_row("GM0344", 2026, 10, "Z", 12), overview_row("GM0599", 2026, 10, "Z", 777)])
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    app = create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                     municipalities=[synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12),
                                     synthetic_municipality()],
                     access_log=AccessLog(store.lake, flush_seconds=3600))
    with TestClient(app) as c:
        yield c


def series(client, **params):
    return client.get(URL, headers=HEADERS, params={"measure": "aantalUniekeVoertuigen", "from": "2026-08",
                                                    "to": "2026-10", **params})


def test_each_month_comes_from_its_latest_release_with_the_measure_only(client):
    answer = series(client, kenmerk="emissieklasse")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["months"] == [
        {"month": "2026-08", "releaseId": "2026-08-a", "expiresAt": "2026-10-05T02:00:00+00:00", "rows": 3,
         "missing": None},
        {"month": "2026-09", "releaseId": None, "expiresAt": None, "rows": 0, "missing": "no release"},
        {"month": "2026-10", "releaseId": "2026-10-new", "expiresAt": "2026-12-06T02:00:00+00:00", "rows": 3,
         "missing": None}]
    assert [(r["maand"], r["waarde"], r["aantalUniekeVoertuigen"]) for r in body["rows"]] == [
        (8, "Euro 5", 40), (8, "Euro 6", 120), (8, "Z", None), (10, "Euro 5", None), (10, "Euro 6", 150), (10, "Z", 12)]
    assert list(body["rows"][0]) == ["gemeenteCode", "zoneId", "zoneAanduiding", "zoneNaam", "kenmerk", "waarde",
                                     "maand", "jaar", "aantalUniekeVoertuigen"]
    assert {r["gemeenteCode"] for r in body["rows"]} == {"GM0344"}  # GM0599 is outside the contract
    assert (body["table"], body["measure"], body["from"], body["to"], body["total"]) == (
        OVERVIEW.name, "aantalUniekeVoertuigen", "2026-08", "2026-10", 6)
    # The earliest expiry of the releases used, as rows states the expiry of its release.
    assert body["expiresAt"] == answer.headers["X-Data-Expires"] == "2026-10-05T02:00:00+00:00"
    assert answer.headers["X-Release-Ids"] == "2026-08=2026-08-a,2026-10=2026-10-new"
    assert answer.headers["X-Missing-Months"] == "2026-09"


def test_a_release_without_the_table_is_a_missing_month(client):
    body = series(client, **{"from": "2026-07", "to": "2026-08"}).json()
    assert [(m["month"], m["releaseId"], m["missing"]) for m in body["months"]] == [
        ("2026-07", None, f"release 2026-07-b has no table {OVERVIEW.name}"), ("2026-08", "2026-08-a", None)]
    assert [r["maand"] for r in body["rows"]] == [8, 8, 8]


def test_another_measure_and_a_filter_narrow_the_rows(client):
    body = series(client, measure="aantalPassages", waarde="Euro 6").json()
    assert [(r["maand"], r["aantalPassages"]) for r in body["rows"]] == [(8, 360), (10, 450)]
    assert "aantalUniekeVoertuigen" not in body["rows"][0]


def test_csv_has_the_rows_columns_and_suppressed_cells_empty(client):
    answer = series(client, format="csv", waarde=["Euro 5", "Z"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["X-Data-Expires"] == "2026-10-05T02:00:00+00:00"
    assert answer.headers["X-Release-Ids"] == "2026-08=2026-08-a,2026-10=2026-10-new"
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == ["gemeenteCode", "zoneId", "zoneAanduiding", "zoneNaam", "kenmerk", "waarde", "maand", "jaar",
                        "aantalUniekeVoertuigen"]
    assert [(r[6], r[5], r[8]) for r in table[1:]] == [("8", "Euro 5", "40"), ("8", "Z", ""), ("10", "Euro 5", ""),
                                                       ("10", "Z", "12")]
    assert {(r[1], r[2]) for r in table[1:]} == {("344001", "GM0344-ZE1")}


def test_names_en_gives_the_english_field_names_with_the_same_values(client):
    dutch = series(client).json()
    english = series(client, names="en")
    assert english.status_code == 200, english.text
    rows = english.json()["rows"]
    assert list(rows[0]) == ["municipality_code", "zone_id", "zone_label", "zone_name", "characteristic", "value",
                             "month", "year", "number_of_unique_vehicles"]
    assert [list(r.values()) for r in rows] == [list(r.values()) for r in dutch["rows"]]
    assert rows[0]["zone_id"] == 344001 and rows[0]["zone_label"] == "GM0344-ZE1"
    assert english.json()["months"] == dutch["months"]
    table = list(csv.reader(io.StringIO(series(client, names="en", format="csv").text)))
    assert table[0] == list(rows[0]) and table[1][1] == "344001"
    assert series(client, names="fr").status_code == 400


def test_revalidation_answers_304(client):
    first = series(client)
    again = client.get(URL, headers={**HEADERS, "If-None-Match": first.headers["ETag"]},
                       params={"measure": "aantalUniekeVoertuigen", "from": "2026-08", "to": "2026-10"})
    assert again.status_code == 304


def test_another_municipality_is_403(client):
    answer = series(client, gemeenteCode="GM0599")
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == "your contract does not cover municipality GM0599"
    assert series(client, zoneId=599001).status_code == 403
    assert series(client, zoneId="GM0599-ZE1").status_code == 400  # zoneId is the NDW code, a number


@pytest.mark.parametrize("params, message", [
    ({"measure": "aantalAutos"}, f"'aantalAutos' is not a measure of {OVERVIEW.name}"),
    ({"measure": "waarde"}, f"'waarde' is not a measure of {OVERVIEW.name}"),
    ({"from": "2026-11"}, "from 2026-11 is after to 2026-10"),
    ({"from": "2023-10"}, "2023-10..2026-10 spans 37 months, more than 36"),
    ({"from": "2026-8"}, "from '2026-8' is not a month YYYY-MM"),
    ({"to": "2026-13"}, "to '2026-13' is not a month YYYY-MM"),
    ({"release": "2026-08-a"}, "a series takes no release"),
    ({"format": "xml"}, "format 'xml' is not json or csv"),
    ({"uur": "7"}, f"cannot filter {OVERVIEW.name} on 'uur'"),
])
def test_bad_parameters_are_400_with_one_line(client, params, message):
    answer = series(client, **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"] == message and answer.json()["error"]["hint"]


def test_a_range_without_any_release_is_404_and_credentials_are_required(client):
    none = series(client, **{"from": "2025-01", "to": "2025-03"})
    assert none.status_code == 404 and none.json()["error"]["message"] == f"no release of {OVERVIEW.name} in " \
                                                                          "2025-01..2025-03"
    assert client.get(URL, params={"measure": "aantalPassages", "from": "2026-08", "to": "2026-10"}).status_code == 401


def test_month_range_is_inclusive_across_years_and_capped():
    assert month_range("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert month_range("2026-10", "2026-10") == ["2026-10"]
    assert len(month_range("2024-01", "2026-12")) == 36
    for start, end in (("2023-12", "2026-12"), (None, "2026-01"), ("2026-01", "x")):
        with pytest.raises(ApiError):
            month_range(start, end)


def test_a_repeated_series_is_the_same_answer_byte_for_byte_in_each_format(client):
    # The first request builds the answer, the later ones reuse the parsed query and the cached bytes.
    asks = [({}, {}), ({"format": "csv"}, {}), ({"names": "en"}, {}), ({}, {"Accept": "text/csv"}),
            ({}, {"Accept-Encoding": "gzip"}), ({"waarde": ["Z", "Euro 5"]}, {})]
    for params, headers in asks:
        answers = [client.get(URL, headers={**HEADERS, **headers}, params={
            "measure": "aantalUniekeVoertuigen", "from": "2026-08", "to": "2026-10", **params}) for _ in range(3)]
        kept = [(a.status_code, a.content, {k: v for k, v in a.headers.items() if not k.startswith("x-ratelimit")
                                            and k != "x-request-id"}) for a in answers]
        assert kept[0][0] == 200 and kept[1:] == kept[:1] * 2, params
    # The Accept header chooses the format of the same query string, cached or not.
    plain = client.get(URL, headers=HEADERS, params={"measure": "aantalUniekeVoertuigen", "from": "2026-08",
                                                     "to": "2026-10"})
    assert plain.headers["content-type"] == "application/json"



def _reference(client, measure: str, filters: dict[str, list[str]], names: str) -> list[dict]:
    """The series' rows computed plainly: each month's current release table as the store holds it, scanned
    with Arrow for the contract's municipality and the filters, the series' columns as to_pylist gives them."""
    columns = [c for c in OVERVIEW.columns if c not in OVERVIEW.measures or c == measure]
    rows = []
    for release_id in ("2026-08-a", "2026-10-new"):
        table = client.app.state.store.rows(release_id, OVERVIEW)
        mask = pc.is_in(table["gemeenteCode"], value_set=pa.array(["GM0344"]))
        for column, values in filters.items():
            mask = pc.and_(mask, pc.is_in(table[column], value_set=pa.array(values).cast(table[column].type)))
        rows += table.filter(mask).select(columns).to_pylist()
    english = OVERVIEW.names(names)
    return [{english.get(k, k): v for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("filters", [{}, {"waarde": ["Z", "Euro 5"]}, {"waarde": ["none such"]},
                                     {"zoneId": ["344001"], "kenmerk": ["emissieklasse"]}])
@pytest.mark.parametrize("measure", ["aantalUniekeVoertuigen", "aantalPassages"])
def test_a_series_is_the_reference_computation_byte_for_byte(client, filters, measure):
    for names in ("nl", "en"):
        expected = _reference(client, measure, filters, names)
        params = {"measure": measure, "from": "2026-08", "to": "2026-10", "names": names, **filters}
        for gzipped in (False, True):
            answer = client.get(URL, headers={**HEADERS, **({"Accept-Encoding": "gzip"} if gzipped else {})},
                                params=params)
            assert answer.status_code == 200, answer.text
            head = {k: v for k, v in answer.json().items() if k != "rows"}
            assert answer.content == json.dumps({**head, "rows": expected}, separators=(",", ":"),
                                                ensure_ascii=False).encode()
            assert head["total"] == len(expected)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(list(_reference(client, measure, {}, names)[0]))
        writer.writerows([["" if v is None else v for v in row.values()] for row in expected])
        assert client.get(URL, headers=HEADERS, params={**params, "format": "csv"}).content == out.getvalue().encode()
