"""The suppliers' rejection counts, read from the stream's quarantine table in Delta."""

from __future__ import annotations

from datetime import date

import pyarrow.compute as pc

from anpr.contract import is_uuid
from anpr.delta_reader import TableReader
from anpr.stream_tables import QUARANTINE
from api.ingest.models import MAX_REJECTED_IDS, RejectionCount


def rejection_counts(lake: TableReader | None, supplier: str, first: date, last: date) -> list[RejectionCount]:
    """Rejections of one supplier by ingest day (UTC, `first`..`last` inclusive) and reason code, sorted
    by both, each with up to MAX_REJECTED_IDS of its observation ids; empty without a lake or quarantine table.
    Only the reason, day, supplier and id columns are read (the quarantine holds no plate)."""
    if lake is None or not lake.exists(QUARANTINE):
        return []
    # Partition pruning on ingest_date; delta-rs cannot push a filter on its string_view columns.
    table = lake.read_arrow(QUARANTINE, columns=["ingest_date", "reason", "supplier", "observation_id"],
                            filters=[("ingest_date", ">=", first), ("ingest_date", "<=", last)])
    table = table.filter(pc.equal(table.column("supplier").cast("string"), supplier))
    table = table.select(["ingest_date", "reason", "observation_id"])
    table = table.set_column(1, "reason", table.column("reason").cast("string"))
    table = table.set_column(2, "observation_id", table.column("observation_id").cast("string"))
    if table.num_rows == 0:
        return []
    grouped = table.group_by(["ingest_date", "reason"]).aggregate([("reason", "count"), ("observation_id", "list")])
    grouped = grouped.sort_by([("ingest_date", "ascending"), ("reason", "ascending")])
    days = pc.strftime(grouped.column("ingest_date").cast("timestamp[s]"), format="%Y-%m-%d").to_pylist()
    # a re-delivered id once; only uuids, as the stream now keeps (rows from before it may hold a supplier's
    # id built from a plate)
    ids = [sorted({i for i in found if i is not None and is_uuid(i)})[:MAX_REJECTED_IDS]
           for found in grouped.column("observation_id_list").to_pylist()]
    return [RejectionCount(day=d, reason=r, count=n, observation_ids=i) for d, r, n, i in
            zip(days, grouped.column("reason").to_pylist(), grouped.column("reason_count").to_pylist(), ids,
                strict=True)]
