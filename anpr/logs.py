"""Logging set-up: one line per event on stderr and in <data_dir>/logs/anpr.log."""

from __future__ import annotations

import logging
from pathlib import Path

QUIET = ("kafka", "py4j", "uvicorn.access", "deltalake")


def setup_logging(log_dir: Path | None, level: str = "INFO") -> None:
    # The terminal gets warnings; progress lines are printed separately. The file keeps everything.
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING if log_dir is not None else level)
    handlers: list[logging.Handler] = [console]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_dir / "anpr.log"))
    logging.basicConfig(
        level=level, handlers=handlers, force=True,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
