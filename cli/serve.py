"""Serving an app: the port is bound before anything says "listening", so a busy port fails in one line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anpr.tls import ServerPem


class PortInUseError(RuntimeError):
    """The address cannot be bound (another server on it, or not an address of this machine)."""


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening. Raises PortInUseError in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a server restarted at once rebinds
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): is another server "
                             "running there? Stop it or choose another port with --port") from None
    return sock


def server_config(app: Any, tls: ServerPem | None, **options: Any) -> Any:
    """uvicorn's Config for app, over TLS with tls's certificate and key when given. HTTP is parsed by
    h11 unless `http` says otherwise: uvicorn would take httptools wherever it is installed, and only
    the vendor API asks for it (its cached pages cost less than h11's header checks)."""
    import uvicorn

    from api.common.protocols import PROTOCOLS

    if tls is not None:
        options |= {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
    options = {"log_level": "warning", "http": "h11", **options}
    # the parser's own 400 (a malformed request) in the APIs' error body, not plain text
    options["http"] = PROTOCOLS.get(options["http"], options["http"])
    return uvicorn.Config(app, **options)


@contextmanager
def in_thread(config: Any, sockets: list[socket.socket] | None = None, timeout_s: float = 20.0) -> Iterator[Any]:
    """A uvicorn Server for config running in a daemon thread, once it has started; stopped on exit.
    RuntimeError when it has not started within timeout_s (tests and benchmarks serve this way)."""
    import uvicorn

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise RuntimeError(f"the server did not start within {timeout_s:.0f} s")
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


def serve(app: Any, host: str, port: int, banner: str, tls: ServerPem | None = None, **options: Any) -> None:
    """Bind, print the banner, then serve until Ctrl-C (HTTPS when tls is given; options as in server_config)."""
    import uvicorn

    sock = bind(host, port)
    print(banner, flush=True)
    uvicorn.Server(server_config(app, tls, **options)).run(sockets=[sock])


def base_url(host: str, port: int, secure: bool) -> str:
    """The service's URL: https when it serves TLS; an IPv6 host in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if secure else 'http'}://{shown}:{port}"
