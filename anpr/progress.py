"""Progress lines for long steps, on stderr so stdout stays a clean summary for scripts."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_said: list[str] = []  # the last line said, if any


def say(message: str) -> None:
    _said[:] = [message]
    print(message, file=sys.stderr, flush=True)


def last_said() -> str | None:
    """The last line `say` printed since the previous call (None if none): a failed command's one-line
    cause, since commands print it last; the operator audit trail records it."""
    line = _said[0].strip() if _said else None
    _said.clear()
    return line or None


@contextmanager
def step(title: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"==> {title} ...")
    yield
    say(f"    done in {time.monotonic() - started:.1f}s")


class Counter:
    """Prints `done/total` at most every `every` seconds and once at the end."""

    def __init__(self, label: str, total: int, every: float = 2.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self._last = 0.0
        self._started = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            rate = self.done / max(now - self._started, 1e-6)
            say(f"    {self.label}: {self.done:,}/{self.total:,} ({rate:,.0f}/s)")
