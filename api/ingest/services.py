"""What the ingest service works with (suppliers, cameras, Kafka, idempotency, the lake), and their
wiring from settings."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from anpr.contract import MAX_BODY_BYTES
from anpr.delta_reader import DeltaReader, make_reader
from anpr.feeds.publisher import Publisher
from anpr.idempotency import IdempotencyStore, store_path
from anpr.kafka_security import client_config
from anpr.settings import CONF_DIR, Settings
from anpr.suppliers import SUPPLIERS_FILE, SupplierRegistry, load_suppliers
from anpr.zones import load_municipalities
from api.ingest.cameras import CameraRegistry
from api.ingest.digests import Digests


@dataclass
class IngestServices:
    """The ingest app's collaborators; tests build one by hand, `build_services` from settings."""

    suppliers: SupplierRegistry
    cameras: CameraRegistry
    publisher: Publisher
    idempotency: IdempotencyStore
    lake: DeltaReader | None  # the quarantine table is read from it; None: no rejection counts
    observations_topic: str = "anpr.observations"
    cameras_topic: str = "anpr.cameras"
    max_body_bytes: int = MAX_BODY_BYTES
    # What idempotency keys, file names and bodies are stored as. build_services keeps its secret under the
    # data directory; this default forgets every key when the process ends.
    digests: Digests = field(default_factory=Digests.ephemeral)


def idempotency_path(settings: Settings) -> Path:
    return store_path(settings.data_dir)


def transactional_id(settings: Settings, port: int) -> str:
    """The ingest process's Kafka transactional.id: `kafka.ingest_transactional_id`, else
    `anpr-ingest-<host name>-<port>`.

    Each request is one transaction under this id (anpr.feeds.publisher). It must be unique per live
    ingest process (two processes on one id keep fencing each other: 503s) and stable across a
    restart: the restarted process's first connection then fences the old one and the broker aborts
    the transaction it left open at once. Under a new id that open transaction is aborted only after
    its timeout (60 s, kafka-python's transaction_timeout_ms), and read_committed readers (the stream)
    wait for it on its partitions until then. Host and port satisfy both on a host with a fixed name;
    where host names change per start (containers without a stable name) set the setting per instance.
    """
    return settings.kafka.ingest_transactional_id or f"anpr-ingest-{socket.gethostname()}-{port}"


def build_services(settings: Settings, bootstrap: str, conf_dir: Path = CONF_DIR,
                   lake: DeltaReader | None = None, publisher: Publisher | None = None,
                   port: int | None = None) -> IngestServices:
    """Services from settings and conf/ (suppliers, municipalities); `bootstrap` is Kafka's host:port,
    `port` the service's own (it names the Kafka transactions: `transactional_id`), default
    `api.ingest_port`. The cluster profile refuses the development keys of conf/suppliers.toml
    (ValueError)."""
    suppliers = load_suppliers(conf_dir / SUPPLIERS_FILE)
    if settings.profile == "cluster":
        suppliers.refuse_development_keys()
    lake = lake or make_reader(settings)
    k = settings.kafka
    publisher = publisher or Publisher(bootstrap, {k.observations_topic: k.partitions, k.cameras_topic: 1},
                                       compacted=[k.cameras_topic], client=client_config(settings, "producer"),
                                       transactional_id=transactional_id(settings, port or settings.api.ingest_port))
    return IngestServices(
        suppliers=suppliers, cameras=CameraRegistry(load_municipalities(conf_dir), suppliers, lake),
        publisher=publisher, idempotency=IdempotencyStore(idempotency_path(settings)), lake=lake,
        observations_topic=k.observations_topic, cameras_topic=k.cameras_topic,
        digests=Digests.of_data_dir(settings.data_dir),
    )
