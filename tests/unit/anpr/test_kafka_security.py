"""Kafka security settings: the cluster profile refuses open or weakly guarded Kafka, passwords stay out
of reprs and logs, clients and Spark get the principal's settings, the throwaway TLS files are sound and
the ACLs grant each principal its part only."""

from __future__ import annotations

import logging
import re
import stat

import pytest

from anpr.broker_security import (
    BrokerSecurity,
    Credential,
    ensure_tls,
    format_arguments,
    least_privilege_acls,
    sasl_ssl_properties,
)
from anpr.kafka_security import client_config, embedded_broker_security, password, spark_options
from anpr.settings import Settings

# Spark's default spark.redaction.regex (core/.../internal/config/package.scala, SECRET_REDACTION_PATTERN)
SPARK_REDACTION_REGEX = r"(?i)secret|password|token|access[.]?key"
ROLES = ("PRODUCER", "STREAM", "ADMIN")


def cluster_env(monkeypatch, tmp_path, passwords: dict[str, str] | None = None, protocol: str = "SASL_SSL") -> None:
    """A cluster profile complete but for what a test takes away: pepper file, CA, a file per password."""
    monkeypatch.setenv("ANPR_PROFILE", "cluster")
    pepper = tmp_path / "pepper"
    pepper.write_text("p" * 48)
    monkeypatch.delenv("ANPR_PEPPER", raising=False)
    monkeypatch.setenv("ANPR_PEPPER_FILE", str(pepper))
    monkeypatch.setenv("ANPR_KAFKA__SECURITY__PROTOCOL", protocol)
    monkeypatch.setenv("ANPR_KAFKA__SECURITY__CA_FILE", str(tmp_path / "ca.pem"))
    for role in ROLES:
        value = (passwords or {}).get(role, f"{role.lower()}-" + "s" * 40)
        if value:
            secret = tmp_path / f"kafka-{role.lower()}"
            secret.write_text(value + "\n")
            monkeypatch.setenv(f"ANPR_KAFKA__SECURITY__{role}__PASSWORD_FILE", str(secret))
        else:
            monkeypatch.delenv(f"ANPR_KAFKA__SECURITY__{role}__PASSWORD_FILE", raising=False)


def test_the_cluster_profile_takes_passwords_from_secret_files_and_never_shows_them(monkeypatch, tmp_path, caplog):
    cluster_env(monkeypatch, tmp_path)
    settings = Settings()
    producer = client_config(settings, "producer")
    assert producer == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                        "sasl_plain_username": "anpr-ingest", "sasl_plain_password": "producer-" + "s" * 40,
                        "ssl_cafile": str(tmp_path / "ca.pem")}
    assert client_config(settings, "stream")["sasl_plain_username"] == "anpr-stream"
    with caplog.at_level(logging.INFO):
        logging.getLogger("anpr.test").info("settings: %s %r", settings, settings.kafka.security)
    shown = repr(settings) + str(settings) + caplog.text + settings.model_dump_json()
    assert "s" * 40 not in shown


def test_the_cluster_profile_refuses_plaintext_kafka(monkeypatch, tmp_path):
    cluster_env(monkeypatch, tmp_path, protocol="PLAINTEXT")
    with pytest.raises(ValueError, match="refuses Kafka over PLAINTEXT"):
        Settings()


def test_each_cluster_component_needs_only_its_own_kafka_password_and_refuses_to_start_without_it(
        monkeypatch, tmp_path):
    cluster_env(monkeypatch, tmp_path, {"STREAM": "", "ADMIN": ""})  # an ingest node: the producer's only
    settings = Settings()
    assert client_config(settings, "producer")["sasl_plain_username"] == "anpr-ingest"
    with pytest.raises(ValueError, match="needs the Kafka stream password: set "
                                         "ANPR_KAFKA__SECURITY__STREAM__PASSWORD_FILE"):
        spark_options(settings)
    with pytest.raises(ValueError, match="needs the Kafka admin password"):
        client_config(settings, "admin")


@pytest.mark.parametrize(("passwords", "message"), [
    ({"PRODUCER": "dev-" + "x" * 40}, "refuses the Kafka producer password: it is a development secret"),
    ({"ADMIN": "short"}, "refuses the Kafka admin password: .* shorter than 32"),
])
def test_the_cluster_profile_refuses_missing_or_development_kafka_passwords(monkeypatch, tmp_path, passwords,
                                                                            message):
    cluster_env(monkeypatch, tmp_path, passwords)
    with pytest.raises(ValueError, match=message):
        Settings()


def test_the_cluster_profile_refuses_an_unreadable_secret_file(monkeypatch, tmp_path):
    cluster_env(monkeypatch, tmp_path)
    monkeypatch.setenv("ANPR_KAFKA__SECURITY__STREAM__PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot read the secret file"):
        Settings()


def test_plaintext_adds_no_client_settings(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.kafka.security.protocol == "PLAINTEXT"
    assert client_config(settings, "producer") == {} and spark_options(settings) == {}
    assert embedded_broker_security(settings) is None


def test_the_local_profile_makes_one_private_password_per_principal_and_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path, kafka={"security": {"protocol": "SASL_SSL"}})
    first = password(settings, "stream")
    path = tmp_path / "secrets" / "kafka" / "anpr-stream"
    assert path.read_text() == first and len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert password(settings, "stream") == first != password(settings, "producer")
    assert client_config(settings, "admin")["ssl_cafile"] == str(tmp_path / "broker" / "tls" / "ca.pem")
    security = embedded_broker_security(settings)
    assert security is not None and first not in repr(security)
    assert security.topics == ("anpr.observations", "anpr.cameras")


def test_spark_gets_the_stream_principal_in_a_value_its_default_redaction_masks(tmp_path):
    settings = Settings(data_dir=tmp_path, kafka={"security": {"protocol": "SASL_SSL",
                                                               "stream": {"username": "anpr-stream",
                                                                          "password": "q" * 40}}})
    options = spark_options(settings)
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.ssl.truststore.type"] == "PEM"
    jaas = options["kafka.sasl.jaas.config"]
    assert 'username="anpr-stream"' in jaas and "q" * 40 in jaas
    # Spark redacts an option whose key or value matches the regex: only the JAAS value holds the password.
    holding = [k for k, v in options.items() if "q" * 40 in v]
    assert holding == ["kafka.sasl.jaas.config"] and re.search(SPARK_REDACTION_REGEX, jaas)
    quoted = Settings(data_dir=tmp_path, kafka={"security": {"protocol": "SASL_SSL",
                                                              "stream": {"username": "s", "password": 'a"b'}}})
    with pytest.raises(ValueError, match="quote"):
        spark_options(quoted)


def test_the_broker_tls_files_are_a_throwaway_ca_and_a_private_pkcs12_keystore(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    tls = ensure_tls(tmp_path / "tls")
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["broker.p12", "ca.pem", "keystore.password"]
    for private in (tls.keystore, tmp_path / "tls" / "keystore.password"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(tls.ca.read_bytes())
    key, cert, chain = pkcs12.load_key_and_certificates(tls.keystore.read_bytes(), tls.keystore_password.encode())
    assert key is not None and cert is not None and [c.subject for c in chain] == [ca.subject]
    cert.verify_directly_issued_by(ca)  # raises when the CA did not sign it
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert tls.keystore_password not in repr(tls)
    again = ensure_tls(tmp_path / "tls")
    assert again.ca.read_bytes() == tls.ca.read_bytes() and again.keystore_password == tls.keystore_password


@pytest.mark.parametrize("left", ["new password, old keystore", "new keystore, old CA"])
def test_broker_tls_files_a_killed_start_left_mixed_are_made_anew(tmp_path, left):
    old, new = ensure_tls(tmp_path / "old"), ensure_tls(tmp_path / "tls")
    if left == "new password, old keystore":
        new.keystore.write_bytes(old.keystore.read_bytes())
    else:
        new.ca.write_bytes(old.ca.read_bytes())
    again = ensure_tls(tmp_path / "tls")
    assert again.keystore_password != new.keystore_password  # a new set, whole
    test_the_broker_tls_files_are_a_throwaway_ca_and_a_private_pkcs12_keystore(tmp_path)


def security() -> BrokerSecurity:
    return BrokerSecurity(admin=Credential("adm", "a" * 32), producer=Credential("prod", "p" * 32),
                          stream=Credential("strm", "s" * 32), topics=("obs", "cams"),
                          transactional_id_prefix="anpr-ingest-")


def test_the_acls_let_the_producer_write_and_the_stream_read_nothing_more():
    granted = {(a.principal, a.resource_pattern.resource_type.name, a.resource_pattern.resource_name,
                a.resource_pattern.pattern_type.name, a.operation.name) for a in least_privilege_acls(security())}
    assert {g[4] for g in granted if g[0] == "User:prod"} == {"WRITE", "DESCRIBE"}
    assert {g[4] for g in granted if g[0] == "User:strm"} == {"READ", "DESCRIBE"}
    assert not any(g[0] == "User:adm" for g in granted)  # a super user of the broker, as the listing below says
    assert ("User:prod", "TRANSACTIONAL_ID", "anpr-ingest-", "PREFIXED", "WRITE") in granted
    assert ("User:strm", "GROUP", "spark-kafka-", "PREFIXED", "READ") in granted
    assert {g[2] for g in granted if g[1] == "TOPIC"} == {"obs", "cams"}
    assert all(a.permission_type.name == "ALLOW" and a.host == "*" for a in least_privilege_acls(security()))


def test_the_broker_properties_deny_by_default_and_check_the_controllers_clients(tmp_path):
    props = sasl_ssl_properties(9092, 9093, ensure_tls(tmp_path), security().admin)
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["super.users"] == "User:adm;User:CN=anpr-broker"
    assert "PLAINTEXT" not in props["listeners"] + props["advertised.listeners"]
    assert format_arguments(security().admin) == ["--add-scram", f'SCRAM-SHA-512=[name="adm",password="{"a" * 32}"]']
    with pytest.raises(ValueError, match="may not contain"):
        format_arguments(Credential("adm", "pa,ss=word"))


def test_a_broker_folder_formatted_for_plaintext_is_not_started_as_sasl_ssl(tmp_path):
    from anpr.broker import BrokerError, EmbeddedBroker

    (tmp_path / "kraft").mkdir()
    (tmp_path / "kraft" / "meta.properties").write_text("cluster.id=abc\nnode.id=1\n")
    broker = EmbeddedBroker(tmp_path, security=security())
    with pytest.raises(BrokerError, match="formatted for PLAINTEXT, not SASL_SSL: use another data directory"):
        broker.start()  # refused before any JVM starts
    assert broker.process is None
    props = (tmp_path / "server.properties").read_text()
    assert stat.S_IMODE((tmp_path / "server.properties").stat().st_mode) == 0o600 and "SASL_SSL://" in props
