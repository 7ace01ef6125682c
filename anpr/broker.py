"""The embedded Apache Kafka broker (single-node KRaft, its own JVM) and the Kafka helpers every producer uses.

The broker runs from the jars infra/jvm/pom.xml pins (`.jvm/broker`), with its log and offsets under
one folder (`<data_dir>/broker`), so topics and the stream's checkpoints survive a restart. Listeners
are on loopback only; their ports are kept in that folder and reused while free. With a BrokerSecurity the
client listener is SASL_SSL with ACLs (anpr/broker_security.py), else PLAINTEXT.

The client helpers below take `client`, kafka-python's security keyword arguments
(anpr.kafka_security.client_config); None means those of the settings (get_settings()) for the
principal the helper acts as.
"""

from __future__ import annotations

import base64
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError, KafkaError, SaslAuthenticationFailedError, TopicAlreadyExistsError

from anpr.broker_security import BrokerSecurity, apply_users_and_acls, ensure_tls, format_arguments, sasl_ssl_properties
from anpr.jvm import jars, java_binary
from anpr.processes import pid_alive

if TYPE_CHECKING:
    from anpr.settings import KafkaPrincipalName, Settings

log = logging.getLogger(__name__)

Header = tuple[str, bytes]
_PR_SET_PDEATHSIG = 1
# A topic's segments close after an hour at most, so time-based retention can delete a record within an hour
# of its due time (anpr/settings.py RetentionSettings.kafka_hours).
SEGMENT_MS = 3_600_000


class BrokerError(RuntimeError):
    pass


class DeliveryError(RuntimeError):
    """Some messages were not acknowledged by the broker; the caller must not report success."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"broker did not listen on {host}:{port} within {timeout:.0f}s")


def kafka_version() -> str:
    """The Apache Kafka version of the broker jars, from the `kafka_2.13-<version>.jar` file name."""
    for jar in jars("broker"):
        if jar.name.startswith("kafka_2.13-"):
            return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
    raise BrokerError("no kafka_2.13 jar in .jvm/broker: run `make install`")


def random_cluster_id() -> str:
    """A Kafka Uuid in its base64url form, as `kafka-storage random-uuid` prints it (no JVM start)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka refuses ids that read as a command-line flag
            return text


def _die_with_parent() -> None:
    # The broker gets SIGTERM when the process that started it dies, even by SIGKILL: never left listening.
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def server_properties(log_dirs: Path, port: int, controller_port: int) -> dict[str, str]:
    """One node as broker and controller (static quorum of itself); internal topics at replication 1."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        # A static voter set lives in this file, not in the metadata log, so a new controller port on
        # restart is harmless.
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dirs),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Raw plates gone within 24 hours (the ingest contract): [retention] kafka_hours' default and hourly
        # segments for every topic made without its own; `anpr retention run` sets the configured hours.
        "log.retention.hours": "22",
        "log.roll.ms": str(SEGMENT_MS),
    }


def serving_broker(home: Path) -> str | None:
    """The address of a live broker serving the data directory's broker folder `home` (an `anpr broker`, or a
    command's embedded one), read from its pid file and server.properties; None when none is. A command without
    a configured broker uses it rather than start its own, which would stop it (EmbeddedBroker._stop_stale)."""
    live = _live_broker(home)
    if live is None:
        return None
    if live[1] is not None and not pid_alive(live[1]):
        return None  # its starter is gone (killed, the broker's shutdown hung): stale, for start() to stop
    try:
        lines = (home / "server.properties").read_text().splitlines()
    except OSError:
        return None
    advertised = next((line.split("=", 1)[1] for line in lines if line.startswith("advertised.listeners=")), "")
    return advertised.split("://", 1)[1].split(",")[0] if "://" in advertised else None


def _live_broker(home: Path) -> tuple[int, int | None] | None:
    """(pid, its starter's pid) of a live Apache Kafka process on the broker folder home, from its pid file; None
    when there is none."""
    try:
        pid, starter = _pids(home / "broker.pid")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if not pid_alive(pid) or b"kafka.Kafka" not in cmdline or str(home).encode() not in cmdline:
        return None
    return pid, starter


def _pids(pid_file: Path) -> tuple[int, int | None]:
    """The broker's pid and its starter's (None in a file from before the starter was recorded). Raises
    OSError or ValueError for a missing or unreadable file."""
    fields = pid_file.read_text().split()
    return int(fields[0]), int(fields[1]) if len(fields) > 1 else None


@dataclass
class EmbeddedBroker:
    """Apache Kafka on loopback, its log and offsets in `home`; a restart on the same folder keeps them."""

    home: Path
    port: int = 0
    heap: str = "512m"
    process: subprocess.Popen[bytes] | None = None
    cluster_id: str = ""
    controller_port: int = 0
    security: BrokerSecurity | None = None
    version: str = field(default="", init=False)
    attached: bool = field(default=False, init=False)  # a broker another command started serves home

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The PEM CA certificate clients verify this broker against (SASL_SSL only)."""
        return self.home / "tls" / "ca.pem"

    @property
    def admin_client(self) -> dict[str, object]:
        """kafka-python keyword arguments of the admin principal ({} when PLAINTEXT)."""
        if self.security is None:
            return {}
        from anpr.broker_security import admin_config

        return admin_config(self.security, self.ca_file)

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    def start(self, timeout: float = 60.0) -> EmbeddedBroker:
        java = java_binary()
        classpath = f"{jars('broker')[0].parent}/*"
        self.version = kafka_version()
        self.home.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        self._choose_ports()
        values = server_properties(self.home / "kraft", self.port, self.controller_port)
        if self.security is not None:
            tls = ensure_tls(self.home / "tls")
            values |= sasl_ssl_properties(self.port, self.controller_port, tls, self.security.admin)
        props = self.home / "server.properties"
        # It holds the keystore's and the admin's passwords when SASL_SSL: readable by its owner only.
        fd = os.open(props, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in values.items()))
        self._format(java, classpath, props)
        logfile = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
             "-cp", classpath, "kafka.Kafka", str(props)],
            stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        logfile.close()
        self._pid_file.write_text(f"{self.process.pid} {os.getpid()}\n")  # the broker, and who serves it
        try:
            self._ready(timeout)
        except BrokerError:
            self.stop()
            raise
        log.info("Apache Kafka %s (cluster %s) listening on %s", self.version, self.cluster_id, self.bootstrap)
        return self

    def _ready(self, timeout: float) -> None:
        """Wait until the broker answers metadata requests and, when SASL_SSL, set up its users and ACLs (the
        settings' passwords and prefixes, each time: they may have changed since the storage was formatted)."""
        wait_for_port("127.0.0.1", self.port, timeout)
        self._wait_for_metadata(timeout)
        if self.security is not None:
            try:
                apply_users_and_acls(self.bootstrap, self.security, self.ca_file)
            except (RuntimeError, KafkaError) as exc:
                raise BrokerError(f"Apache Kafka refused to set up its users and ACLs ({type(exc).__name__}: "
                                  f"{exc}); see {self.log_file}") from exc

    def attach(self, timeout: float = 60.0) -> int | None:
        """Use a live broker already serving home instead of starting one, which would stop it under whoever uses
        it: an `anpr broker`, or another command's own broker (which ends with that command). Waits until it
        answers, with this process's users and ACLs when SASL_SSL; stop() leaves it running. Returns its pid, None
        when none serves home. Raises BrokerError when its storage was formatted for the other security protocol
        or it does not answer."""
        address = serving_broker(self.home)
        if address is None:
            return None
        self._check_security_mode()
        self.port, self.version, self.attached = int(address.rsplit(":", 1)[1]), kafka_version(), True
        self.cluster_id = self._formatted_cluster_id() or ""
        self._ready(timeout)
        return _pids(self._pid_file)[0]

    def _formatted_cluster_id(self) -> str | None:
        meta = self.home / "kraft" / "meta.properties"
        if not meta.exists():
            return None
        return next((line.split("=", 1)[1].strip() for line in meta.read_text().splitlines()
                     if line.startswith("cluster.id=")), "")

    def _choose_ports(self) -> None:
        """The ports of the last run while they are free, so clients configured then still connect."""
        saved_file = self.home / "ports.json"
        saved = json.loads(saved_file.read_text()) if saved_file.exists() else {}
        if not self.port:
            last = int(saved.get("port", 0))
            self.port = last if last and port_is_free(last) else free_port()
        last_controller = int(saved.get("controller_port", 0))
        if last_controller and last_controller != self.port and port_is_free(last_controller):
            self.controller_port = last_controller
        else:
            self.controller_port = free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()
        saved_file.write_text(json.dumps({"port": self.port, "controller_port": self.controller_port}))

    def _format(self, java: str, classpath: str, props: Path) -> None:
        """Format the storage once, with the broker's own jars; later starts find it formatted."""
        formatted = self._formatted_cluster_id()
        if formatted is not None:
            self.cluster_id = formatted
            self._check_security_mode()
            return
        self.cluster_id = random_cluster_id()
        # The admin's SCRAM credential goes into the bootstrap metadata: without it no client could log
        # in to create the others. The arguments are not written to the log below.
        scram = format_arguments(self.security.admin) if self.security is not None else []
        result = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", self.cluster_id,
             "-c", str(props), "-g", *scram],
            capture_output=True, text=True, check=False,
        )
        with open(self.log_file, "a") as out:
            out.write(result.stdout + result.stderr)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BrokerError(f"formatting the broker's storage failed: {last[0]} (see {self.log_file})")
        (self.home / "security-mode").write_text("SASL_SSL" if self.security else "PLAINTEXT")

    def _check_security_mode(self) -> None:
        """A folder formatted without SCRAM users cannot serve SASL_SSL (no one could log in), and one
        formatted with them keeps its ACLs: say so in one line instead of a broker that refuses all."""
        marker = self.home / "security-mode"
        formatted = marker.read_text().strip() if marker.exists() else "PLAINTEXT"
        wanted = "SASL_SSL" if self.security else "PLAINTEXT"
        if formatted != wanted:
            raise BrokerError(f"the broker's storage in {self.home} was formatted for {formatted}, not {wanted}: "
                              "use another data directory (ANPR_DATA_DIR) or set kafka.security.protocol back")

    def _stop_stale(self) -> None:
        """A broker of an earlier run on this folder (its starter killed) is reported and stopped."""
        live = _live_broker(self.home)
        if live is not None:
            pid = live[0]
            log.warning("a broker of an earlier run (pid %d) still serves %s: stopping it", pid, self.home)
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)

    def _wait_for_metadata(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(f"Apache Kafka exited with {self.process.returncode}; see {self.log_file}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000,
                                         **self.admin_client)
                try:
                    if admin.describe_cluster().get("brokers"):
                        return
                finally:
                    admin.close()
            except KafkaError:
                pass
            time.sleep(0.2)
        raise BrokerError(f"Apache Kafka did not answer metadata requests within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        """A controlled shutdown (SIGTERM) that flushes the log; SIGKILL only if it hangs."""
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
        self._pid_file.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None and not self.attached else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def embedded_broker(settings: Settings, port: int = 0) -> EmbeddedBroker:
    """The embedded broker of the settings' data directory, SASL_SSL with ACLs when the settings say so."""
    from anpr.kafka_security import embedded_broker_security

    return EmbeddedBroker(settings.data_dir / "broker", port=port or settings.kafka.embedded_port,
                          heap=settings.kafka.embedded_heap, security=embedded_broker_security(settings))


class AuthenticationWatch(logging.Handler):
    """Whether kafka-python met a refused SASL login: its bootstrap retries those until it times out and
    then raises only KafkaTimeoutError, naming the refusal in its log records alone. dropped: a bootstrap
    connection was closed by the broker; after a refused login the broker closes the connection, and
    kafka-python now and then sees the close before the refusal (a whole suite run here saw only closes)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.refused = False
        self.dropped = False

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if any(isinstance(a, SaslAuthenticationFailedError) for a in args):
            self.refused = True
        if any(isinstance(a, KafkaConnectionError) for a in args):
            self.dropped = True


@contextmanager
def watching_authentication() -> Iterator[AuthenticationWatch]:
    watch = AuthenticationWatch()
    logger = logging.getLogger("kafka.net")
    logger.addHandler(watch)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)


def security_config(client: Mapping[str, object] | None, principal: KafkaPrincipalName) -> dict[str, object]:
    """`client` itself, or the settings' kafka-python security arguments for `principal`."""
    if client is not None:
        return dict(client)
    from anpr.kafka_security import client_config
    from anpr.settings import get_settings

    return client_config(get_settings(), principal)


def create_topics(bootstrap: str, partitions: dict[str, int], compacted: Iterable[str] = (),
                  configs: Mapping[str, Mapping[str, str]] | None = None,
                  client: Mapping[str, object] | None = None) -> None:
    """Create topics that do not exist yet, with per-topic configs (e.g. retention.ms) over the broker's
    defaults; existing ones are left as they are. Acts as the admin principal by default."""
    compacted, configs = set(compacted), configs or {}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **security_config(client, "admin"))
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(name, n, 1, topic_configs={**({"cleanup.policy": "compact"} if name in compacted else {}),
                                                **configs.get(name, {})})
            for name, n in partitions.items()
            if name not in existing
        ]
        if new:
            with suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
    finally:
        admin.close()


@contextmanager
def reliable_producer(bootstrap: str, client: Mapping[str, object] | None = None,
                      **config: object) -> Iterator[KafkaProducer]:
    """A KafkaProducer acknowledged by all in-sync replicas, as the producer principal by default."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", retries=5, linger_ms=5,
        max_in_flight_requests_per_connection=1, **security_config(client, "producer"), **config,
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


def high_watermarks(bootstrap: str, topic: str, timeout_ms: int = 10_000,
                    client: Mapping[str, object] | None = None) -> dict[int, int]:
    """End offset per partition of ``topic`` (empty when the topic does not exist), asked as the stream
    principal by default.

    Raises kafka.errors.KafkaError (KafkaTimeoutError) when the broker does not answer within timeout_ms.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=timeout_ms,
                             bootstrap_timeout_ms=timeout_ms, **security_config(client, "stream"))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return {}
        return {tp.partition: int(end) for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def topic_ids(bootstrap: str, topics: Iterable[str], timeout_ms: int = 10_000,
              client: Mapping[str, object] | None = None) -> dict[str, str | None]:
    """Kafka's topic id (a UUID, new each time a topic is created) per topic; None for a missing topic.

    A name can be reused after a delete or a broker reset, the id cannot: it tells whether offsets kept
    from an earlier run still name the same records. Raises kafka.errors.KafkaError when the broker
    does not answer within timeout_ms. Asked as the stream principal by default.
    """
    names = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms,
                             bootstrap_timeout_ms=timeout_ms, **security_config(client, "stream"))
    try:
        described = {t["name"]: t for t in admin.describe_topics(names)}
    finally:
        admin.close()
    return {name: (str(described[name]["topic_id"]) if name in described
                   and described[name]["error_code"] == 0 else None) for name in names}


def set_retention(bootstrap: str, topic: str, retention_ms: int, timeout_ms: int = 10_000,
                  client: Mapping[str, object] | None = None) -> bool:
    """Set a topic's time-based retention and hourly segments (SEGMENT_MS: the broker deletes only closed
    segments, and Kafka's default closes one after 7 days); the broker then deletes older log segments itself.
    An incremental config change: other overrides stay. Returns False when the topic does not exist.

    Raises kafka.errors.KafkaError when the broker refuses or does not answer within timeout_ms. Acts as
    the admin principal by default.
    """
    from kafka.admin import ConfigResource, ConfigResourceType

    config = security_config(client, "admin")
    if topic_ids(bootstrap, [topic], timeout_ms, client=config)[topic] is None:
        return False
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms,
                             bootstrap_timeout_ms=timeout_ms, **config)
    try:
        change = ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": str(retention_ms),
                                                                           "segment.ms": str(SEGMENT_MS)})
        admin.alter_configs([change])
    finally:
        admin.close()
    return True
