"""SASL_SSL for the embedded broker: a throwaway CA and broker certificate, SCRAM users, least-privilege ACLs.

Listeners: clients use SASL_SSL (TLS, then SCRAM-SHA-512); the KRaft controller listener is TLS with a
client certificate (mutual TLS), so the broker's own certificate (User:CN=anpr-broker) is the only
identity that reaches the controller. The StandardAuthorizer denies whatever no ACL allows
(`allow.everyone.if.no.acl.found=false`). Super users: the broker's certificate and the admin principal
(it creates topics, users and ACLs, and is the inter-broker identity of this single node).

The CA's private key is never written: it signs the broker certificate and is dropped, so nothing on
disk can issue another certificate this broker or its clients would trust. A new CA and certificate are
made when they are missing or expire within a day; clients read the CA from <home>/tls/ca.pem.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import kafka.errors as Errors
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.admin._users import ScramMechanism, UserScramCredentialUpsertion

from anpr.atomic_files import replace_whole
from anpr.tls import issue, issued_by, valid_for_a_day

BROKER_CN = "anpr-broker"
SCRAM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
# Spark's kafka source names its consumer groups spark-kafka-source-<uuid>… (streams) and
# spark-kafka-relation-<uuid>… (batch reads); it commits nothing, but its consumers carry the group id.
SPARK_GROUP_PREFIX = "spark-kafka-"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BrokerSecurity:
    """Who may do what on the embedded broker. `admin` is a super user; `producer` may write `topics`
    (and use transactional ids starting with `transactional_id_prefix`); `stream` may read them."""

    admin: Credential
    producer: Credential
    stream: Credential
    topics: tuple[str, ...]
    transactional_id_prefix: str


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    keystore: Path
    keystore_password: str = field(repr=False)


def ensure_tls(directory: Path) -> TlsFiles:
    """The broker's PKCS12 keystore and the CA's PEM certificate under `directory`, made if missing or
    about to expire (a new CA too: clients re-read ca.pem when they connect)."""
    ca, keystore, secret = directory / "ca.pem", directory / "broker.p12", directory / "keystore.password"
    if not (ca.exists() and keystore.exists() and secret.exists() and _one_set(ca, keystore, secret)):
        _make_tls(directory, ca, keystore, secret)
    return TlsFiles(ca, keystore, secret.read_text().strip())


def _one_set(ca: Path, keystore: Path, secret: Path) -> bool:
    """Whether the password opens the keystore, the CA signed its certificate and both hold another day (the
    three files are written one by one: a start killed between them leaves a mix)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        _, cert, _ = pkcs12.load_key_and_certificates(keystore.read_bytes(), secret.read_bytes().strip())
    except (ValueError, TypeError):
        return False
    return cert is not None and issued_by(cert, ca) and valid_for_a_day(ca)


def _make_tls(directory: Path, ca_path: Path, keystore_path: Path, secret_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # clientAuth too: the broker's own connection to the controller listener presents this certificate
    made = issue(BROKER_CN, "anpr embedded broker CA", client_auth=True)
    password = secrets.token_urlsafe(24)
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(50_000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                  .build(password.encode()))
    store = pkcs12.serialize_key_and_certificates(BROKER_CN.encode(), made.key, made.cert, [made.ca], encryption)
    replace_whole(secret_path, password.encode())
    replace_whole(keystore_path, store)
    replace_whole(ca_path, made.ca.public_bytes(serialization.Encoding.PEM), mode=0o644)


def sasl_ssl_properties(port: int, controller_port: int, tls: TlsFiles, admin: Credential) -> dict[str, str]:
    """server.properties entries replacing the PLAINTEXT listeners (anpr.broker.server_properties)."""
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin.username}" '
            f'password="{admin.password}";')
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls.keystore),
        "ssl.keystore.password": tls.keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca),
        "listener.name.controller.ssl.client.auth": "required",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{admin.username};User:CN={BROKER_CN}",
        "allow.everyone.if.no.acl.found": "false",
    }


def format_arguments(admin: Credential) -> list[str]:
    """`kafka-storage format` arguments storing the admin's SCRAM credential in the bootstrap metadata:
    the first client (this module) must authenticate before it can create the others."""
    for part in (admin.username, admin.password):
        if any(c in part for c in '",[]=\\'):
            raise ValueError("Kafka usernames and passwords may not contain quotes, commas, brackets, '=' or '\\'")
    return ["--add-scram", f'{SCRAM}=[name="{admin.username}",password="{admin.password}"]']


def admin_config(security: BrokerSecurity, tls: Path) -> dict[str, object]:
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": SCRAM, "ssl_cafile": str(tls),
            "sasl_plain_username": security.admin.username, "sasl_plain_password": security.admin.password}


def least_privilege_acls(security: BrokerSecurity) -> list[ACL]:
    """Producer: write and describe the topics, its transactional ids. Stream: read and describe them,
    Spark's consumer groups. Nothing else: no create, delete, alter or config access for either."""
    allow = ACLPermissionType.ALLOW
    acls: list[ACL] = []

    def grant(user: str, operations: tuple[ACLOperation, ...], pattern: ResourcePattern) -> None:
        acls.extend(ACL(f"User:{user}", "*", op, allow, pattern) for op in operations)

    for topic in security.topics:
        literal = ResourcePattern(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL)
        grant(security.producer.username, (ACLOperation.WRITE, ACLOperation.DESCRIBE), literal)
        grant(security.stream.username, (ACLOperation.READ, ACLOperation.DESCRIBE), literal)
    grant(security.producer.username, (ACLOperation.WRITE, ACLOperation.DESCRIBE),
          ResourcePattern(ResourceType.TRANSACTIONAL_ID, security.transactional_id_prefix,
                          ACLResourcePatternType.PREFIXED))
    grant(security.stream.username, (ACLOperation.READ,),
          ResourcePattern(ResourceType.GROUP, SPARK_GROUP_PREFIX, ACLResourcePatternType.PREFIXED))
    return acls


def apply_users_and_acls(bootstrap: str, security: BrokerSecurity, ca: Path) -> None:
    """Create (or update the passwords of) the producer and stream SCRAM users and grant their ACLs;
    both are idempotent, so every start re-applies them. Raises RuntimeError when the broker refuses."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **admin_config(security, ca))
    try:
        users = [UserScramCredentialUpsertion(c.username, ScramMechanism.SCRAM_SHA_512, c.password,
                                              iterations=SCRAM_ITERATIONS)
                 for c in (security.producer, security.stream)]
        refused = {user: err for user, err in admin.alter_user_scram_credentials(users).items() if err}
        if refused:
            raise RuntimeError(f"the broker refused the SCRAM users: {refused}")
        acls = least_privilege_acls(security)
        result = admin.create_acls(acls)
        if result.get("failed"):
            raise RuntimeError(f"the broker refused {len(result['failed'])} ACLs: {result['failed'][0]}")
        _wait_until_served(admin, [c.username for c in (security.producer, security.stream)], len(acls))
    finally:
        admin.close()


def _wait_until_served(admin: KafkaAdminClient, users: list[str], acls: int, timeout: float = 30.0) -> None:
    """The controller has committed users and ACLs when the calls return; the broker applies them from
    the metadata log a moment later. Until then a client would be refused, so wait for the broker."""
    everything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                           ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = admin.describe_user_scram_credentials(users)
        known = all(described.get(u, {}).get("credential_infos") for u in users)
        found, error = admin.describe_acls(everything)
        if known and error is Errors.NoError and len(found) >= acls:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the broker did not serve the SCRAM users and ACLs within {timeout:.0f}s")
