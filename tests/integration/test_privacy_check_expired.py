"""`anpr privacy check` on real Delta tables and a real data directory: a data directory where retention
was skipped reports each expired item; after `anpr retention run` it reports none of retention's."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anpr.register_tables import VEHICLES
from jobs.privacy_check import expired, on_disk
from jobs.retention import run_retention
from streaming.job import QUERY_NAME
from tests.integration.test_retention import NOW, lake_with_history, table  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def write(path: Path, age_days: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    os.utime(path, ((NOW - timedelta(days=age_days)).timestamp(),) * 2)


def test_expired_items_are_reported_until_retention_runs(lake_with_history):  # noqa: F811
    local, lake = lake_with_history
    assert expired(lake, local, NOW) == [
        {"dataset": "quarantine", "rule": "ingest_date < 2026-11-01", "rows": 1},
        {"dataset": "passages", "rule": "event months 2026-08", "rows": 3},
        {"dataset": "stream_metrics", "rule": "finished_at < 2025-10-31 12:00:00", "rows": 1}]
    run_retention(lake, local, now=NOW)
    assert expired(lake, local, NOW) == []


def test_files_left_on_disk_are_reported_until_retention_runs(lake_with_history):  # noqa: F811
    from jobs.keys import destroy

    local, lake = lake_with_history
    data = local.data_dir
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lake.append(VEHICLES, table(lake.state(VEHICLES).schema, [
        {"vehicle_key": key, "valid_from": start, "voertuig_type": "Bestelauto"} for key in ("erased-key", "kept")]))
    lake.delete(VEHICLES, "vehicle_key = 'erased-key'")  # an erasure; its file stays until VACUUM
    kraft = data / "broker" / "kraft" / "anpr.observations-0"
    for offset, age in ((0, 12), (120, 9), (300, 9)):  # 300 is the active segment
        write(kraft / f"{offset:020d}.log", age)
    for batch in range(102):  # a stopped stream: Spark kept more than its 100 batches
        for kind in ("offsets", "commits"):
            write(data / "checkpoints" / QUERY_NAME / kind / str(batch), 20)
    write(data / "logs" / "anpr.log.1", 31)
    write(data / "logs" / "anpr.log", 0)
    pepper = local.keyring().create()  # rotated out, and no kept passage was made with it
    os.utime(pepper.path, ((NOW - timedelta(days=2)).timestamp(),) * 2)

    found = {i["where"]: i for i in on_disk(lake, local, NOW)}
    assert {w: (i["files"], i["remove"]) for w, i in found.items()} == {
        "lake/register/vehicles": (1, "anpr retention run"),
        "broker/kraft": (2, "the broker, by the topic's retention.ms (set by anpr retention run): start it "
                            "with anpr broker"),
        "checkpoints": (4, "anpr retention run"),
        "logs": (1, "anpr retention run"),
        "secrets/keyring": (1, f"anpr keys destroy {pepper.id}")}
    assert found["broker/kraft"]["since"] == NOW - timedelta(days=12)
    assert found["logs"]["since"] == NOW - timedelta(days=31) and found["logs"]["bytes"] == 10
    assert found["checkpoints"]["what"] == "stream checkpoint batches before the newest 100, older than 22 h"
    assert "erased-key" not in str(found)

    outcomes = {o.dataset: o.files_removed for o in run_retention(lake, local, now=NOW)}
    assert (outcomes["stream checkpoint"], outcomes["logs"]) == (4, 1)
    assert not (data / "logs" / "anpr.log.1").exists() and (data / "logs" / "anpr.log").exists()
    assert not (data / "checkpoints" / QUERY_NAME / "offsets" / "1").exists()
    assert (data / "checkpoints" / QUERY_NAME / "offsets" / "2").exists()
    # What retention owns is gone. Kafka segments go when the broker applies retention.ms (no broker
    # here), and a pepper when the operator destroys it.
    assert [i["where"] for i in on_disk(lake, local, NOW)] == ["broker/kraft", "secrets/keyring"]
    destroy(lake, local, pepper.id)
    assert [i["where"] for i in on_disk(lake, local, NOW)] == ["broker/kraft"]
