"""`anpr privacy check` on real Delta tables: a data directory where retention was skipped reports each
expired item; after `anpr retention run` it reports none."""

from __future__ import annotations

import pytest

from jobs.privacy_check import expired
from jobs.retention import run_retention
from tests.integration.test_retention import NOW, lake_with_history  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def test_expired_items_are_reported_until_retention_runs(lake_with_history):  # noqa: F811
    local, lake = lake_with_history
    assert expired(lake, local, NOW) == [
        {"dataset": "quarantine", "rule": "ingest_date < 2026-11-01", "rows": 1},
        {"dataset": "passages", "rule": "event months 2026-08", "rows": 3},
        {"dataset": "stream_metrics", "rule": "finished_at < 2025-10-31 12:00:00", "rows": 1}]
    run_retention(lake, local, now=NOW)
    assert expired(lake, local, NOW) == []
