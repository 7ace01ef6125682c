"""`anpr stream status` shows the out-of-scope count, and still reads a metrics table from before it."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyspark.sql import types as T

from anpr.delta_reader import DeltaReader
from anpr.lake import spark_to_arrow_schema
from anpr.stream_tables import STREAM_METRICS, STREAM_METRICS_SCHEMA
from streaming.status import StreamStatus, last_batches, render

OLD_SCHEMA = T.StructType([f for f in STREAM_METRICS_SCHEMA.fields if f.name != "out_of_scope"])


@pytest.mark.parametrize(("schema", "shown"), [(STREAM_METRICS_SCHEMA, True), (OLD_SCHEMA, False)])
def test_the_last_batches_show_out_of_scope_where_the_table_has_it(tmp_path, schema, shown):
    row = {"query_id": "q", "batch_id": 0, "finished_at": datetime(2026, 3, 10, tzinfo=UTC), "duration_ms": 5,
           "rows_in": 10, "valid": 9, "passages_written": 3, "duplicates": 0, "double_reads": 0,
           "ambiguous_plates": 0, "quarantined": 1, "quarantined_by_reason": "{}", "register_hit_rate": 0.5,
           "offsets": "{}", "out_of_scope": 6}
    arrow = spark_to_arrow_schema(schema)
    write_deltalake(str(tmp_path / STREAM_METRICS), pa.Table.from_pylist(
        [{k: v for k, v in row.items() if k in arrow.names}], schema=arrow))
    frame = last_batches(DeltaReader(str(tmp_path)), 10)
    assert ("out_of_scope" in frame.columns) is shown and frame["passages_written"].tolist() == [3]
    text = render(StreamStatus({}, None, frame))
    assert ("out_of_scope" in text) is shown and "passages_written" in text
