"""Pre-serialized answers with ETags: releases are immutable, so an answer is a function of its key.

A body is built once per key (release, table, vendor scope, query, format), kept as bytes and, when
large enough to gain, as gzip bytes too; later requests cost a dict lookup (DESIGN: pre-serialized
bytes ~2.6k req/s against ~800 through default serialization) and a revalidation costs no body at all.
The ETag is a digest of the body, not of the key: what else a body depends on (the catalogue's
definitions and names, conf/municipalities) may change with a restart, and a key would not show it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import mimeparse
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from api.common.errors import ApiError

GZIP_MIN_BYTES = 1024
CACHE_CONTROL = "private, no-cache"  # vendors' caches keep answers but revalidate them: a 304 is cheap
VARY = "Accept, Accept-Encoding, Authorization, X-API-Key"
# When the vendor must have destroyed the release data of an answer (its contract's export_days after
# the release was created; field `expiresAt` of JSON bodies). Not HTTP's `Expires`: that tells caches
# when an answer goes stale (RFC 9111 5.3), is overridden by Cache-Control, and answers here stay
# valid while the data may not be kept.
DATA_EXPIRES = "X-Data-Expires"
# The base counts of an answer are rounded to (the open layer's round_to; 1: exact), as field `roundedTo`.
ROUNDED_TO = "X-Counts-Rounded-To"


GEOJSON = "application/geo+json"  # RFC 7946 12: zones, cameras and OGC features


class GeoJSONResponse(JSONResponse):
    """A route's response class where it answers GeoJSON, so the OpenAPI document says so."""
    media_type = GEOJSON


# What an answer can be, JSON first: it is the default and wins a tie (Accept: */*, or both at one q).
ANSWER_MEDIA = ("text/csv", "application/json")  # mimeparse prefers the later of equals
_WHOLE = re.compile(r"[+-]?[0-9]+")


def preferred_media(accept: str) -> str:
    """The media type of ANSWER_MEDIA the Accept header prefers by RFC 9110 12.5.1 (q-values, q=0 refused;
    media types in any case); "" when it names neither or does not parse (the caller's default then)."""
    try:
        return str(mimeparse.best_match(ANSWER_MEDIA, accept.lower()))
    except ValueError:
        return ""


def refuse_empty(name: str, value: str | None, status: int = 422) -> None:
    """`status` for a query parameter given empty (`release=`, `cursor=`): a client's unset template
    variable, which must never mean its absence (the latest release, the first page). A 422 reads
    "invalid request: ...", as the /v1 routes' other 422s; OGC items answer 400."""
    if value == "":
        raise ApiError(status, f"{'invalid request: ' if status == 422 else ''}{name} is empty",
                       f"give a value, or leave {name} out")


def whole_number(text: str) -> int:
    """A query's integer in ASCII digits; ValueError otherwise. Python's int() also takes other scripts'
    digits, spaces and underscores (a review's limit=٣, limit=1_0)."""
    if _WHOLE.fullmatch(text) is None:
        raise ValueError("not a whole number in ASCII digits")
    return int(text)


@dataclass(frozen=True)
class Body:
    content: bytes
    gzipped: bytes | None
    media_type: str
    etag: str
    headers: tuple[tuple[str, str], ...] = ()
    audit: tuple[tuple[str, Any], ...] = ()  # what the access log records about this answer

    @property
    def size(self) -> int:
        return len(self.content) + len(self.gzipped or b"")


def make_etag(content: bytes, media_type: str) -> str:
    """The ETag of a body: equal bodies share it and any change to one gives another."""
    digest = hashlib.sha256(media_type.encode() + b"\x1f" + content).hexdigest()[:32]
    return f'W/"{digest}"'  # weak: gzip and identity bodies of one answer share it


def make_body(content: bytes, media_type: str, headers: dict[str, str] | None = None,
              audit: dict[str, Any] | None = None) -> Body:
    gz = gzip.compress(content, compresslevel=6, mtime=0) if len(content) >= GZIP_MIN_BYTES else None
    return Body(content, gz, media_type, make_etag(content, media_type), tuple((headers or {}).items()),
                tuple((audit or {}).items()))


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def json_body(payload: Any, audit: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
              media_type: str = "application/json") -> Body:
    return make_body(json_bytes(payload), media_type, headers, audit)


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def respond(request: Request, body: Body) -> Response:
    request.state.audit = dict(body.audit)
    headers = {"ETag": body.etag, "Cache-Control": CACHE_CONTROL, "Vary": VARY, **dict(body.headers)}
    if not_modified(request, body.etag):
        return Response(status_code=304, headers=headers)
    if body.gzipped is not None and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(body.gzipped, media_type=body.media_type, headers=headers)
    return Response(body.content, media_type=body.media_type, headers=headers)


def forbid(municipalities: set[str] | frozenset[str], allowed: frozenset[str]) -> None:
    """403 naming the municipalities (GM codes) outside the vendor's contract, if any."""
    outside = sorted(set(municipalities) - allowed)
    if outside:
        raise ApiError(403, f"your contract does not cover municipality {', '.join(outside)}",
                       f"you may read {', '.join(sorted(allowed))}; ask the platform team to extend the contract")
