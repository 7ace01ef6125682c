"""A camera registered through the ingest endpoint while the stream runs: its reads are not quarantined."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from anpr.feeds.camera_table import CAMERAS, CAMERAS_SCHEMA
from anpr.lake import Lake
from anpr.stream_tables import PASSAGES, QUARANTINE
from streaming import pipeline as P
from streaming.cameras import cameras_version
from streaming.job import ensure_tables
from streaming.sink import CamerasChanged, PassageSink
from tests.unit.streaming.test_pipeline import PEPPER, obs, prepared

UNREGISTERED = "99999999-2222-4333-8444-555555555555"  # no camera of the unit tests' cameras frame


def test_a_batch_meeting_cameras_registered_since_its_query_began_restarts_it_uncommitted(spark, settings,
                                                                                         tmp_path):
    own = settings.model_copy(update={"data_dir": tmp_path, "pepper": SecretStr(PEPPER.decode())})
    lake = Lake(str(tmp_path / "lake"), spark)
    ensure_tables(lake)
    assert cameras_version(lake) is None and cameras_version(None) is None
    lake.create(CAMERAS, CAMERAS_SCHEMA)  # the ingest endpoint's first registration makes the table
    registered = cameras_version(lake)
    assert registered is not None
    batch = P.validate(prepared(spark, [json.dumps(obs(1, camera_id=UNREGISTERED)).encode(),
                                        json.dumps(obs(2)).encode()]), 5, 7, 0.6)
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "unit-query")
    try:
        began_before = PassageSink.open(spark, own, lake, pepper=None, cameras_at=None)
        with pytest.raises(CamerasChanged, match=rf"1 reads of cameras unknown .* version None -> {registered}"):
            began_before(batch, 0)
        assert began_before.cameras_now == registered
        assert lake.read_arrow(PASSAGES).num_rows == 0 and lake.read_arrow(QUARANTINE).num_rows == 0
        # The restarted query knows this version: a camera still unknown is quarantined, as before.
        reports = []
        PassageSink.open(spark, own, lake, reports.append, cameras_at=registered)(batch, 0)
        assert [r.quarantined for r in reports] == [{P.Reason.UNKNOWN_CAMERA: 1}]
        assert reports[0].passages_written == 1
    finally:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)
