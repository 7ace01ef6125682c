"""Secret files (peppers, generated passwords, digest keys) written so no process ever reads half of one.

A secret is written whole under a hidden draft name in its folder, flushed to disk, and only then put in
place: linked for a new one (the first process to make it wins, the others keep its value), renamed over
for a replaced one. A process killed mid-write leaves at most a draft no reader looks at, never an empty
or cut-short secret that the next start would take for the real one: keys derived from half a pepper
would be wrong without any error. Files are mode 0600 in a folder of mode 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def _draft(path: Path, value: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(value)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    return draft


def create_secret(path: Path, value: bytes) -> bytes:
    """The secret at path, made with value when there is none yet; returns what the file holds (another
    process's value when it made the file first)."""
    if not path.exists():
        draft = _draft(path, value)
        try:
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return path.read_bytes()


def replace_secret(path: Path, value: bytes) -> None:
    """Put value at path, replacing what was there in one step (readers see the old or the new value)."""
    os.replace(_draft(path, value), path)
