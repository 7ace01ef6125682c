"""Wiring of the ingest service from settings, and the suppliers' rejection counts from Delta."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.compute as pc

from anpr.delta_reader import DeltaReader, TableReader, make_reader
from anpr.feeds.publisher import Publisher
from anpr.idempotency import IdempotencyStore
from anpr.settings import CONF_DIR, Settings
from anpr.suppliers import SUPPLIERS_FILE, load_suppliers
from anpr.zones import load_municipalities
from api.ingest import IngestServices
from api.ingest_cameras import CameraRegistry
from api.ingest_models import RejectionCount
from streaming.tables import QUARANTINE


def idempotency_path(settings: Settings) -> Path:
    return settings.data_dir / "ingest" / "idempotency.sqlite"


def build_services(settings: Settings, bootstrap: str, conf_dir: Path = CONF_DIR,
                   lake: DeltaReader | None = None, publisher: Publisher | None = None) -> IngestServices:
    suppliers = load_suppliers(conf_dir / SUPPLIERS_FILE)
    if settings.profile == "cluster":
        suppliers.refuse_development_keys()
    lake = lake or make_reader(settings)
    k = settings.kafka
    publisher = publisher or Publisher(bootstrap, {k.observations_topic: k.partitions, k.cameras_topic: 1},
                                       compacted=[k.cameras_topic])
    return IngestServices(
        suppliers=suppliers, cameras=CameraRegistry(load_municipalities(conf_dir), suppliers, lake),
        publisher=publisher, idempotency=IdempotencyStore(idempotency_path(settings)), lake=lake,
        observations_topic=k.observations_topic, cameras_topic=k.cameras_topic,
    )


def rejection_counts(lake: TableReader | None, supplier: str, first: date, last: date) -> list[RejectionCount]:
    """Rejections of one supplier by ingest day and reason; only the reason and day columns are read."""
    if lake is None or not lake.exists(QUARANTINE):
        return []
    # Partition pruning on ingest_date; delta-rs cannot push a filter on its string_view columns.
    table = lake.read_arrow(QUARANTINE, columns=["ingest_date", "reason", "supplier"],
                            filters=[("ingest_date", ">=", first), ("ingest_date", "<=", last)])
    table = table.filter(pc.equal(table.column("supplier").cast("string"), supplier)).select(["ingest_date", "reason"])
    table = table.set_column(1, "reason", table.column("reason").cast("string"))
    if table.num_rows == 0:
        return []
    grouped = table.group_by(["ingest_date", "reason"]).aggregate([("reason", "count")])
    grouped = grouped.sort_by([("ingest_date", "ascending"), ("reason", "ascending")])
    days = pc.strftime(grouped.column("ingest_date").cast("timestamp[s]"), format="%Y-%m-%d").to_pylist()
    return [RejectionCount(day=d, reason=r, count=n) for d, r, n in
            zip(days, grouped.column("reason").to_pylist(), grouped.column("reason_count").to_pylist(), strict=True)]
