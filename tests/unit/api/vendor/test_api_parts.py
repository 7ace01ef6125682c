"""Parts of the vendor API that need no release: contracts, rate limits, tokens, cursors, auditing."""

from __future__ import annotations

import base64
import threading

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from anpr.zones import Zone
from api.access_log import AccessLog
from api.common.errors import ApiError
from api.common.ratelimit import RateLimiter, SlidingLog
from api.releases import ReleaseStore
from api.vendor.contracts import load_contracts, parse_contracts
from api.vendor.geo import ZoneRegistry
from api.vendor.main import create_app
from api.vendor.queries import Cursor
from api.vendor.rows import decode_cursor, encode_cursor
from api.vendor.sample import synthetic_municipality
from api.vendor.security import Authenticator
from jobs.stats.release import RELEASES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_contracts_apply_defaults_and_refuse_malformed_codes():
    contracts = parse_contracts('[defaults]\nrequests_per_minute = 30\n[vendors.a]\nmunicipalities = ["GM0344"]\n'
                                '[vendors.b]\nmunicipalities = ["GM0599"]\nburst = 5\n')
    assert (contracts["a"].requests_per_minute, contracts["a"].burst) == (30, 120)
    assert (contracts["b"].requests_per_minute, contracts["b"].burst, contracts["b"].municipalities) == (
        30, 5, frozenset({"GM0599"}))
    with pytest.raises(ValueError, match="GM0344"):
        parse_contracts('[vendors.a]\nmunicipalities = ["Utrecht"]\n')
    with pytest.raises(ValueError):
        parse_contracts('[vendors.a]\nmunicipalities = []\n')
    assert "demo-vendor" in load_contracts()  # the shipped file parses and serves the local dev key


def test_rate_limiter_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(clock)
    decisions = [limiter.take("v", per_minute=60, burst=3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[3].retry_after == 1 and decisions[2].remaining == 0
    clock.now += 1.0
    assert limiter.take("v", 60, 3).allowed and not limiter.take("v", 60, 3).allowed
    assert limiter.take("other", 60, 3).allowed


def test_tokens_expire_and_die_with_a_rotated_key():
    clock = Clock()
    auth = Authenticator({"esri": "k1"}, {}, RateLimiter(), token_ttl=60, clock=clock)
    token, ttl = auth.issue_token("esri")
    assert ttl == 60 and auth.vendor_of_token(token) == "esri"
    assert auth.vendor_of_token(token[:-2] + "xx") is None and auth.vendor_of_token("garbage") is None
    assert Authenticator({"esri": "k2"}, {}, RateLimiter(), clock=clock).vendor_of_token(token) is None
    clock.now += 61
    assert auth.vendor_of_token(token) is None


def test_cursors_round_trip_and_reject_tampering():
    paged = Cursor("2026-10-x", "abc", 40, (("uur", ("7", "8")), ("zoneId", ("344001",))), ("-aantalPassages",))
    assert decode_cursor(encode_cursor(paged)) == paged
    assert paged.params() == [("uur", "7"), ("uur", "8"), ("zoneId", "344001")]
    older = base64.urlsafe_b64encode(b'["2026-10-x","abc",40]').decode()  # before stop 62: no query in it
    assert decode_cursor(older) == Cursor("2026-10-x", "abc", 40)
    nested = base64.urlsafe_b64encode(b"[" * 5000).decode()  # past the JSON parser's recursion limit
    as_bool = base64.urlsafe_b64encode(b'["r","f",true]').decode()
    odd = [base64.urlsafe_b64encode(raw).decode() for raw in (b'["r","f",0,[["uur",[7]]],[]]', b'["r","f",0,[],"x"]',
                                                               b'["r","f",0,[]]', b'{"r":1}')]
    for bad in ("", "!!", encode_cursor(Cursor("r", "f", 0))[:-3], "WyJyIiwiZiIsLTFd", nested, as_bool, "A" * 9000,
                *odd):
        with pytest.raises(ApiError) as refused:  # "WyJyIiwiZiIsLTFd" is ["r","f",-1]
            decode_cursor(bad)
        assert refused.value.status == 400 and refused.value.message == "invalid cursor"


def _clockwise(ring: list[list[float]]) -> bool:
    return sum((b[0] - a[0]) * (b[1] + a[1]) for a, b in zip(ring, ring[1:], strict=False)) > 0


def test_zones_follow_the_geojson_right_hand_rule_holes_included():
    town = synthetic_municipality()
    outer = [[4.0, 52.0], [4.0, 52.1], [4.1, 52.1], [4.1, 52.0], [4.0, 52.0]]  # clockwise
    hole = [[4.04, 52.04], [4.06, 52.04], [4.06, 52.06], [4.04, 52.06], [4.04, 52.04]]  # counterclockwise
    holed = town.model_copy(update={"zones": [*town.zones, Zone(zone_id="GM0599-ZE2", ndw_code=599002, name="ring",
                                                                geometry={"type": "Polygon",
                                                                          "coordinates": [outer, hole]})]})
    registry = ZoneRegistry([holed])
    square = registry.feature("GM0599-ZE1")["geometry"]["coordinates"]
    rings = registry.feature("GM0599-ZE2")["geometry"]["coordinates"]
    assert square[0][0] == square[0][-1] and not _clockwise(square[0])
    assert len(rings) == 2 and not _clockwise(rings[0]) and _clockwise(rings[1])


def test_api_refuses_to_serve_unaudited_when_the_log_cannot_be_written(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    audit = AccessLog(DeltaReader(str(blocker / "lake")), flush_seconds=3600, max_queue=2)
    app = create_app(Settings(data_dir=tmp_path), ReleaseStore(DeltaReader(str(tmp_path / "lake"))),
                     contracts={}, municipalities=[], access_log=audit)
    client = TestClient(app)
    assert [client.get("/v1/tables").status_code for _ in range(2)] == [401, 401]
    assert audit.flush() == 0  # the write fails: the rows stay queued
    refused = client.get("/v1/tables")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable"
    assert client.get("/health").status_code == 200  # probes are not audited, so still answered


def test_a_bug_is_the_documented_500_and_not_raised_on_to_the_server(tmp_path):
    """Raised on, uvicorn would close the connection and the vendor's next request on it would fail."""
    app = create_app(Settings(data_dir=tmp_path), ReleaseStore(DeltaReader(str(tmp_path / "lake"))),
                     contracts={}, municipalities=[])

    @app.get("/health/bug")
    def bug() -> None:
        raise RuntimeError("a bug")

    client = TestClient(app)  # raises what reaches the server
    answer = client.get("/health/bug")
    assert answer.status_code == 500
    assert {k: v for k, v in answer.json()["error"].items() if k != "trace_id"} == {
        "code": "internal_error", "message": "internal error", "hint": "retry later"}
    assert client.get("/health").status_code == 200


def test_sliding_log_allows_exactly_the_limit_in_any_minute():
    """The suppliers' contract: never more than `limit` in 60 s, where a token bucket would allow twice."""
    clock = Clock()
    limiter = SlidingLog(clock)
    assert all(limiter.take("s", 600).allowed for _ in range(300))
    clock.now += 30
    assert all(limiter.take("s", 600).allowed for _ in range(300))
    refused = limiter.take("s", 600)
    assert not refused.allowed and refused.retry_after == 30  # the first 300 leave the window at 60 s
    clock.now += 30
    assert limiter.take("s", 600).allowed


class SlowReader:
    """A published table's reader whose first read of `slow` waits until `go` is set; counts reads per table."""

    def __init__(self, slow: str) -> None:
        self.slow, self.go, self.started = slow, threading.Event(), threading.Event()
        self.reads: dict[str, int] = {}

    def exists(self, name: str) -> bool:
        return name != RELEASES

    def read_arrow(self, name: str, filters=None):  # noqa: ANN001, ANN201
        self.reads[name] = self.reads.get(name, 0) + 1
        if self.slow in name:
            self.started.set()
            assert self.go.wait(10)
        columns = {c for t in ("t4_9_overzicht", "t4_12_camera") for c in TABLES[t].columns}
        return pa.table({c: ["x"] for c in sorted(columns)})


def test_a_first_read_of_one_table_holds_up_no_request_for_another_and_is_read_once():
    """A review's case: the read ran under the store's one lock, so a page already in memory (and every other
    table) waited for another table's first read: 1.4 s behind a 2 s read."""
    slow, other = TABLES["t4_9_overzicht"], TABLES["t4_12_camera"]
    reader = SlowReader(slow.name)
    store = ReleaseStore(reader)  # type: ignore[arg-type]
    held = store.rows("r1", other)
    readers = [threading.Thread(target=store.rows, args=("r1", slow)) for _ in range(3)]
    for t in readers:
        t.start()
    assert reader.started.wait(10)
    answered = threading.Thread(target=lambda: (store.held("r1", other), store.rows("r1", other),
                                                store.rows("r2", other)))
    answered.start()
    answered.join(5)
    blocked = answered.is_alive()
    reader.go.set()
    for t in [*readers, answered]:
        t.join(10)
    assert not blocked, "a request for another table waited for the first read of t4_9"
    assert store.held("r1", other) is held and store.held("r1", slow) is not None
    assert [n for k, n in reader.reads.items() if slow.name in k] == [1]  # three first requests, one read
