"""Versioned peppers (anpr/keyring.py) on inline register/loads rows: which pepper is in use, a re-key
under way, new peppers as private files, and what may not be destroyed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from anpr.keyring import REKEY_STARTED, Keyring, KeyringError, RekeyInProgress, active_pepper_id, pepper_id, since_rekey
from jobs.keys import previous_pepper

CONFIGURED = b"a-configured-test-pepper"


def loads(*rows: tuple[str, str, int]) -> pa.Table:
    """(pepper_id, source, day of November 2026) per load."""
    return pa.Table.from_pylist([{"pepper_id": p, "source": s, "loaded_at": datetime(2026, 11, d, tzinfo=UTC)}
                                 for p, s, d in rows])


def test_the_pepper_in_use_is_the_one_of_the_newest_load():
    assert active_pepper_id(loads()) is None
    assert active_pepper_id(loads(("a", "csv", 1), ("b", REKEY_STARTED, 2), ("b", "csv", 3))) == "b"
    with pytest.raises(RekeyInProgress, match="being re-keyed under pepper b"):
        active_pepper_id(loads(("a", "csv", 1), ("b", REKEY_STARTED, 2)))
    assert since_rekey(loads(("a", "csv", 1), ("b", REKEY_STARTED, 2), ("b", "csv", 3)))["pepper_id"].to_pylist() \
        == ["b", "b"]


def test_an_interrupted_rekey_leaves_the_pepper_before_it_in_use():
    assert previous_pepper(loads(("a", "csv", 1), ("b", REKEY_STARTED, 2))) == ("a", "b")
    assert previous_pepper(loads(("a", "csv", 1), ("b", REKEY_STARTED, 2), ("b", "csv", 3),
                                 ("c", REKEY_STARTED, 4))) == ("b", "c")
    assert previous_pepper(loads(("a", "csv", 1))) == ("a", None)
    # interrupted twice: the second retry still finds the pepper of the last completed load
    assert previous_pepper(loads(("a", "csv", 1), ("b", REKEY_STARTED, 2), ("c", REKEY_STARTED, 3))) == ("a", "c")


def test_a_new_pepper_is_a_private_random_file_named_by_its_id(tmp_path):
    keyring = Keyring(tmp_path / "keyring", CONFIGURED, secrets_dir=tmp_path / "secrets")
    made = keyring.create()
    value = made.read()
    assert len(value) == 64 and made.id == pepper_id(value) and made.id != pepper_id(CONFIGURED)
    assert stat.S_IMODE((tmp_path / "keyring" / f"{made.id}.pepper").stat().st_mode) == 0o600
    assert list(keyring.peppers()) == [pepper_id(CONFIGURED), made.id]
    assert keyring.active(None).id == pepper_id(CONFIGURED)
    assert keyring.active(loads((made.id, "csv", 1))).read() == value
    with pytest.raises(KeyringError, match="pepper f00 is not held here"):
        keyring.active(loads(("f00", "csv", 1)))


def test_destroy_refuses_the_pepper_in_use_one_with_kept_passages_and_the_configured_one(tmp_path):
    keyring = Keyring(tmp_path / "keyring", CONFIGURED, secrets_dir=tmp_path / "secrets")
    old, new = keyring.create(), keyring.create()
    with pytest.raises(KeyringError, match="in use"):
        keyring.destroy(new.id, active=new.id, passages_kept=0)
    with pytest.raises(KeyringError, match="still made 12 kept passages"):
        keyring.destroy(old.id, active=new.id, passages_kept=12)
    with pytest.raises(KeyringError, match="configured pepper"):
        keyring.destroy(pepper_id(CONFIGURED), active=new.id, passages_kept=0)
    assert keyring.destroy(old.id, active=new.id, passages_kept=0).name == f"{old.id}.pepper"
    assert list(keyring.peppers()) == [pepper_id(CONFIGURED), new.id]
    assert CONFIGURED.decode() not in " ".join(str(p) for p in keyring.peppers().values())
