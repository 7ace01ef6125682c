"""The request body, read within the contract's size limit."""

from __future__ import annotations

from fastapi import Request

from anpr.contract import MAX_BODY_BYTES
from api.common.errors import ApiError


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body over {limit / 1_000_000:g} MB",
                    "split the payload over several messages", code="payload_too_large")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body (at most `limit` bytes), refused with 413 as soon as it is known to exceed the limit
    (before reading it when Content-Length says so, else while streaming it); 400 for a malformed
    Content-Length."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError as exc:
            raise ApiError(400, "invalid Content-Length header", "send the body's length in bytes") from exc
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
