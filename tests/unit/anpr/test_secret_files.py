"""Secret files are never seen half-written: by a process starting beside the writer, nor after a kill."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from anpr.kafka_security import _generated
from anpr.pseudonym import write_pepper_file
from anpr.secret_files import create_secret, replace_secret


def test_the_first_secret_made_is_the_one_every_maker_keeps(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "digest.key"
    with ThreadPoolExecutor(8) as pool:
        kept = set(pool.map(lambda i: create_secret(path, f"value-{i:02d}".encode()), range(32)))
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
    replace_secret(path, old)
    assert path.read_bytes() == old and stat.S_IMODE(path.stat().st_mode) == 0o600
