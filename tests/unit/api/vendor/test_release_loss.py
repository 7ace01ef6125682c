"""What /v1/releases says about information loss: cell counts of the vendor's municipalities only."""

from __future__ import annotations

from api.vendor.routes.releases import information_loss, release_json


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
    assert "passages" not in str(release_json(release(ZONES), {"GM0344", "GM0363"})["informationLoss"])


def test_a_release_without_an_audit_summary_reports_no_tables():
    assert information_loss(release({}), {"GM0344"}) == {}
    assert information_loss({"protection": {}}, {"GM0344"}) == {}
