"""Progress lines for long steps, on stderr so stdout stays a clean summary for scripts.

Printed with rich: on a terminal, `Counter` is a live bar and lines can be styled; elsewhere (logs,
pipes, tests) each is a plain line, never wrapped, so a one-line cause stays one line.
"""

from __future__ import annotations

import atexit
import errno
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit with status 1 here; the CLI ends a command whose reader went away itself (141, quietly)
        del self._buffer[:]
        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


# No markup or highlighting: messages hold text such as "[STREAM_FAILED]" and numbers that must print as
# given. soft_wrap: a long line is not broken at the terminal's width.
console = _Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True)
_said: list[str] = []  # the last line said, if any


def say(message: str) -> None:
    _said[:] = [message]
    console.print(message)


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
    """Progress of `total` units: a rich bar with the rate on a terminal, else a `done/total (rate/s)`
    line at most every `every` seconds and once at the end. `close()` ends a bar whose total was only
    an estimate; a bar that reaches its total ends by itself."""

    def __init__(self, label: str, total: int, every: float = 2.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self._last = 0.0
        self._started = time.monotonic()
        self._bar: Any = None  # rich.progress.Progress while shown
        self._closed = False

    def add(self, n: int) -> None:
        self.done += n
        if console.is_terminal:
            self._advance()
            return
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            rate = self.done / max(now - self._started, 1e-6)
            say(f"    {self.label}: {self.done:,}/{self.total:,} ({rate:,.0f}/s)")

    def _advance(self) -> None:
        if self._closed:  # an estimated total was passed: the bar stays as it ended
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn(f"    {self.label}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console)
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
            self._bar.start()
            atexit.register(self.close)  # a bar left open would leave the terminal's cursor hidden
        rate = self.done / max(time.monotonic() - self._started, 1e-6)
        self._bar.update(self._task, completed=self.done, rate=f"{rate:,.0f}/s")
        if self.done >= self.total:
            self.close()

    def close(self) -> None:
        self._closed = True
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
