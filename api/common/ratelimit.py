"""Rate limits per caller, with one Decision type for both services.

- RateLimiter (token buckets: a burst at once, refilled at a steady rate): the vendor API per vendor
  contract (requests per minute and burst) and per client address for failed logins.
- SlidingLog (at most N in any 60 s): the ingest service per supplier, because the suppliers' contract
  says "429 over 600 messages/minute"; a token bucket would let a full bucket plus a minute's refill
  (twice the limit) through in one minute.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds until one request is allowed again; 0 when allowed


class RateLimiter:
    """Per-process buckets: with N API workers a vendor gets N times its rate, so the cluster
    deployment divides the contracted rate by the worker count (or limits at the gateway)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int, burst: int) -> Decision:
        """Take one token of `key`'s bucket (holding at most `burst`, refilled at `per_minute` / 60 per
        second); the decision says whether the request may go on, and if not how long to wait."""
        rate = per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return Decision(True, burst, int(tokens - 1.0), 0)
            self._buckets[key] = (tokens, now)
            return Decision(False, burst, 0, max(1, math.ceil((1.0 - tokens) / rate)))


class SlidingLog:
    """At most `limit` events in any WINDOW_SECONDS per key: exact, at the cost of one timestamp per event."""

    WINDOW_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int) -> Decision:
        """Count one event of `key` if fewer than `limit` fell in the last window; otherwise say how many
        whole seconds until the oldest of them leaves it."""
        with self._lock:
            now = self._clock()
            log = self._log.setdefault(key, deque())
            while log and log[0] <= now - self.WINDOW_SECONDS:
                log.popleft()
            if len(log) >= limit:
                wait = max(1, math.ceil(log[len(log) - limit] + self.WINDOW_SECONDS - now))
                return Decision(False, limit, 0, wait)
            log.append(now)
            return Decision(True, limit, limit - len(log), 0)
