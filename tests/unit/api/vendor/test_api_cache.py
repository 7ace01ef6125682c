"""What the vendor API's caches and indexes must never change: the rows a query selects, the release a
new publication makes current, and the audit rows of requests served just before the process stops."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.access_log import AccessLog, read_access_log
from api.releases import ReleaseStore
from api.vendor.index import TableIndex
from api.vendor.main import create_app
from api.vendor.routes.tables import _tables_body
from api.vendor.rows import json_rows, python_values
from api.vendor.sample import synthetic_municipality
from tests.unit.api.vendor.test_series import CONTRACTS, HEADERS, KEYS, OVERVIEW, overview_row, publish, zone_code

ROWS = f"/v1/tables/{OVERVIEW.name}/rows?zoneId={zone_code('GM0344')}&sort=waarde"
SERIES = f"/v1/tables/{OVERVIEW.name}/series?measure=aantalUniekeVoertuigen&from=2026-10&to=2026-10"


def _scan(table: pa.Table, filters: list[tuple[str, tuple[str, ...]]]) -> list[int]:
    """The rows a full-table scan selects (what the API did before its index)."""
    mask = pa.array([True] * table.num_rows)
    for column, values in filters:
        mask = pc.and_(mask, pc.is_in(table[column], value_set=pa.array(values).cast(table[column].type)))
    return [i for i, keep in enumerate(mask.to_pylist()) if keep]


def test_the_index_selects_the_rows_a_scan_selects_in_table_order():
    table = pa.table({"gm": ["GM1", "GM2", None, "GM1", "GM2", "GM1", "GM3", None],
                      "uur": pa.array([7, 8, 8, None, 7, 8, 9, 7], pa.int32()),
                      "kind": ["a", "b", "a", "a", None, "b", "a", "b"]})
    index = TableIndex(table)
    choices = {"gm": [("GM1",), ("GM1", "GM2"), ("GM4",)], "uur": [("8",), ("7", "9"), ("10",)],
               "kind": [("a",), ("a", "b")]}
    for n in range(4):
        for columns in itertools.combinations(choices, n):
            for values in itertools.product(*(choices[c] for c in columns)):
                filters = list(zip(columns, values, strict=True))
                assert index.select(filters).tolist() == _scan(table, filters), filters
    assert index.distinct("gm", [("uur", ("8",))]) == {"GM1", "GM2"}  # the null is no municipality
    # The filter's syntax is checked before the index (queries.parse_filters); a value the column's type
    # cannot hold (beyond int32: a review's zoneId=2147483648 got a 400 quoting a Python tuple) matches no row.
    assert index.select([("uur", ("2147483648",))]).tolist() == []


def test_rows_hold_the_values_arrow_converts_nulls_and_non_finite_doubles_included():
    page = pa.table({"gm": ["GM1", "GM2", "GM1"], "label": pa.array(["a", None, "c"]),
                     "uur": pa.array([7, 8, 9], pa.int32()), "n": pa.array([1, None, 2**40], pa.int64()),
                     "x": [0.1, float("nan"), float("inf")], "when": pa.array([1, 2, 3], pa.timestamp("s"))})
    for column in page.columns:
        values = python_values(column.slice(1))
        arrows = column.slice(1).to_pylist()
        assert repr(values) == repr(arrows) and [type(v) for v in values] == [type(v) for v in arrows]  # nan too
    assert python_values(pa.chunked_array([[1], [2, 3]], pa.int32())) == [1, 2, 3]
    named = page.select(["gm", "n"]).rename_columns(["gemeenteCode", "aantalPassages"])
    assert json_rows(named, OVERVIEW) == [{"gemeenteCode": "GM1", "aantalPassages": 1},
                                          {"gemeenteCode": "GM2", "aantalPassages": None},
                                          {"gemeenteCode": "GM1", "aantalPassages": 2**40}]


def test_index_values_are_the_values_arrow_converts_nulls_and_negative_zero_included():
    table = pa.table({"gm": ["GM1", None, "GM2", "GM1", "GM2", "GM3"],
                      "n": pa.array([3, None, 2**40, 3, 0, 7], pa.int64()),
                      "uur": pa.array([7, 8, 8, None, 7, 8], pa.int32()),
                      "x": [0.0, -0.0, float("nan"), None, float("inf"), 1.5],
                      "when": pa.array([1, 2, None, 3, 1, 2], pa.timestamp("s"))})
    index = TableIndex(table)
    index.prepare(["gm"])  # a filtered column and the others read alike
    for rows in (np.arange(6), np.array([5, 0, 3]), np.array([1, 1, 2]), np.array([], np.int64)):
        for name in table.column_names:
            values = index.codes(name).values(rows)
            arrows = table[name].take(pa.array(rows, pa.int64())).to_pylist()
            assert repr(values) == repr(arrows) and [type(v) for v in values] == [type(v) for v in arrows], name
    doubled = index.codes("n").values(np.arange(6), "doubled", lambda values: pc.multiply(values, 2))
    assert doubled == pc.multiply(table["n"], 2).to_pylist()
    assert index.codes("n").values(np.array([2]), "doubled") == [2**41]  # kept under its key


def _app(lake: str, root, audit: AccessLog | None = None):  # noqa: ANN001, ANN202 - pytest's tmp_path
    store = ReleaseStore(DeltaReader(lake), refresh_seconds=0)
    return create_app(Settings(data_dir=root / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                      municipalities=[synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12)],
                      access_log=audit or AccessLog(store.lake, flush_seconds=3600))


def test_a_new_release_replaces_cached_answers_and_suppressed_cells_stay_null(tmp_path):
    lake = str(tmp_path / "lake")
    publish(lake, "2026-10-a", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC),
            [overview_row("GM0344", 2026, 10, "Euro 6", 14), overview_row("GM0344", 2026, 10, "Z", None)])
    with TestClient(_app(lake, tmp_path)) as client:
        for _ in range(2):  # the first visit, then the cached answer
            first = client.get(ROWS, headers=HEADERS)
            assert first.headers["X-Release-Id"] == "2026-10-a"
            assert [(r["waarde"], r["aantalUniekeVoertuigen"], r["aantalPassages"]) for r in first.json()["rows"]] == [
                ("Euro 6", 14, 42), ("Z", None, None)]
            series = client.get(SERIES, headers=HEADERS).json()["rows"]
            assert [r["aantalUniekeVoertuigen"] for r in series] == [14, None]
        publish(lake, "2026-10-b", "2026-10", datetime(2026, 11, 9, 2, tzinfo=UTC),
                [overview_row("GM0344", 2026, 10, "Euro 6", 15), overview_row("GM0344", 2026, 10, "Z", 5)])
        again = client.get(ROWS, headers=HEADERS)
        assert again.headers["X-Release-Id"] == "2026-10-b"
        assert [(r["waarde"], r["aantalUniekeVoertuigen"]) for r in again.json()["rows"]] == [("Euro 6", 15), ("Z", 5)]
        assert [r["aantalUniekeVoertuigen"] for r in client.get(SERIES, headers=HEADERS).json()["rows"]] == [15, 5]
        # the old release stays readable by id, from its own cached selection
        pinned = client.get(f"{ROWS}&release=2026-10-a&format=csv", headers=HEADERS)
        rows = list(csv.DictReader(io.StringIO(pinned.text)))
        assert [(r["waarde"], r["aantalUniekeVoertuigen"]) for r in rows] == [("Euro 6", "14"), ("Z", "")]


def test_requests_served_before_shutdown_are_in_the_access_log(tmp_path):
    lake = str(tmp_path / "lake")
    publish(lake, "2026-10-a", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC),
            [overview_row("GM0344", 2026, 10, "Euro 6", 14)])
    audit = AccessLog(DeltaReader(lake), flush_seconds=3600)  # no timed flush during the test
    with TestClient(_app(lake, tmp_path, audit)) as client:
        statuses = [client.get(ROWS, headers=HEADERS).status_code for _ in range(5)]
        statuses.append(client.get(ROWS, headers={"X-API-Key": "wrong-key-0123456789"}).status_code)
        assert read_access_log(DeltaReader(lake), limit=None) == []  # queued, not yet written
    logged = read_access_log(DeltaReader(lake), limit=None)
    assert statuses == [200] * 5 + [401]
    assert sorted(r["status"] for r in logged) == [200] * 5 + [401]
    assert {(r["vendor"], r["table_name"], r["release_id"], r["rows"]) for r in logged if r["status"] == 200} == {
        ("utrecht", OVERVIEW.name, "2026-10-a", 1)}


def test_etags_follow_the_content_so_a_changed_catalogue_is_never_answered_304(tmp_path, monkeypatch):
    """After conf/tables.toml changes and the API restarts, a client's old ETag must not revalidate the old
    definitions or names; what did not change still revalidates."""
    lake = str(tmp_path / "lake")
    publish(lake, "2026-10-a", "2026-10", datetime(2026, 11, 6, 2, tzinfo=UTC),
            [overview_row("GM0344", 2026, 10, "Euro 6", 14)])
    paths = ["/v1/tables", f"/v1/tables/{OVERVIEW.name}", f"/v1/tables/{OVERVIEW.name}?release=2026-10-a",
             f"{ROWS}&names=en", f"{ROWS}&names=en&format=csv", f"{SERIES}&names=en", ROWS]

    def answers() -> list:  # a new process: the listing is cached per process
        _tables_body.cache_clear()
        with TestClient(_app(lake, tmp_path)) as client:
            return [client.get(path, headers=HEADERS) for path in paths]

    def revalidated(etags: list[str]) -> list[int]:
        _tables_body.cache_clear()
        with TestClient(_app(lake, tmp_path)) as client:
            return [client.get(path, headers={**HEADERS, "If-None-Match": etag}).status_code
                    for path, etag in zip(paths, etags, strict=True)]

    before = answers()
    etags = [a.headers["ETag"] for a in before]
    assert [a.status_code for a in before] == [200] * len(paths) and len(set(etags)) == len(paths)
    assert revalidated(etags) == [304] * len(paths)  # unchanged content, another process: still 304
    english = {**OVERVIEW.english, "aantalUniekeVoertuigen": "number_of_distinct_vehicles"}
    monkeypatch.setitem(TABLES, OVERVIEW.name, dataclasses.replace(OVERVIEW, title="Renamed overview",
                                                                            english=english))
    try:
        after = answers()
        assert revalidated(etags) == [200] * (len(paths) - 1) + [304]  # the Dutch page did not change
    finally:
        monkeypatch.undo()
        _tables_body.cache_clear()
    titles = [t["title"] for t in after[0].json()["tables"] if t["table"] == OVERVIEW.name]
    assert titles == ["Renamed overview"] and after[1].json()["title"] == "Renamed overview"
    assert "number_of_distinct_vehicles" in after[3].json()["rows"][0]
    assert after[4].text.splitlines()[0].endswith("number_of_distinct_vehicles")
    assert [a.headers["ETag"] for a in after][:-1] != etags[:-1] and after[-1].headers["ETag"] == etags[-1]
