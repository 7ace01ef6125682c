"""A long-lived Kafka producer that reports success only when every message is acknowledged.

Shared by the ingest service (one producer for all requests) and the feed adapters. Any failure
(broker down, timeout, a rejected record) closes the producer and raises BrokerUnavailable; the next
call connects afresh and re-creates the topics, so a restarted broker (the embedded one loses its
topics with its memory) is picked up without restarting the caller. kafka-python's idempotent
producer cannot continue on a new broker anyway (its producer id is unknown there).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from anpr.broker import create_topics
from anpr.feeds.messages import Record

log = logging.getLogger(__name__)
CHUNK = 5_000  # messages in flight before waiting for their acknowledgements


class BrokerUnavailable(RuntimeError):
    """Not every message was acknowledged; the caller must not report success."""


def _probe(bootstrap: str, timeout: float) -> None:
    """Fail fast when no bootstrap server listens: the admin client would wait 30 s to say so."""
    last: OSError | None = None
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except OSError as exc:
            last = exc
    raise last or OSError("no bootstrap server given")


class Publisher:
    def __init__(self, bootstrap: str, topics: Mapping[str, int], compacted: Iterable[str] = (),
                 timeout_s: float = 10.0, chunk: int = CHUNK,
                 after_chunk: Callable[[int], None] | None = None) -> None:
        self.bootstrap, self.topics, self.compacted = bootstrap, dict(topics), set(compacted)
        self.timeout_s, self.chunk = timeout_s, chunk
        # Called with the messages acknowledged so far after each chunk: progress for feeds, and the
        # point where the broker-failure test stops the broker in the middle of a request.
        self.after_chunk = after_chunk
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _connect(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                ms = int(self.timeout_s * 1000)
                try:
                    _probe(self.bootstrap, min(self.timeout_s, 2.0))
                    create_topics(self.bootstrap, self.topics, compacted=self.compacted)
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.bootstrap, acks="all", retries=5, linger_ms=5,
                        max_in_flight_requests_per_connection=1, request_timeout_ms=max(1000, ms // 2),
                        delivery_timeout_ms=ms + 5, max_block_ms=ms, bootstrap_timeout_ms=ms,
                        reconnect_backoff_max_ms=1000,
                    )
                except (KafkaError, OSError) as exc:
                    raise BrokerUnavailable(f"cannot reach Kafka at {self.bootstrap}: {type(exc).__name__}") from exc
            return self._producer

    def _reset(self, producer: KafkaProducer) -> None:
        with self._lock:
            if self._producer is producer:
                self._producer = None
        try:
            producer.close(timeout=0)
        except Exception:  # noqa: BLE001 - closing a broken producer must not mask the original failure
            log.debug("closing a failed producer raised", exc_info=True)

    def publish(self, topic: str, records: Iterable[Record], timestamps_ms: Sequence[int] | None = None) -> int:
        """Send and wait for every acknowledgement; BrokerUnavailable if any is missing.

        With timestamps_ms the records carry those Kafka timestamps (a replay in simulated time),
        else the producer's clock.
        """
        producer = self._connect()
        acked = 0
        deadline = time.monotonic() + self.timeout_s
        try:
            pending = []
            for i, (key, value, headers) in enumerate(records):
                stamp = None if timestamps_ms is None else timestamps_ms[i]
                pending.append(producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=stamp))
                if len(pending) >= self.chunk:
                    acked += self._wait(pending, deadline)
                    deadline = time.monotonic() + self.timeout_s
                    pending = []
                    if self.after_chunk is not None:
                        self.after_chunk(acked)
            acked += self._wait(pending, deadline)
        except KafkaError as exc:
            self._reset(producer)
            # The text of a Kafka error never holds message contents; the type and counts suffice.
            log.warning("Kafka failed after %d acknowledged messages to %s: %s", acked, topic, type(exc).__name__)
            raise BrokerUnavailable(f"Kafka did not acknowledge every message ({acked} acknowledged): "
                                    f"{type(exc).__name__}") from exc
        return acked

    @staticmethod
    def _wait(futures: list, deadline: float) -> int:  # noqa: ANN001 - kafka-python futures
        for future in futures:
            future.get(timeout=max(0.1, deadline - time.monotonic()))
        return len(futures)

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=5)
