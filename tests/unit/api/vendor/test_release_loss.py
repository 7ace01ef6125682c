"""What /v1/releases says about information loss: cell counts of the vendor's municipalities only."""

from __future__ import annotations

from api.vendor.contracts import parse_contracts
from api.vendor.routes.releases import information_loss, release_json
from api.vendor.security import Principal


def release(per_zone: dict) -> dict:
    return {"release_id": "2026-10-x", "month": "2026-10", "created_at": "2026-11-08T02:00:00+00:00",
            "tables": ["t4_2_dagdeel"], "config_hash": "abc", "source_versions": {"passages": 3},
            "protection": {"audit": {"per_zone": per_zone}}}


ZONES = {
    "GM0344/GM0344-ZE1": {"tables": {"t4_2_dagdeel": {"cells": 40, "primary": 6, "secondary": 4,
                                                      "passages": 900, "passages_suppressed": 37}}},
    "GM0363/GM0363-ZE1": {"tables": {"t4_2_dagdeel": {"cells": 60, "primary": 1, "secondary": 2,
                                                      "passages": 5000, "passages_suppressed": 11}}},
}


def test_only_the_vendors_municipalities_count_and_only_cells_are_served():
    assert information_loss(release(ZONES), {"GM0344"}) == {
        "t4_2_dagdeel": {"cells": 40, "cellsSuppressed": 10, "cellsSuppressedShare": 0.25}}
    both = information_loss(release(ZONES), {"GM0344", "GM0363"})["t4_2_dagdeel"]
    assert both == {"cells": 100, "cellsSuppressed": 13, "cellsSuppressedShare": 0.13}
    contract = parse_contracts('[vendors.v]\nmunicipalities = ["GM0344", "GM0363"]\n')["v"]
    assert "passages" not in str(release_json(release(ZONES), Principal("v", contract))["informationLoss"])


def test_a_release_without_an_audit_summary_reports_no_tables():
    assert information_loss(release({}), {"GM0344"}) == {}
    assert information_loss({"protection": {}}, {"GM0344"}) == {}


def test_a_release_expires_export_days_after_it_was_created():
    contracts = parse_contracts('[defaults]\nexport_days = 30\n[vendors.a]\nmunicipalities = ["GM0344"]\n'
                                '[vendors.b]\nmunicipalities = ["GM0344"]\nexport_days = 7\n')
    assert contracts["a"].expires_at("2026-11-08T02:00:00+00:00") == "2026-12-08T02:00:00+00:00"
    assert release_json(release(ZONES), Principal("b", contracts["b"]))["expiresAt"] == "2026-11-15T02:00:00+00:00"
    assert parse_contracts('[vendors.c]\nmunicipalities = ["GM0344"]\n')["c"].export_days == 90  # the default


def test_a_release_says_which_of_the_vendors_tables_it_publishes_recoded():
    r = release(ZONES)
    r["tables"] = ["t4_2_dagdeel", "t4_6_bezoeker_sector", "no_such_table"]
    r["protection"]["recoded"] = {"t4_6_bezoeker_sector": {"SBI08GroepCode": "sectie"},
                                  "no_such_table": {"SBI08GroepCode": "sectie"}}  # served by no catalogue
    contract = parse_contracts('[vendors.v]\nmunicipalities = ["GM0344"]\n')["v"]
    recoded = release_json(r, Principal("v", contract))["recoded"]
    assert recoded == {"t4_6_bezoeker_sector": {"SBI08GroepCode": "sectie"}}
    assert release_json(release(ZONES), Principal("v", contract))["recoded"] == {}
