"""Validity intervals: loads merge into history without rewriting it (pure Arrow, inline rows)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from anpr.register_tables import COMPANIES_SPEC, OWNERS_SPEC
from jobs.register.history import FIRST_FROM, OutOfOrderLoadError, dated_changes, state_changes

MARCH, APRIL, MAY = (datetime(2026, m, 1, tzinfo=UTC) for m in (3, 4, 5))
EARLY = datetime(1900, 1, 1, tzinfo=UTC)


def companies(*rows: tuple) -> pa.Table:
    """(key, valid_from, valid_to, sbi) rows of the companies table."""
    return pa.Table.from_pylist([{"company_key": k, "valid_from": f, "valid_to": t, "sbi_code": s,
                                  "werkzame_personen": 10} for k, f, t, s in rows], COMPANIES_SPEC.arrow_schema)


def incoming(*rows: tuple) -> pa.Table:
    return pa.Table.from_pylist([{"company_key": k, "sbi_code": s, "werkzame_personen": 10, FIRST_FROM: EARLY}
                                 for k, s in rows])


def history(table: pa.Table, changes: pa.Table) -> list[tuple]:
    """The table after upserting changes on (key, valid_from), as sorted (key, from, to, sbi) tuples."""
    merged = {(r["company_key"], r["valid_from"]): r for r in table.to_pylist()}
    merged.update({(r["company_key"], r["valid_from"]): r for r in changes.to_pylist()})
    return sorted((r["company_key"], r["valid_from"], r["valid_to"], r["sbi_code"]) for r in merged.values())


def test_first_load_starts_new_keys_at_their_own_first_date():
    changes = state_changes(companies(), incoming(("a", "4941"), ("b", "4120")), COMPANIES_SPEC, MARCH)
    assert history(companies(), changes.rows) == [("a", EARLY, None, "4941"), ("b", EARLY, None, "4120")]
    assert changes.inserted == 2


def test_a_company_that_moves_sector_gets_a_new_interval_and_keeps_the_old_one():
    table = companies(("a", EARLY, None, "4941"), ("b", EARLY, None, "4120"))
    changes = state_changes(table, incoming(("a", "4321"), ("b", "4120")), COMPANIES_SPEC, APRIL)
    assert history(table, changes.rows) == [("a", EARLY, APRIL, "4941"), ("a", APRIL, None, "4321"),
                                            ("b", EARLY, None, "4120")]
    assert (changes.inserted, changes.closed, changes.updated) == (1, 1, 0)


def test_reloading_the_same_state_changes_nothing():
    table = companies(("a", EARLY, APRIL, "4941"), ("a", APRIL, None, "4321"))
    assert state_changes(table, incoming(("a", "4321")), COMPANIES_SPEC, APRIL).rows.num_rows == 0


def test_a_correction_on_the_same_as_of_date_replaces_that_interval():
    table = companies(("a", EARLY, APRIL, "4941"), ("a", APRIL, None, "4321"))
    changes = state_changes(table, incoming(("a", "4322")), COMPANIES_SPEC, APRIL)
    assert history(table, changes.rows) == [("a", EARLY, APRIL, "4941"), ("a", APRIL, None, "4322")]
    assert changes.updated == 1


def test_a_complete_file_closes_keys_it_lacks_and_a_returning_key_resumes_at_the_as_of_date():
    table = companies(("a", EARLY, None, "4941"), ("b", EARLY, None, "4120"))
    closed = state_changes(table, incoming(("a", "4941")), COMPANIES_SPEC, APRIL, close_missing=True)
    table = pa.Table.from_pylist([dict(zip(("company_key", "valid_from", "valid_to", "sbi_code"), r, strict=True))
                                  | {"werkzame_personen": 10} for r in history(table, closed.rows)],
                                 COMPANIES_SPEC.arrow_schema)
    assert history(table, closed.rows)[1] == ("b", EARLY, APRIL, "4120")
    back = state_changes(table, incoming(("a", "4941"), ("b", "4120")), COMPANIES_SPEC, MAY)
    assert [r[:3] for r in history(table, back.rows) if r[0] == "b"] == [("b", EARLY, APRIL), ("b", MAY, None)]


def test_a_delta_file_leaves_absent_keys_alone():
    table = companies(("a", EARLY, None, "4941"), ("b", EARLY, None, "4120"))
    assert state_changes(table, incoming(("a", "4941")), COMPANIES_SPEC, APRIL).rows.num_rows == 0


def test_an_older_load_than_the_state_it_would_change_is_refused():
    table = companies(("a", EARLY, APRIL, "4941"), ("a", APRIL, None, "4321"))
    with pytest.raises(OutOfOrderLoadError):
        state_changes(table, incoming(("a", "1111")), COMPANIES_SPEC, MARCH)


def owners(*rows: tuple) -> pa.Table:
    """(vehicle, valid_from, valid_to, company) rows of the owners table."""
    return pa.Table.from_pylist([{"vehicle_key": v, "valid_from": f, "valid_to": t, "eigenaar_type": "Bedrijf",
                                  "company_key": c, "postcode4": 3511} for v, f, t, c in rows],
                                OWNERS_SPEC.arrow_schema)


def intervals(existing: pa.Table, changes: pa.Table) -> list[tuple]:
    merged = {(r["vehicle_key"], r["valid_from"]): r for r in existing.to_pylist()}
    merged.update({(r["vehicle_key"], r["valid_from"]): r for r in changes.to_pylist()})
    return sorted((r["vehicle_key"], r["valid_from"], r["valid_to"], r["company_key"]) for r in merged.values())


def test_an_owner_change_within_a_month_gives_two_intervals_that_meet():
    sold = datetime(2026, 3, 13, 23, tzinfo=UTC)  # 14 March, local midnight
    file = owners(("v", MARCH, None, "A"), ("v", sold, None, "B"))
    changes = dated_changes(owners(), file, OWNERS_SPEC)
    assert intervals(owners(), changes.rows) == [("v", MARCH, sold, "A"), ("v", sold, None, "B")]
    assert changes.inserted == 2


def test_a_later_registration_closes_the_open_one_and_a_replayed_file_changes_nothing():
    table = owners(("v", MARCH, None, "A"))
    changes = dated_changes(table, owners(("v", MARCH, None, "A"), ("v", APRIL, None, "B")), OWNERS_SPEC)
    assert intervals(table, changes.rows) == [("v", MARCH, APRIL, "A"), ("v", APRIL, None, "B")]
    assert (changes.inserted, changes.updated) == (1, 1)
    after = owners(("v", MARCH, APRIL, "A"), ("v", APRIL, None, "B"))
    replay = owners(("v", MARCH, None, "A"), ("v", APRIL, None, "B"))
    assert dated_changes(after, replay, OWNERS_SPEC).rows.num_rows == 0


def test_a_stated_end_stays_when_the_next_registration_starts_later():
    exported = datetime(2026, 3, 20, tzinfo=UTC)
    table = owners(("v", MARCH, exported, "A"))
    changes = dated_changes(table, owners(("v", MAY, None, "B")), OWNERS_SPEC)
    assert intervals(table, changes.rows) == [("v", MARCH, exported, "A"), ("v", MAY, None, "B")]
