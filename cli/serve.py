"""Serving an app: the port is bound before anything says "listening", so a busy port fails in one line."""

from __future__ import annotations

import socket
from typing import Any


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


def serve(app: Any, host: str, port: int, banner: str) -> None:
    """Bind, print the banner, then serve until Ctrl-C."""
    import uvicorn

    sock = bind(host, port)
    print(banner, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
