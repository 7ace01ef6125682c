"""One typed settings object: conf/base.toml, then conf/<profile>.toml, then ANPR_* environment."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from anpr.keyring import Keyring

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = Path(os.environ.get("ANPR_CONF_DIR", PROJECT_ROOT / "conf"))
DEV_SECRET_PREFIX = "dev-"
# Under the data directory: the ingest service's key for digests of supplier text (api/ingest/digests.py), listed
# by `anpr privacy check` with the other credentials.
INGEST_DIGEST_KEY = Path("secrets") / "ingest" / "digest.key"


KafkaPrincipalName = Literal["producer", "stream", "admin"]
KAFKA_PRINCIPALS: tuple[KafkaPrincipalName, ...] = ("producer", "stream", "admin")


class KafkaPrincipal(BaseModel):
    """One SCRAM identity. The password comes from the environment or a secret file, never from conf/:
    ANPR_KAFKA__SECURITY__<PRINCIPAL>__PASSWORD(_FILE). In the local profile a missing one is made per
    data directory (<data_dir>/secrets/kafka/<username>, mode 0600) by anpr/kafka_security.py."""

    username: str
    password: SecretStr | None = None
    password_file: Path | None = None


# One class per principal for its default username: conf/ and the environment replace a nested table
# as a whole, so a password file given alone keeps the usual name.
class ProducerPrincipal(KafkaPrincipal):
    username: str = "anpr-ingest"


class StreamPrincipal(KafkaPrincipal):
    username: str = "anpr-stream"


class AdminPrincipal(KafkaPrincipal):
    username: str = "anpr-admin"


class KafkaSecuritySettings(BaseModel):
    """How clients authenticate to Kafka and who may do what there (anpr/kafka_security.py).

    PLAINTEXT: no TLS, no authentication (loopback development only; the cluster profile refuses it).
    SASL_SSL: TLS to the broker (verified against `ca_file`) and SCRAM-SHA-512 per principal:
    `producer` (the ingest service and the feed tools: write the observation and camera topics),
    `stream` (the Spark stream: read them), `admin` (topics, their retention, users and ACLs).
    """

    protocol: Literal["PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    # PEM file of the CA that signed the brokers' certificates; None: the embedded broker's own CA
    # (<data_dir>/broker/tls/ca.pem), made when it starts.
    ca_file: Path | None = None
    producer: ProducerPrincipal = Field(default_factory=lambda: ProducerPrincipal())
    stream: StreamPrincipal = Field(default_factory=lambda: StreamPrincipal())
    admin: AdminPrincipal = Field(default_factory=lambda: AdminPrincipal())
    # The producer principal may use transactional ids with this prefix only (the ingest service's
    # default ids are anpr-ingest-<host>-<port>).
    transactional_id_prefix: str = "anpr-ingest-"

    def principal(self, name: KafkaPrincipalName) -> KafkaPrincipal:
        return {"producer": self.producer, "stream": self.stream, "admin": self.admin}[name]


class KafkaSettings(BaseModel):
    bootstrap_servers: str | None = None  # None: start the embedded broker
    embedded_port: int = 0  # 0: the port of the last run while free, else a free loopback port
    embedded_heap: str = "512m"  # the embedded broker's JVM heap
    observations_topic: str = "anpr.observations"
    cameras_topic: str = "anpr.cameras"
    partitions: int = 4
    # Spark's kafka source: records per micro-batch at most (admission control), where a new query
    # starts, and whether offsets lost to retention or a reset topic stop the query (true) or are skipped.
    max_offsets_per_trigger: int = Field(default=500_000, ge=1)
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    fail_on_data_loss: bool = True
    # Spark's kafka source reads only committed records (`kafka.isolation.level`): an ingest request's
    # transaction aborted after a broker failure is never read. read_uncommitted would read it too.
    isolation_level: Literal["read_committed", "read_uncommitted"] = "read_committed"
    # Bytes one fetch of the stream's Kafka consumers brings per partition, and in all (the consumer's
    # max.partition.fetch.bytes, default 1 MiB, and fetch.max.bytes): a 500,000-record micro-batch read in
    # 1 MiB fetches took 1.6-2.0 s on 2 cores, in 16 MiB ones 1.3 s (docs/benchmarks.md, pipeline).
    fetch_partition_bytes: int = Field(default=16 << 20, ge=1 << 20)
    fetch_max_bytes: int = Field(default=64 << 20, ge=1 << 20)
    # How long the stream waits for a broker that does not answer before it stops with a one-line cause
    # (streaming/source.py: Spark's kafka source asks for offsets in tries of a third of it each).
    broker_wait_seconds: float = Field(default=180.0, ge=3)
    # The ingest service's Kafka transactional.id (one per ingest process; stable across its restarts
    # so the new process fences the old one). None: anpr-ingest-<host name>-<port>.
    ingest_transactional_id: str | None = None
    security: KafkaSecuritySettings = Field(default_factory=KafkaSecuritySettings)


class SparkSettings(BaseModel):
    master: str = "local[*]"
    app_name: str = "anpr"
    shuffle_partitions: int = 4
    ui_enabled: bool = False
    driver_memory: str = "4g"
    log_level: str = "ERROR"
    extra: dict[str, str] = Field(default_factory=dict)


class LakeSettings(BaseModel):
    root: str | None = None  # None: <data_dir>/lake
    checkpoint_every: int = 50  # commits between Delta checkpoints


class StreamSettings(BaseModel):
    trigger_seconds: float = 2.0
    # Tasks in which Delta rebuilds a table's state from its log while the stream runs
    # (spark.databricks.delta.snapshotPartitions; elsewhere spark.shuffle_partitions). Every idempotent write
    # of a micro-batch rebuilds its table's: on one machine a single task each leaves the cores to the batch
    # (freshness, docs/benchmarks.md); the cluster profile sets more.
    delta_snapshot_partitions: int = Field(default=1, ge=1)
    idle_batches_to_stop: int = 2
    future_tolerance_minutes: int = 5
    max_lateness_days: int = 7
    min_read_confidence: float = 0.6
    # How often (seconds) a running stream looks for a newer register load; 0 checks before every batch.
    register_check_seconds: float = Field(default=60.0, ge=0)


class PassageSettings(BaseModel):
    # Reads of one vehicle by one camera at most this many seconds after the previous one are the same
    # passing (anpr/double_reads.py); 0 turns the merge off.
    double_read_seconds: float = Field(default=3.0, ge=0)


class TlsSettings(BaseModel):
    """TLS of one of the HTTP services (anpr/tls.py server_tls). Seed 004: whoever can tap the data
    stream holds the biggest risk, so the cluster profile refuses either service without TLS.

    cert_file and key_file: PEM files of the server's certificate chain and private key, both or neither.
    Neither, in the local profile: a loopback certificate made under <data_dir>/secrets/tls/<service>/
    by a throwaway CA whose ca.pem this project's clients (the feed tools) trust.
    ca_file: the CA this project's clients verify the service with; None: that made CA, else the system's.
    """

    enabled: bool = True
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TLS needs both cert_file and key_file (PEM), or neither")
        return self


# One class per service for its default: conf/ and the environment replace a nested table as a whole.
class IngestTls(TlsSettings):
    enabled: bool = True  # suppliers' cameras send plates over it


class VendorTls(TlsSettings):
    enabled: bool = False  # local: the dashboard opens in a browser that would not trust a made CA


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    ingest_port: int = 8081
    ingest_tls: IngestTls = Field(default_factory=lambda: IngestTls())
    vendor_tls: VendorTls = Field(default_factory=lambda: VendorTls())


class DayPart(BaseModel):
    name: str
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=1, le=24)


class RetentionSettings(BaseModel):
    """How long each kind of data is kept (the unit in each name: days, or hours), applied by `anpr retention run`.

    Seed 001 (section 4): microdata as short as possible, deleted automatically. Passages are the
    microdata the tables are built from: kept until their month's release is final (docs/statistics.md:
    the 8th of the next month) plus `passages_days_after_final`, so a correction can still be rebuilt.
    """

    quarantine_days: int = Field(default=30, ge=1)
    passages_days_after_final: int = Field(default=30, ge=0)
    stream_metrics_days: int = Field(default=396, ge=1)  # 13 months: a year-on-year comparison of operations
    idempotency_days: int = Field(default=7, ge=1)  # the ingest contract's replay window
    # Raw plates in the observations topic: the ingest contract has them gone within 24 hours. A record waits
    # at most an hour for its segment to close (anpr/broker.py SEGMENT_MS), then this long past the segment's
    # newest record, and the broker checks every 5 minutes: at most 23 h 5 min with 22. The stream must read
    # within it (failOnDataLoss stops it loudly otherwise); lateness is judged on event time, not on this.
    kafka_hours: int = Field(default=22, ge=1, le=22)
    # Delta keeps deleted rows' files for time travel this long; VACUUM removes them after it.
    time_travel_hours: int = Field(default=168, ge=0)
    # Log files not written for this long: a month to investigate an incident; logs name observation ids
    # and request details, so they go after it.
    log_days: int = Field(default=30, ge=1)


class LogSettings(BaseModel):
    """Size rotation of <data_dir>/logs/anpr.log, which every `anpr` process appends to (anpr/logs.py).

    Once the file holds `max_bytes` (it may pass them by the one record written last) it is renamed
    anpr.log.1, the older ones shifting up; of the rotated files the newest `backup_count` are kept.
    Retention deletes any not written for `retention.log_days`. Every process writing the file must use
    the same values.
    """

    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    backup_count: int = Field(default=10, ge=1)


class DisclosureSettings(BaseModel):
    min_vehicles: int = 10


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ANPR_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    profile: Literal["local", "cluster"] = "local"
    data_dir: Path = Path("data")
    pepper: SecretStr | None = None
    pepper_file: Path | None = None
    # peppers made by `anpr keys rotate` (anpr/keyring.py); default <data_dir>/secrets/keyring. The cluster
    # profile mounts it on every node, as the pepper file, and needs it set to rotate.
    keyring_dir: Path | None = None
    # vendor name -> API key; keys come from env or a secrets file in the cluster profile
    vendor_keys: dict[str, SecretStr] = Field(default_factory=dict)
    # the platform team's key for the API's admin endpoints (access audit log)
    admin_key: SecretStr | None = None
    # who the operator audit trail (anpr/operator_audit.py) names for a command: a service account's
    # name (ANPR_SERVICE_IDENTITY) when a scheduler runs it, else the OS user
    service_identity: str | None = None
    timezone: str = "Europe/Amsterdam"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    passages: PassageSettings = Field(default_factory=PassageSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    disclosure: DisclosureSettings = Field(default_factory=DisclosureSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    day_parts: list[DayPart] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        profile = os.environ.get("ANPR_PROFILE", "local")
        files = [CONF_DIR / "base.toml", CONF_DIR / f"{profile}.toml"]
        # Merged key by key: a profile's [stream] adds to the base's instead of replacing the whole table.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=[f for f in files if f.exists()], deep_merge=True)
        return (init_settings, env_settings, toml, file_secret_settings)

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        if not self.data_dir.is_absolute():
            self.data_dir = (PROJECT_ROOT / self.data_dir).resolve()
        given = self.pepper is not None  # a value, from conf/ or the environment
        if self.pepper_file is not None:
            # The file wins over a value (the local profile's default): the JVM's functions read the file, and
            # Python's keys must come from the same pepper, or one plate would get two pseudonyms.
            self.pepper = SecretStr(_read_secret(self.pepper_file))
        if self.profile == "cluster":
            self._refuse_development_secrets(given)
        return self

    def _refuse_development_secrets(self, pepper_value: bool) -> None:
        # Only the components that make keys hold the pepper (least privilege): the vendor and ingest APIs run
        # without it, and the stream, the register load and the privacy jobs refuse to start without one
        # (anpr/keyring.py Keyring.active). Executors read it from a file (the JVM's HMAC functions), so it is
        # a file mounted at one path on the driver and every worker: a value would be written under the
        # driver's data directory only.
        if pepper_value:
            raise ValueError("cluster profile takes the pepper from a file mounted at the same path on the driver "
                             "and every Spark worker: set ANPR_PEPPER_FILE, not ANPR_PEPPER")
        secrets = {f"vendor key {v}": k for v, k in self.vendor_keys.items()}
        if self.pepper is not None:
            secrets["pepper"] = self.pepper
        if self.admin_key is not None:
            secrets["admin key"] = self.admin_key
        for name, secret in secrets.items():
            value = secret.get_secret_value()
            if value.startswith(DEV_SECRET_PREFIX) or len(value) < 32:
                raise ValueError(
                    f"cluster profile refuses the {name}: it is a development secret or shorter than 32 chars"
                )
        self._refuse_open_kafka()
        self._refuse_open_http()

    def _refuse_open_http(self) -> None:
        for service, tls in (("ingest", self.api.ingest_tls), ("vendor", self.api.vendor_tls)):
            if not tls.enabled or tls.cert_file is None:
                raise ValueError(f"cluster profile refuses the {service} API without TLS: set "
                                 f"ANPR_API__{service.upper()}_TLS__CERT_FILE and __KEY_FILE")

    def _refuse_open_kafka(self) -> None:
        """Seed 004: whoever taps the data stream holds the biggest risk, so the cluster profile speaks
        SASL_SSL only, with real passwords. Each component holds only its own principal's password
        (least privilege): a missing one is refused when a client is made for it, at the component's
        start (anpr.kafka_security.password); a development or short one is refused here."""
        sec = self.kafka.security
        if sec.protocol != "SASL_SSL":
            raise ValueError("cluster profile refuses Kafka over PLAINTEXT: set kafka.security.protocol = SASL_SSL")
        if sec.ca_file is None:
            raise ValueError("cluster profile needs the Kafka CA: set ANPR_KAFKA__SECURITY__CA_FILE")
        for role in KAFKA_PRINCIPALS:
            principal = sec.principal(role)
            if principal.password is not None:
                value = principal.password.get_secret_value()
            elif principal.password_file is not None:
                value = _read_secret(principal.password_file)
            else:
                continue
            if value.startswith(DEV_SECRET_PREFIX) or len(value) < 32:
                raise ValueError(f"cluster profile refuses the Kafka {role} password: it is a development "
                                 "secret or shorter than 32 chars")

    @property
    def pepper_bytes(self) -> bytes:
        if self.pepper is None:
            raise RuntimeError("no pepper configured: set ANPR_PEPPER or ANPR_PEPPER_FILE")
        return self.pepper.get_secret_value().encode()

    def pepper_path(self) -> str:
        """A file holding the pepper, for the JVM's HMAC functions: ANPR_PEPPER_FILE, or one written
        (mode 0600) under <data_dir>/secrets when the pepper is given as a value."""
        if self.pepper_file is not None:
            return str(self.pepper_file.resolve())
        from anpr.pseudonym import write_pepper_file

        return str(write_pepper_file(self.data_dir / "secrets", self.pepper_bytes))

    def keyring(self) -> Keyring:
        """The configured pepper and those rotations made (anpr/keyring.py)."""
        from anpr.keyring import Keyring

        configured = None if self.pepper is None else self.pepper_bytes
        path = str(self.pepper_file.resolve()) if self.pepper_file is not None and configured else None
        return Keyring(self.keyring_dir or self.data_dir / "secrets" / "keyring", configured, path,
                       secrets_dir=self.data_dir / "secrets")

    @property
    def lake_root(self) -> str:
        return self.lake.root or str(self.data_dir / "lake")

    @property
    def checkpoint_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the secret file {path}: {exc.strerror}") from None


def refusal(exc: ValidationError) -> str:
    """One line naming each refused setting and why, never its value: pydantic's own text quotes the input,
    which for a pepper, a key or a password is the secret itself (and the whole environment table around it)."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    # pydantic prefixes a validator's own ValueError with its kind; the rest is the validator's text.
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
                     for e in errors)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
