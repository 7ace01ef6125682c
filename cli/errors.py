"""One line for a failure: the cause an operator can act on, with the details left to the log file.

A failed streaming query reaches Python as one exception whose message holds the JVM's stack, and the
Python traceback of a foreachBatch error inside that; printed whole it is some 200 lines. The cause is
the innermost message: our own error raised inside a batch, else the last `Caused by:` of the JVM.
"""

from __future__ import annotations

import re

OUR_ERROR = re.compile(r"^(?:anpr|streaming|jobs|api|cli)\.[\w.]*?(\w+(?:Error|Exception)): (.+)$")
PYTHON_ERROR = re.compile(r"^(\w+(?:Error|Exception)): (.+)$")
CAUSED_BY = re.compile(r"^\s*Caused by: (?:[\w$]+\.)*([\w$]+): (.+)$")
STREAM_FAILED = re.compile(r"terminated with exception: (?:[\w$]+\.)*([\w$]+): (.+)$")
MAX_CHARS = 600


def _first(pattern: re.Pattern[str], lines: list[str], last: bool = False) -> str | None:
    found = [m for m in map(pattern.search, lines) if m]
    if not found:
        return None
    m = found[-1] if last else found[0]
    return f"{m.group(1)}: {m.group(2).strip()}"


def one_line_cause(exc: BaseException) -> str:
    """The innermost cause of exc as `Type: message`, at most 600 characters, never empty.

    Order: an error of this project raised anywhere inside (its message is written for operators), a
    Python error inside a Spark traceback, the deepest JVM `Caused by:`, the query's own failure line,
    else the first line of exc.
    """
    lines = str(exc).splitlines()
    cause = (_first(OUR_ERROR, lines) or _first(PYTHON_ERROR, lines, last=True)
             or _first(CAUSED_BY, lines, last=True) or _first(STREAM_FAILED, lines))
    if cause is None:
        head = next((line.strip() for line in lines if line.strip()), "")
        cause = f"{type(exc).__name__}: {head}" if head else type(exc).__name__
    return cause if len(cause) <= MAX_CHARS else cause[: MAX_CHARS - 1] + "…"
