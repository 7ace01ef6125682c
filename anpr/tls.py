"""Throwaway certificates for the embedded default: a CA per use, and one loopback server certificate it signs.

Seed 004: whoever can tap the data stream holds the biggest risk of a central platform, so even on one
machine the broker and the ingest service speak TLS. Nothing here is committed or long-lived: the CA's
private key signs one certificate and is dropped, so nothing on disk can issue another certificate that
its clients would trust. The cluster profile never uses these; it names its own certificate files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from anpr.atomic_files import replace_whole

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    from anpr.settings import TlsSettings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
VALID_DAYS = 365


@dataclass(frozen=True)
class Issued:
    """A CA certificate and the server certificate it signed, with that certificate's private key."""

    ca: x509.Certificate
    cert: x509.Certificate
    key: EllipticCurvePrivateKey


def issue(common_name: str, ca_label: str, client_auth: bool = False) -> Issued:
    """A new CA (its key dropped on return) and a certificate for `common_name`, valid for localhost,
    127.0.0.1 and ::1 for VALID_DAYS days; client_auth: usable as a client certificate too."""
    # EC P-256: a key in milliseconds (RSA-2048 takes ~100 ms), supported by Java's and Python's TLS.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=VALID_DAYS)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{ca_label} {secrets.token_hex(4)}")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in LOOPBACK_NAMES[1:]]
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(ca, cert, key)


def valid_for_a_day(pem: Path) -> bool:
    """Whether the first certificate in the PEM file is still valid a day from now."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def issued_by(cert: x509.Certificate, ca_pem: Path) -> bool:
    """Whether the CA in ca_pem signed cert: the files of one set are written one by one, so a start killed
    between them leaves a new certificate beside an old CA."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.read_bytes()))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _one_set(pem: ServerPem) -> bool:
    """Whether key, certificate and CA belong together and the certificate holds another day (a file cut short
    or from another set: False)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        cert = x509.load_pem_x509_certificate(pem.cert.read_bytes())
        key = serialization.load_pem_private_key(pem.key.read_bytes(), None)
    except (ValueError, TypeError):
        return False
    return (key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
            and issued_by(cert, pem.ca) and valid_for_a_day(pem.cert))


@dataclass(frozen=True)
class ServerPem:
    """PEM files of a server: its certificate, its private key (mode 0600) and the CA clients verify with."""

    ca: Path
    cert: Path
    key: Path


def ensure_server_pem(directory: Path, common_name: str) -> ServerPem:
    """The loopback server certificate, key and CA under `directory` (mode 0700), made when missing or
    expiring within a day; a new one has a new CA, so clients must re-read ca.pem."""
    from cryptography.hazmat.primitives import serialization

    pem = ServerPem(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if all(p.exists() for p in (pem.ca, pem.cert, pem.key)) and _one_set(pem):
        return pem
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = issue(common_name, f"anpr {common_name} CA")
    replace_whole(pem.key, made.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    replace_whole(pem.cert, made.cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    replace_whole(pem.ca, made.ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return pem


def server_tls(tls: TlsSettings, data_dir: Path, service: str) -> ServerPem | None:
    """The PEM files `service` ("ingest" or "vendor") serves with: None when its TLS is off; the configured
    ones; else (local profile) a loopback certificate made under <data_dir>/secrets/tls/<service>/."""
    if not tls.enabled:
        return None
    if tls.cert_file is not None and tls.key_file is not None:
        for path in (tls.cert_file, tls.key_file):
            if not path.is_file():
                raise ValueError(f"the {service} API's TLS file {path} does not exist")
        return ServerPem(tls.ca_file or tls.cert_file, tls.cert_file, tls.key_file)
    return ensure_server_pem(made_dir(data_dir, service), f"anpr-{service}")


def made_dir(data_dir: Path, service: str) -> Path:
    return data_dir / "secrets" / "tls" / service


def client_ca(tls: TlsSettings, data_dir: Path, service: str) -> Path | None:
    """The CA this project's clients verify `service` with: the configured one, else the made one if there
    is one, else None (the system's trusted CAs)."""
    if tls.ca_file is not None:
        return tls.ca_file
    made = made_dir(data_dir, service) / "ca.pem"
    return made if made.exists() else None
