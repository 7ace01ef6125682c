"""uvicorn's HTTP protocols with the APIs' error body for a request their parser refuses.

A malformed request line, header name or `Content-Length` never reaches the app: uvicorn answers it
itself, in plain text ("Invalid HTTP request received."), which a client reading the error body of
every other answer cannot parse. These subclasses answer the same 400 with that body. They override
uvicorn's `send_400_response` (uvicorn is pinned in pyproject.toml; tests/unit/api/test_protocols.py
sends both parsers such a request).
"""

from __future__ import annotations

import json
import uuid

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.common.errors import error_body


def malformed_body(reason: str) -> bytes:
    """The error body of a request the HTTP parser refused; `reason` is uvicorn's own fixed text."""
    return json.dumps(error_body("bad_request", f"malformed HTTP request: {reason.rstrip('.')}",
                                 "check the request line, the header names and Content-Length (RFC 9112)",
                                 uuid.uuid4().hex)).encode()


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]


class H11JsonErrors(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = malformed_body(msg)
        for event in (h11.Response(status_code=400, headers=_headers(body), reason=STATUS_PHRASES[400]),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class HttpToolsJsonErrors(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = malformed_body(msg)
        lines = [STATUS_LINE[400]]
        for name, value in [*self.server_state.default_headers, *_headers(body)]:
            lines.extend([name, b": ", value, b"\r\n"])
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        self.transport.close()


PROTOCOLS = {"h11": H11JsonErrors, "httptools": HttpToolsJsonErrors}
