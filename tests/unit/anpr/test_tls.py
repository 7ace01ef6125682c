"""TLS of the HTTP services: the local profile's made certificate, the cluster profile's refusal, and a
client that trusts only the CA it is given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from fastapi import FastAPI, Request

from anpr.broker import free_port
from anpr.settings import IngestTls, Settings, VendorTls
from anpr.tls import client_ca, ensure_server_pem, server_tls
from cli.serve import base_url, in_thread, server_config
from jobs.feeds.sinks import Backoff, DeliveryFailed, IngestSink
from tests.unit.anpr.test_kafka_security import cluster_env


def test_the_made_certificate_is_for_loopback_its_key_private_and_it_is_kept_until_it_nears_expiry(tmp_path):
    pem = ensure_server_pem(tmp_path / "tls", "anpr-ingest")
    assert (tmp_path / "tls").stat().st_mode & 0o777 == 0o700
    assert pem.key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(pem.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    ca = x509.load_pem_x509_certificate(pem.ca.read_bytes())
    assert cert.issuer == ca.subject and cert.issuer != cert.subject
    before = pem.cert.read_bytes()
    assert ensure_server_pem(tmp_path / "tls", "anpr-ingest") == pem and pem.cert.read_bytes() == before


@pytest.mark.parametrize("left", ["new key, old certificate", "new certificate, old CA", "certificate cut short"])
def test_files_a_killed_start_left_mixed_or_cut_short_are_made_anew(tmp_path, left):
    """The three files are written one by one: a start killed between them must not leave a service that
    serves a certificate its key or its clients' CA does not match, on every later start."""
    old = ensure_server_pem(tmp_path / "old", "anpr-ingest")
    new = ensure_server_pem(tmp_path / "tls", "anpr-ingest")
    if left == "new key, old certificate":
        new.cert.write_bytes(old.cert.read_bytes())
    elif left == "new certificate, old CA":
        new.ca.write_bytes(old.ca.read_bytes())
    else:
        new.cert.write_bytes(new.cert.read_bytes()[:200])
    mixed = {p: p.read_bytes() for p in (new.ca, new.cert, new.key)}
    again = ensure_server_pem(tmp_path / "tls", "anpr-ingest")
    assert all(p.read_bytes() != mixed[p] for p in (again.ca, again.key))  # a new set, whole
    cert = x509.load_pem_x509_certificate(again.cert.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(again.ca.read_bytes()))
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["ca.pem", "server.key", "server.pem"]


def test_settings_choose_the_files_a_service_serves_with(tmp_path):
    assert server_tls(VendorTls(), tmp_path, "vendor") is None  # local vendor API: plain HTTP by default
    made = server_tls(IngestTls(), tmp_path, "ingest")
    assert made is not None and made.cert.parent == tmp_path / "secrets" / "tls" / "ingest"
    assert client_ca(IngestTls(), tmp_path, "ingest") == made.ca
    assert client_ca(VendorTls(), tmp_path, "vendor") is None  # none made: the system's CAs
    given = IngestTls(cert_file=made.cert, key_file=made.key, ca_file=made.ca)
    assert server_tls(given, tmp_path / "elsewhere", "ingest") == made
    with pytest.raises(ValueError, match="does not exist"):
        server_tls(IngestTls(cert_file=tmp_path / "no.pem", key_file=made.key), tmp_path, "ingest")
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        IngestTls(cert_file=made.cert)


@pytest.mark.parametrize(("variable", "value"), [("ANPR_API__INGEST_TLS__ENABLED", "false"),
                                                 ("ANPR_API__VENDOR_TLS__ENABLED", "false")])
def test_the_cluster_profile_refuses_either_http_service_without_tls(monkeypatch, tmp_path, variable, value):
    cluster_env(monkeypatch, tmp_path)
    assert Settings().api.ingest_tls.cert_file == Path("/run/secrets/ingest-tls.crt")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match="refuses the (ingest|vendor) API without TLS"):
        Settings()


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[str, Path, list[bytes]]]:
    """A server over the made certificate that records each body it is sent and answers a receipt."""
    bodies: list[bytes] = []
    app = FastAPI()

    @app.post("/")
    async def receive(request: Request) -> dict[str, int]:
        bodies.append(await request.body())
        return {"accepted": 1}

    tls = server_tls(IngestTls(), tmp_path, "ingest")
    assert tls is not None
    port = free_port()
    with in_thread(server_config(app, tls, host="127.0.0.1", port=port)):
        yield base_url("127.0.0.1", port, True), tls.ca, bodies


def test_a_feed_reaches_the_endpoint_over_tls_only_when_it_trusts_the_ca(https_server, tmp_path):
    url, ca, bodies = https_server
    assert url.startswith("https://")
    sink = IngestSink(url, "dev-key", ca_file=ca)
    assert sink.post(b"{}", "r1", "k1", None) == {"accepted": 1}
    assert bodies == [b"{}"]
    lines: list[str] = []
    stranger = IngestSink(url, "dev-key", backoff=Backoff(attempts=3, first_s=0.01), say=lines.append)
    with pytest.raises(DeliveryFailed, match="certificate is not trusted .*ANPR_API__INGEST_TLS__CA_FILE"):
        stranger.post(b"{}", "r2", "k2", None)
    assert lines == [] and bodies == [b"{}"]  # refused at once, not retried, and nothing was sent


def test_plain_http_to_the_tls_port_sends_nothing(https_server):
    url, _, bodies = https_server
    sink = IngestSink(url.replace("https://", "http://"), "dev-key", backoff=Backoff(attempts=2, first_s=0.01),
                      say=lambda _: None)
    with pytest.raises(DeliveryFailed):
        sink.post(b"{}", "r3", "k3", None)
    assert bodies == []
