"""A request uvicorn's HTTP parser refuses gets the APIs' error body, under both parsers (api/common/protocols.py)."""

from __future__ import annotations

import json
import socket

import pytest
from fastapi import FastAPI

from cli.serve import in_thread, server_config


@pytest.mark.parametrize("parser", ["h11", "httptools"])
@pytest.mark.parametrize("request_bytes", [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX Bad: y\r\n\r\n",  # a header name with a space
])
def test_a_malformed_request_gets_the_error_body(parser, request_bytes):
    """A review met a plain-text "Invalid HTTP request received." where every other answer is JSON."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = server_config(FastAPI(), None, host="127.0.0.1", port=port, lifespan="off", http=parser)
    with in_thread(config, timeout_s=10), socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request_bytes)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    assert lines[0].startswith("http/1.1 400") and "content-type: application/json" in lines
    error = json.loads(body)["error"]
    assert (error["code"], error["message"]) == ("bad_request", "malformed HTTP request: Invalid HTTP request received")
    assert f"content-length: {len(body)}" in lines
