"""Kafka client security from settings: kafka-python keyword arguments and Spark kafka-source options,
per principal (producer, stream, admin; docs/privacy.md, Who may do what).

With `kafka.security.protocol = "PLAINTEXT"` both are empty: the clients connect as before. With
SASL_SSL they authenticate with SCRAM-SHA-512 over TLS verified against the CA file. Passwords are read
from the environment or a secret file; in the local profile a principal without one gets a random
password kept in <data_dir>/secrets/kafka/<username> (mode 0600), so `anpr broker` and the clients of
other processes on the same data directory agree on it. The cluster profile refuses to start without
real ones (anpr/settings.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from anpr.atomic_files import create_once
from anpr.settings import KafkaPrincipalName, Settings

if TYPE_CHECKING:
    from anpr.broker_security import BrokerSecurity

# Spark masks an option in plans, the UI and its logs when its key or its value matches
# `spark.redaction.regex` (default "(?i)secret|password|token|access[.]?key"); the JAAS value always
# contains `password=`, so it is masked by the default.
JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'


def embedded_tls_dir(settings: Settings) -> Path:
    """Where the embedded broker keeps its throwaway CA and certificate."""
    return settings.data_dir / "broker" / "tls"


def ca_file(settings: Settings) -> Path:
    """The CA clients verify the broker against: kafka.security.ca_file, else the embedded broker's."""
    return settings.kafka.security.ca_file or embedded_tls_dir(settings) / "ca.pem"


def password(settings: Settings, principal: KafkaPrincipalName) -> str:
    """The principal's password: the configured value, else its file, else (local profile only) the one
    generated for this data directory. Raises ValueError when none can be had."""
    p = settings.kafka.security.principal(principal)
    if p.password is not None:
        return p.password.get_secret_value()
    if p.password_file is not None:
        return p.password_file.read_text().strip()
    if settings.profile != "local":
        raise ValueError(f"{settings.profile} profile needs the Kafka {principal} password: set "
                         f"ANPR_KAFKA__SECURITY__{principal.upper()}__PASSWORD_FILE")
    return _generated(settings.data_dir / "secrets" / "kafka" / p.username)


def _generated(path: Path) -> str:
    # two processes starting at once keep the first one's password, and neither reads half of it
    return create_once(path, secrets.token_urlsafe(32).encode()).decode().strip()


def client_config(settings: Settings, principal: KafkaPrincipalName) -> dict[str, object]:
    """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
    sec = settings.kafka.security
    if sec.protocol == "PLAINTEXT":
        return {}
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": sec.sasl_mechanism,
        "sasl_plain_username": sec.principal(principal).username,
        "sasl_plain_password": password(settings, principal),
        "ssl_cafile": str(ca_file(settings)),
    }


def spark_options(settings: Settings, principal: KafkaPrincipalName = "stream") -> dict[str, str]:
    """Options of Spark's `kafka` source (and sink) for the principal: `kafka.`-prefixed client configs.

    The password is only inside `kafka.sasl.jaas.config`, whose value Spark redacts (see JAAS above) and
    Kafka's client logs as [hidden]. The CA file must exist at the same path on every executor.
    """
    sec = settings.kafka.security
    if sec.protocol == "PLAINTEXT":
        return {}
    user, secret = sec.principal(principal).username, password(settings, principal)
    if '"' in user + secret or "\\" in user + secret:
        raise ValueError(f"the Kafka {principal} username or password contains a quote or backslash, "
                         "which the JAAS configuration cannot hold")
    return {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": sec.sasl_mechanism,
        "kafka.sasl.jaas.config": JAAS.format(user=user, password=secret),
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": str(ca_file(settings)),
    }


def embedded_broker_security(settings: Settings) -> BrokerSecurity | None:
    """The embedded broker's users and ACLs from the settings; None when PLAINTEXT."""
    from anpr.broker_security import BrokerSecurity, Credential

    sec, k = settings.kafka.security, settings.kafka
    if sec.protocol == "PLAINTEXT":
        return None

    def credential(principal: KafkaPrincipalName) -> Credential:
        return Credential(sec.principal(principal).username, password(settings, principal))

    return BrokerSecurity(admin=credential("admin"), producer=credential("producer"), stream=credential("stream"),
                          topics=(k.observations_topic, k.cameras_topic),
                          transactional_id_prefix=sec.transactional_id_prefix)
