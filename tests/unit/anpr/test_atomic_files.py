"""Secret files are never seen half-written: by a process starting beside the writer, nor after a kill."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from anpr.atomic_files import EmptyFileError, create_once, remove_whole, replace_whole
from anpr.kafka_security import _generated
from anpr.pseudonym import write_pepper_file


def test_the_first_secret_made_is_the_one_every_maker_keeps(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "digest.key"
    with ThreadPoolExecutor(8) as pool:
        kept = set(pool.map(lambda i: create_once(path, f"value-{i:02d}".encode()), range(32)))
    assert len(kept) == 1 and kept == {path.read_bytes()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["digest.key"]  # no drafts left


def test_a_writer_killed_mid_write_leaves_no_secret_a_reader_would_take(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "kafka" / "stream"

    def killed(fd: int) -> None:
        raise KeyboardInterrupt  # as a signal would, after the bytes were written but before they were in place

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        _generated(path)
    assert not path.exists() and list(path.parent.iterdir()) == []
    monkeypatch.undo()
    password = _generated(path)
    assert len(password) >= 40 and _generated(path) == password


def test_a_changed_pepper_replaces_the_old_one_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    old, new = b"a" * 64, b"b" * 64
    path = write_pepper_file(tmp_path, old)

    def killed(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        write_pepper_file(tmp_path, new)
    assert path.read_bytes() == old  # before: truncated in place, an empty pepper for every reader meanwhile
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pepper"]
    monkeypatch.undo()
    assert write_pepper_file(tmp_path, new).read_bytes() == new
    replace_whole(path, old)
    assert path.read_bytes() == old and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_drafts_of_killed_writers_go_with_the_next_write_and_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keyring" / "abc.pepper"
    finished = subprocess.Popen(["true"])
    finished.wait()  # a writer that is gone
    path.parent.mkdir(mode=0o700)
    stale = path.with_name(f".{path.name}.{finished.pid}.0a1b2c3d")
    stale.write_bytes(b"a copy of the pepper a killed write left")
    create_once(path, b"c" * 64)
    assert sorted(p.name for p in path.parent.iterdir()) == ["abc.pepper"]
    stale.write_bytes(b"another copy")
    remove_whole(path)  # Keyring.destroy: a destroyed pepper leaves no copy behind
    assert list(path.parent.iterdir()) == []


def test_an_empty_secret_left_by_an_earlier_release_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "kafka" / "producer"
    path.parent.mkdir()
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"producer is empty .*remove it"):
        _generated(path)


def test_a_filesystem_without_hard_links_still_gets_the_file_whole(tmp_path: Path, monkeypatch) -> None:
    def refused(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    path = tmp_path / "keyring" / "def.pepper"
    assert create_once(path, b"d" * 64) == b"d" * 64
    assert create_once(path, b"e" * 64) == b"d" * 64
    assert sorted(p.name for p in path.parent.iterdir()) == ["def.pepper"]
