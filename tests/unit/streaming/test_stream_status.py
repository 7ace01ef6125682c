"""`anpr stream status` shows the out-of-scope count, still reads a metrics table from before it, and still
shows the last batches with the broker down."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyspark.sql import types as T

from anpr.broker import free_port
from anpr.delta_reader import DeltaReader
from anpr.lake import spark_to_arrow_schema
from anpr.stream_tables import STREAM_METRICS, STREAM_METRICS_SCHEMA
from streaming.status import StreamStatus, last_batches, render, stream_status

OLD_SCHEMA = T.StructType([f for f in STREAM_METRICS_SCHEMA.fields if f.name != "out_of_scope"])


def _row(batch: int, passages: int) -> dict[str, object]:
    return {"query_id": "q", "batch_id": batch, "finished_at": datetime(2026, 3, 10, 12, batch, tzinfo=UTC),
            "duration_ms": 5, "rows_in": 10, "valid": 9, "passages_written": passages, "duplicates": 0,
            "double_reads": 0, "ambiguous_plates": 0, "quarantined": 1, "quarantined_by_reason": "{}",
            "register_hit_rate": 0.5, "offsets": "{}", "out_of_scope": 9 - passages}


@pytest.mark.parametrize(("schema", "shown"), [(STREAM_METRICS_SCHEMA, True), (OLD_SCHEMA, False)])
def test_the_last_batches_show_out_of_scope_where_the_table_has_it(tmp_path, schema, shown):
    row = _row(0, passages=3)
    arrow = spark_to_arrow_schema(schema)
    write_deltalake(str(tmp_path / STREAM_METRICS), pa.Table.from_pylist(
        [{k: v for k, v in row.items() if k in arrow.names}], schema=arrow))
    frame = last_batches(DeltaReader(str(tmp_path)), 10)
    assert ("out_of_scope" in frame.columns) is shown and frame["passages_written"].tolist() == [3]
    text = render(StreamStatus({}, None, frame))
    assert ("out_of_scope" in text) is shown and "passages_written" in text


def test_with_the_broker_down_status_says_so_and_still_shows_the_last_batches(tmp_path):
    write_deltalake(str(tmp_path / STREAM_METRICS), pa.Table.from_pylist(
        [_row(0, passages=3), _row(1, passages=7)], schema=spark_to_arrow_schema(STREAM_METRICS_SCHEMA)))
    bootstrap = f"127.0.0.1:{free_port()}"  # bound then closed: nothing listens there
    started = time.monotonic()
    status = stream_status(DeltaReader(str(tmp_path)), tmp_path / "checkpoint", bootstrap, "observations",
                           timeout_ms=500)
    elapsed = time.monotonic() - started
    assert status.ends is None and status.lag is None and status.committed == {}
    assert status.last_batches["batch_id"].tolist() == [0, 1]
    assert status.last_batches["passages_written"].tolist() == [3, 7]
    lines = render(status).splitlines()
    assert lines[0].startswith(f"consumer lag: unknown (Kafka at {bootstrap} did not answer (")
    assert "do the address, CA file and password match it? `anpr broker` starts the embedded one" in lines[0]
    table = lines[1:]  # header, then one line per batch, oldest first
    assert "passages_written" in table[0] and "out_of_scope" in table[0]
    assert [line.split()[0] for line in table[1:]] == ["0", "1"]
    column = table[0].split().index("passages_written") + 1  # finished_at takes two words: date and time
    assert [line.split()[column] for line in table[1:]] == ["3", "7"]
    assert "50.0%" in table[1]
    assert elapsed < 5  # bounded by the client timeout, not a hang
