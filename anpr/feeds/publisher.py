"""A long-lived Kafka producer that reports success only when every message is acknowledged.

Shared by the ingest service (one producer for all requests) and the feed adapters. Any failure
(broker down, timeout, a rejected record) closes the producer and raises BrokerUnavailable; the next
call connects afresh and re-creates the topics, so a restarted broker (the embedded one loses its
topics with its memory) is picked up without restarting the caller. kafka-python's idempotent
producer cannot continue on a new broker anyway (its producer id is unknown there).

With a `transactional_id` each `publish` is one Kafka transaction: committed only after every record
was acknowledged, aborted on any failure, so a read_committed reader sees all of a call or none of it.
Transactions of one producer cannot overlap, so such a publisher runs one `publish` at a time. A new
producer with the same id (the next connection, or the process restarted) fences the previous one:
the broker aborts the transaction it left open and refuses its further writes. Two live processes
must therefore never share an id (each would keep fencing the other).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from kafka import KafkaProducer
from kafka.errors import AuthorizationError, KafkaError, KafkaTimeoutError, SaslAuthenticationFailedError

from anpr.broker import AuthenticationWatch, create_topics, security_config, watching_authentication
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


def _hint(exc: BaseException) -> str:
    if isinstance(exc, SaslAuthenticationFailedError):
        return " (the broker refused the username or password)"
    if isinstance(exc, AuthorizationError):
        return " (no Kafka ACL allows this principal to do that)"
    return ""


def end_transaction(producer: KafkaProducer, commit: bool, timeout_s: float) -> None:
    """Commit (or abort) the producer's open transaction, waiting at most `timeout_s` for the broker.

    KafkaProducer.commit_transaction/abort_transaction (kafka-python 3.0.12) wait for the EndTxn answer
    without a deadline (Java's producer bounds it by max.block.ms), which would hold a request forever
    while the broker is away; this is their body with a bounded wait. Raises KafkaTimeoutError when
    no answer came in time (the outcome is then unknown until the id is initialized again), and the
    transaction's own KafkaError (e.g. ProducerFencedError) when the broker refused.
    """
    manager = producer._transaction_manager  # noqa: SLF001 - see above: the public calls cannot time out
    result = manager.begin_commit() if commit else manager.begin_abort()
    producer._sender.wakeup()  # noqa: SLF001
    if not result.wait(timeout_ms=int(timeout_s * 1000)):
        raise KafkaTimeoutError(f"no answer to {'commit' if commit else 'abort'} within {timeout_s:.0f} s")


class Publisher:
    def __init__(self, bootstrap: str, topics: Mapping[str, int], compacted: Iterable[str] = (),
                 timeout_s: float = 10.0, chunk: int = CHUNK,
                 after_chunk: Callable[[int], None] | None = None, transactional_id: str | None = None,
                 client: Mapping[str, object] | None = None) -> None:
        self.bootstrap, self.topics, self.compacted = bootstrap, dict(topics), set(compacted)
        # kafka-python security arguments (anpr.kafka_security.client_config); None: the settings' producer.
        # With ACLs the producer cannot create topics: it finds them made by the admin (`anpr broker`,
        # infra/kafka/topics.sh) and create_topics then has nothing to create.
        self.client = security_config(client, "producer")
        self.timeout_s, self.chunk = timeout_s, chunk
        # Called with the messages acknowledged so far after each chunk: progress for feeds, and the
        # point where the broker-failure tests stop the broker or fail in the middle of a request.
        self.after_chunk = after_chunk
        self.transactional_id = transactional_id
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._transaction = threading.Lock()  # held for a whole transactional publish

    def _connect(self) -> KafkaProducer:
        login = AuthenticationWatch()
        with self._lock:
            if self._producer is None:
                ms = int(self.timeout_s * 1000)
                # A refused login is retried by kafka-python until its bootstrap times out: bound that.
                bounded = {"bootstrap_timeout_ms": ms, "request_timeout_ms": max(1000, ms // 2)} if self.client else {}
                try:
                    _probe(self.bootstrap, min(self.timeout_s, 2.0))
                    with watching_authentication() as login:
                        create_topics(self.bootstrap, self.topics, compacted=self.compacted,
                                      client={**self.client, **bounded})
                    self._producer = self._new_producer() if self.transactional_id is None \
                        else self._transactional_producer()
                except (KafkaError, OSError) as exc:
                    user = self.client.get("sasl_plain_username")
                    if login.refused:
                        raise BrokerUnavailable(f"Kafka at {self.bootstrap} refused the login of {user} "
                                                "(SASL authentication failed: wrong username or password)") from exc
                    if login.dropped and user:  # the port answered (_probe), then every login was cut off
                        raise BrokerUnavailable(f"Kafka at {self.bootstrap} closed every connection at the login of "
                                                f"{user} (SASL authentication failed, or TLS that does not match "
                                                "the listener: check the username, password and CA)") from exc
                    raise BrokerUnavailable(f"cannot reach Kafka at {self.bootstrap}: {type(exc).__name__}"
                                            f"{_hint(exc)}") from exc
            return self._producer

    def _new_producer(self) -> KafkaProducer:
        ms = int(self.timeout_s * 1000)
        return KafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", retries=5, linger_ms=5,
            max_in_flight_requests_per_connection=1, request_timeout_ms=max(1000, ms // 2),
            delivery_timeout_ms=ms + 5, max_block_ms=ms, bootstrap_timeout_ms=ms,
            reconnect_backoff_max_ms=1000, transactional_id=self.transactional_id, **self.client,
        )

    def _transactional_producer(self) -> KafkaProducer:
        """A producer with its id registered (init_transactions), which fences an earlier producer of
        the id; the broker aborts the transaction that one left open.

        kafka-python 3.0.12 turns a transactional request whose connection closed under it (`Cancelled`,
        a retriable error) into a fatal error of the producer, seen at times on the first request after
        a broker start; so a failure is retried on a new producer until timeout_s has passed.
        """
        deadline = time.monotonic() + self.timeout_s
        while True:
            producer = self._new_producer()
            try:
                producer.init_transactions()  # waits at most max_block_ms
                return producer
            except KafkaError as exc:
                producer.close(timeout=0)
                if time.monotonic() >= deadline:
                    raise
                log.info("registering the transactional id failed (%s); trying a new producer", type(exc).__name__)

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
        else the producer's clock. With a transactional_id all records are one transaction, committed
        before this returns and aborted when anything fails (then nothing of them reaches a
        read_committed reader); BrokerUnavailable also when the commit is refused or unanswered.
        """
        if self.transactional_id is None:
            return self._publish(topic, records, timestamps_ms, transactional=False)
        with self._transaction:
            return self._publish(topic, records, timestamps_ms, transactional=True)

    def _publish(self, topic: str, records: Iterable[Record], timestamps_ms: Sequence[int] | None,
                 transactional: bool) -> int:
        producer = self._connect()
        acked = 0
        deadline = time.monotonic() + self.timeout_s
        try:
            if transactional:
                producer.begin_transaction()
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
            if transactional:
                end_transaction(producer, commit=True, timeout_s=self.timeout_s)
        except BaseException as exc:
            if transactional:
                self._abort(producer)
            if not isinstance(exc, KafkaError):
                raise
            self._reset(producer)
            # The text of a Kafka error never holds message contents; the type and counts suffice.
            log.warning("Kafka failed after %d acknowledged messages to %s: %s", acked, topic, type(exc).__name__)
            raise BrokerUnavailable(f"Kafka did not acknowledge every message ({acked} acknowledged): "
                                    f"{type(exc).__name__}{_hint(exc)}") from exc
        return acked

    def _abort(self, producer: KafkaProducer) -> None:
        """Abort the open transaction; if the broker cannot be told, drop the producer: the next one
        initializes the same id, and the broker aborts what this one left open."""
        try:
            end_transaction(producer, commit=False, timeout_s=min(self.timeout_s, 5.0))
        except KafkaError as exc:
            log.warning("aborting a transaction failed (%s); the next connection fences it", type(exc).__name__)
            self._reset(producer)

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
