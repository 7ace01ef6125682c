"""The publisher's one-line errors when a broker cuts off the login (no broker: a socket that closes)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from anpr.feeds.publisher import BrokerUnavailable, Publisher

SASL = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_plain_username": "producer",
        "sasl_plain_password": "not-this-password"}


@contextmanager
def closing_listener() -> Iterator[int]:
    """A port that accepts every connection and closes it at once, as a broker does after a refused login."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def test_a_broker_that_closes_every_login_is_named_in_one_line_without_the_password():
    with closing_listener() as port:
        publisher = Publisher(f"127.0.0.1:{port}", {"anpr.observations": 1}, timeout_s=2, client=SASL)
        with pytest.raises(BrokerUnavailable) as cut:
            publisher.publish("anpr.observations", [(None, b"never", [])])
    message = str(cut.value)
    assert "\n" not in message and "not-this-password" not in message
    assert message.startswith(f"Kafka at 127.0.0.1:{port} closed every connection at the login of producer"), message
    assert "SASL authentication failed" in message
