"""Files other processes read while they may be rewritten (peppers, generated passwords, digest keys, TLS
material, the supplier registry), written so no reader ever sees half of one.

A file is written whole under a hidden draft name in its folder (`.<name>.<pid>.<random>`), flushed to
disk, and only then put in place: linked for a new one (the first process to make it wins, the others
keep its value), renamed over for a replaced one; the folder is flushed after, so a power cut does not
lose a file another table already names (a keyring pepper's id). A process killed mid-write leaves at
most a draft no reader looks at, never an empty or cut-short file that the next start would take for the
real one: keys derived from half a pepper would be wrong without any error. The next write of the same
file removes the drafts of processes that are gone, and `remove_whole` removes a file with its drafts, so a
destroyed pepper leaves no copy behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from anpr.processes import pid_alive

# link(2) refused by the filesystem (SMB, FUSE object-store mounts): rename in place instead
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}


class EmptyFileError(RuntimeError):
    """A file that must hold a value is empty: left by a write of an earlier release killed mid-way."""


def _drafts(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{path.name}.*")) if path.parent.is_dir() else []


def _clear_stale_drafts(path: Path) -> None:
    for draft in _drafts(path):
        pid = draft.name.removeprefix(f".{path.name}.").split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            draft.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _draft(path: Path, value: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _clear_stale_drafts(path)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(value)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    return draft


def create_once(path: Path, value: bytes, mode: int = 0o600) -> bytes:
    """The file at path, made with value when there is none yet; returns what the file holds (another
    process's value when it made the file first).

    Raises EmptyFileError for an existing empty file, naming it: it is no value to derive anything from.
    """
    if not path.exists():
        draft = _draft(path, value, mode)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if not path.exists():  # a narrow race here keeps the later of two values; both are whole
                os.rename(draft, path)
        finally:
            draft.unlink(missing_ok=True)
        _sync_folder(path.parent)
    held = path.read_bytes()
    if not held.strip():
        raise EmptyFileError(f"{path} is empty (a write killed mid-way by an earlier release): remove it, and "
                             "anything made with it, so a new one is made")
    return held


def replace_whole(path: Path, value: bytes, mode: int = 0o600) -> None:
    """Put value at path, replacing what was there in one step (readers see the old or the new value)."""
    os.replace(_draft(path, value, mode), path)
    _sync_folder(path.parent)


def remove_whole(path: Path) -> None:
    """Remove the file and any draft of it (FileNotFoundError when there is no file)."""
    path.unlink()
    for draft in _drafts(path):
        draft.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        _sync_folder(path.parent)
