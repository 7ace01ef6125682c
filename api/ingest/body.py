"""HTTP plumbing of the ingest service: the per-supplier message limit and the bounded body read."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from api.errors import ApiError

MAX_BODY_BYTES = 50 * 1024 * 1024  # the contract's limit
WINDOW_SECONDS = 60.0


class MessageLimiter:
    """At most `limit` messages in any 60 seconds per supplier: a sliding log, exact where a token
    bucket would let a full bucket plus a minute's refill (twice the limit) through in the first minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, supplier: str, limit: int) -> int:
        """0 when allowed (and counted), else whole seconds until a message is allowed again."""
        with self._lock:
            now = self._clock()
            log = self._log.setdefault(supplier, deque())
            while log and log[0] <= now - WINDOW_SECONDS:
                log.popleft()
            if len(log) >= limit:
                return max(1, math.ceil(log[len(log) - limit] + WINDOW_SECONDS - now))
            log.append(now)
            return 0


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body over {limit // (1024 * 1024)} MB",
                    "split the payload over several messages", code="payload_too_large")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit (before reading it when
    Content-Length says so, else while streaming it)."""
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
