"""Logging set-up: one line per event on stderr, everything (tracebacks too) in <data_dir>/logs/anpr.log.

Several processes append to anpr.log at once (the stream, the APIs, batch commands), so it is rotated by
concurrent-log-handler: a lock file (`.__anpr.lock` beside it) serializes writes and the rotation, and a
process whose open file was rotated away reopens anpr.log before its next write, so no line is lost.
"""

from __future__ import annotations

import logging
from pathlib import Path

from anpr.settings import LogSettings

QUIET = ("kafka", "py4j", "uvicorn.access", "deltalake")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class FirstLine(logging.Formatter):
    """The terminal's format: a record's first line, without its traceback (that stays in the file)."""

    def format(self, record: logging.LogRecord) -> str:
        bare = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        text = super().format(bare)
        return text.splitlines()[0] if text else text


def setup_logging(log_dir: Path | None, level: str = "INFO", rotation: LogSettings | None = None) -> None:
    """Log to stderr (warnings, first lines only) and, with a log_dir, everything to log_dir/anpr.log rotated
    by size as `rotation` (settings.logs; default LogSettings()) says."""
    # The terminal gets warnings; progress lines are printed separately. The file keeps everything.
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING if log_dir is not None else level)
    if log_dir is not None:
        console.setFormatter(FirstLine(FORMAT))
        # A client library's connection errors (kafka-python logs each refused connection as ERROR) are
        # details: the command's own one-line cause says what failed and what to do.
        console.addFilter(lambda record: not record.name.startswith(QUIET))
    handlers: list[logging.Handler] = [console]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        from concurrent_log_handler import ConcurrentRotatingFileHandler

        rotation = rotation or LogSettings()
        handlers.append(ConcurrentRotatingFileHandler(str(log_dir / "anpr.log"), maxBytes=rotation.max_bytes,
                                                      backupCount=rotation.backup_count, encoding="utf-8"))
    logging.basicConfig(
        level=level, handlers=handlers, force=True,
        format=FORMAT,
    )
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
