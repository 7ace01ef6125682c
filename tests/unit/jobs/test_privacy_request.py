"""Data-subject requests (jobs/privacy.py): keys as the stream makes them, counts, releases, bad input."""

import hmac
import io
import json
import logging
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from anpr.delta_reader import DeltaReader
from anpr.operator_audit import mask_argv, read_audit
from anpr.pseudonym import period_token, vehicle_key
from anpr.settings import get_settings
from cli.main import main
from jobs.privacy import (
    RequestError,
    contributed_releases,
    first_stored,
    months,
    passage_counts,
    render,
    report,
    subject,
)

PEPPER = b"test-pepper"
PLATE = "QX-941-Z"  # synthetic


def at(day: int, hour: int = 9, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def passages(rows: list[tuple]) -> pa.Table:
    """(event_date, zone_id, camera_id, ingested_at) rows with the month columns of event_date."""
    return pa.Table.from_pylist([
        {"event_date": d, "zone_id": z, "camera_id": c, "jaar": d.year, "maand": d.month, "ingested_at": i}
        for d, z, c, i in rows])


def releases(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([{"release_id": r, "month": m, "created_at": c} for r, m, c in rows])


def test_keys_and_month_tokens_are_the_streams():
    s = subject([PEPPER], "qx 941 z", "nl", date(2026, 9, 28), date(2026, 11, 2))
    key = vehicle_key(PEPPER, PLATE, "NL")
    assert (s.country, s.vehicle_keys) == ("NL", (key,))
    assert s.tokens == {m: (period_token(PEPPER, m, key),) for m in ("2026-09", "2026-10", "2026-11")}
    assert PLATE not in repr(s) and key not in repr(s) and s.tokens["2026-10"][0] not in repr(s)


@pytest.mark.parametrize("country", ["GB", "uk", "UK"])
def test_a_british_vehicle_is_looked_for_under_its_one_key_and_the_uk_key_made_before_the_fold(country):
    """GB and UK are one register's codes: keys fold UK into GB (pseudonym.COUNTRY_ALIASES), and passages made
    before the fold carry tokens of the key under UK as read."""
    s = subject([PEPPER, b"old-pepper"], "AB12 CDE", country, date(2026, 11, 1), date(2026, 11, 30))
    keys = [vehicle_key(p, "AB12CDE", "GB") for p in (PEPPER, b"old-pepper")]
    before = [_hmac(p, "UK|AB12CDE") for p in (PEPPER, b"old-pepper")]
    assert s.country == "GB" and s.vehicle_keys == (keys[0], before[0], keys[1], before[1])
    assert vehicle_key(PEPPER, "AB12CDE", "UK") == keys[0]
    assert s.tokens["2026-11"] == tuple(period_token(p, "2026-11", k) for p, k in zip(
        (PEPPER, PEPPER, b"old-pepper", b"old-pepper"), s.vehicle_keys, strict=True))


def _hmac(pepper: bytes, message: str) -> str:
    return hmac.digest(pepper, message.encode(), "sha256").hex()


def test_months_span_the_range_across_a_year_end():
    assert months(date(2026, 12, 31), date(2027, 2, 1)) == ["2026-12", "2027-01", "2027-02"]
    assert months(date(2026, 10, 5), date(2026, 10, 5)) == ["2026-10"]


@pytest.mark.parametrize(("plate", "country", "start", "end", "message"), [
    (" - ", "NL", date(2026, 10, 1), date(2026, 10, 2), "--plate is empty"),
    (PLATE, "Netherlands", date(2026, 10, 1), date(2026, 10, 2), "is not an ISO 3166-1 alpha-2 code"),
    (PLATE, "X1", date(2026, 10, 1), date(2026, 10, 2), "is not an ISO 3166-1 alpha-2 code"),
    (PLATE, "NL", date(2026, 10, 3), date(2026, 10, 2), "--from 2026-10-03 is after --to 2026-10-02"),
    ("QX-941-ZZ", "NL", date(2026, 10, 1), date(2026, 10, 2), "does not have the format of a NL plate"),
    ("BNO1234", "DE", date(2026, 10, 1), date(2026, 10, 2), "needs the separator after its district code"),
])
def test_bad_input_is_refused_without_echoing_the_plate(plate, country, start, end, message):
    with pytest.raises(RequestError, match=message) as refused:
        subject([PEPPER], plate, country, start, end)
    assert plate.strip(" -") == "" or plate not in str(refused.value)


def test_passages_are_counted_per_day_zone_and_camera():
    rows = passages([(date(2026, 10, 2), "Z1", "cam-2", at(2)), (date(2026, 10, 2), "Z1", "cam-1", at(2)),
                     (date(2026, 10, 2), "Z1", "cam-1", at(2)), (date(2026, 10, 1), "Z2", "cam-9", at(1))])
    assert passage_counts(rows) == [
        {"day": "2026-10-01", "zone_id": "Z2", "camera_id": "cam-9", "passages": 1},
        {"day": "2026-10-02", "zone_id": "Z1", "camera_id": "cam-1", "passages": 2},
        {"day": "2026-10-02", "zone_id": "Z1", "camera_id": "cam-2", "passages": 1}]


def test_releases_built_after_the_months_first_passage_was_stored():
    rows = passages([(date(2026, 10, 20), "Z1", "c", at(20)), (date(2026, 10, 3), "Z1", "c", at(4)),
                     (date(2026, 11, 1), "Z1", "c", None)])
    stored = first_stored(rows)
    assert stored == {"2026-10": at(4), "2026-11": None}
    found = contributed_releases(releases([
        ("2026-10-a", "2026-10", at(2)),  # built before the vehicle's first October passage was stored
        ("2026-10-b", "2026-10", at(9, month=11)), ("2026-11-a", "2026-11", at(9, month=12)),
        ("2026-09-a", "2026-09", at(9))]), stored)
    assert [r["release_id"] for r in found] == ["2026-10-b", "2026-11-a"]


def test_the_report_holds_no_plate_key_or_token():
    s = subject([PEPPER], PLATE, "NL", date(2026, 10, 1), date(2026, 10, 31))
    r = report(s, passages([(date(2026, 10, 2), "Z1", "cam-1", at(2))]),
               releases([("2026-10-b", "2026-10", at(9, month=11))]), at(1, month=12), erased={"passages": 1},
               notes=["already-published protected tables are not recomputed"])
    text = json.dumps(r, default=str) + render(r)
    assert r["passages"]["total"] == 1 and r["erased"] == {"passages": 1}
    assert r["releases"] == [{"release_id": "2026-10-b", "month": "2026-10", "created_at": "2026-11-09T09:00:00+00:00"}]
    for secret in ("QX941Z", PLATE, *s.vehicle_keys, *s.all_tokens()):
        assert secret not in text
    assert "not recomputed" in render(r)


def test_the_audit_masks_the_plate_and_keeps_a_template():
    assert mask_argv(["privacy", "request", "--plate", PLATE, "--template", "t", "--country", "NL"]) == [
        "privacy", "request", "--plate", "***", "--template", "t", "--country", "NL"]
    assert mask_argv([f"--plate={PLATE}"]) == ["--plate=***"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("argv", [
    ["--plate", " - ", "--country", "NL", "--from", "2026-10-01", "--to", "2026-10-02"],
    ["--plate", PLATE, "--country", "NLD", "--from", "2026-10-01", "--to", "2026-10-02"],
    ["--plate", PLATE, "--country", "NL", "--from", "2026-10-03", "--to", "2026-10-02"],
])
def test_bad_input_is_one_line_exit_2_and_audited_without_the_plate(data_dir, capsys, argv):
    assert main(["privacy", "request", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("anpr privacy request: ") and PLATE not in err
    [row] = read_audit(DeltaReader(str(data_dir / "lake")))
    assert (row["command"], row["exit_code"]) == ("privacy request", 2)
    assert json.loads(row["argv"])[3] == "***"
    stored = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    assert b"QX-941-Z" not in stored and b"QX941Z" not in stored


def test_the_plate_can_come_from_standard_input_instead_of_the_process_list(data_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PLATE}\n"))
    assert main(["privacy", "request", "--plate", "-", "--country", "NL", "--from", "2026-10-01",
                 "--to", "2026-10-31"]) == 0
    assert capsys.readouterr().out.startswith("vehicle (NL) from 2026-10-01 to 2026-10-31: 0 passages")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["privacy", "request", "--plate", "-", "--country", "NL", "--from", "2026-10-01",
                 "--to", "2026-10-31"]) == 2
    assert capsys.readouterr().err.startswith("anpr privacy request: ")


def test_a_request_without_passages_reports_none_and_writes_its_report(data_dir, capsys):
    out = data_dir / "reports" / "request.json"
    assert main(["privacy", "request", "--plate", PLATE, "--country", "NL", "--from", "2026-10-01",
                 "--to", "2026-10-31", "--report", str(out)]) == 0
    assert capsys.readouterr().out.startswith("vehicle (NL) from 2026-10-01 to 2026-10-31: 0 passages")
    saved = json.loads(out.read_text())
    assert saved["passages"] == {"total": 0, "by_day_zone_camera": []} and saved["erased"] is None
    assert "QX941Z" not in out.read_text()
