"""Versioned peppers: the configured pepper and the ones `anpr keys rotate` made, told apart by pepper_id.

A pepper made by a rotation is a file ``<keyring>/<pepper_id>.pepper`` (mode 0600, 64 hex characters
from ``secrets.token_hex(32)``): the keyring folder is ``<data_dir>/secrets/keyring`` on the embedded
default and ANPR_KEYRING_DIR in the cluster profile, mounted on every node like ANPR_PEPPER_FILE, since
the JVM's HMAC functions read a pepper by its file's path on each executor.

Which pepper is in use is not configuration but a fact of the data: the pepper that made the register's
keys (register/loads, `active_pepper_id`), since the stream must derive the same vehicle_key to join it.
The rotation procedure (docs/privacy.md, key rotation) is therefore: a new pepper, the register reloaded
under it (`jobs/register/load.py rekey`), the stream switching at its next batch boundary when it sees the
register's pepper change, and the old pepper destroyed (`destroy`) once no passage made with it is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from anpr.atomic_files import create_once, remove_whole
from anpr.pseudonym import write_pepper_file

SUFFIX = ".pepper"
# register/loads.source of the row a re-key writes before it replaces the register's keys: until a load
# with the same pepper_id follows it, the register is half re-keyed and no reader may use it.
REKEY_STARTED = "rekey started"


class KeyringError(Exception):
    """A pepper that is missing, unknown, still needed, or not this machine's to destroy (one line)."""


def pepper_id(pepper: bytes) -> str:
    """Tells peppers apart without revealing them: 16 hex characters of HMAC-SHA256(pepper, fixed text)."""
    return hmac.new(pepper, b"register-pepper-id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Pepper:
    id: str
    path: str  # a file holding it, for the JVM functions
    configured: bool  # ANPR_PEPPER / ANPR_PEPPER_FILE, not a keyring file

    def read(self) -> bytes:
        return Path(self.path).read_bytes().strip()


class Keyring:
    """The peppers this machine holds: the configured one (may be None) and the keyring folder's files."""

    def __init__(self, folder: Path, configured: bytes | None, configured_path: str | None = None,
                 secrets_dir: Path | None = None) -> None:
        self.folder = folder
        self._configured: Pepper | None = None
        if configured is not None:
            path = configured_path or str(write_pepper_file(secrets_dir or folder.parent, configured))
            self._configured = Pepper(pepper_id(configured), path, configured=True)

    def peppers(self) -> dict[str, Pepper]:
        """pepper_id -> Pepper, the configured one first, then the keyring's files by name."""
        out = {self._configured.id: self._configured} if self._configured else {}
        files = sorted(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []
        for f in files:
            out.setdefault(f.name.removesuffix(SUFFIX), Pepper(f.name.removesuffix(SUFFIX), str(f), configured=False))
        return out

    def get(self, pid: str) -> Pepper:
        """Raises KeyringError when this machine does not hold the pepper."""
        pepper = self.peppers().get(pid)
        if pepper is None:
            raise KeyringError(f"pepper {pid} is not held here: neither the configured pepper (ANPR_PEPPER or "
                               f"ANPR_PEPPER_FILE) nor a file in the keyring {self.folder} (ANPR_KEYRING_DIR)")
        return pepper

    def active(self, loads: pa.Table | None) -> Pepper:
        """The pepper that made the register's keys (`active_pepper_id` of register/loads), or the configured
        one for an empty or absent (None) register. Raises KeyringError when neither is held, and
        RekeyInProgress while a re-key is under way."""
        pid = None if loads is None else active_pepper_id(loads)
        if pid is not None:
            return self.get(pid)
        if self._configured is None:
            raise KeyringError("no pepper configured: set ANPR_PEPPER or ANPR_PEPPER_FILE")
        return self._configured

    def create(self) -> Pepper:
        """A new random pepper as a keyring file only its owner reads. Returns it; its value is never shown."""
        value = secrets.token_hex(32).encode()
        pid = pepper_id(value)
        path = self.folder / f"{pid}{SUFFIX}"
        create_once(path, value)
        return Pepper(pid, str(path), configured=False)

    def destroy(self, pid: str, active: str, passages_kept: int) -> Path:
        """Deletes a rotated-out pepper's file. Raises KeyringError, naming the reason, for the active
        pepper, for one that still made `passages_kept` > 0 kept passages (retention removes them first),
        and for the configured pepper (that one is removed from the configuration, not from here)."""
        pepper = self.get(pid)
        if pid == active:
            raise KeyringError(f"pepper {pid} made the register's keys in use: rotate to a new pepper first")
        if passages_kept:
            raise KeyringError(f"pepper {pid} still made {passages_kept:,} kept passages: destroy it after "
                               "retention removed them (anpr retention run)")
        if pepper.configured:
            raise KeyringError(f"pepper {pid} is the configured pepper: remove it from ANPR_PEPPER / "
                               "ANPR_PEPPER_FILE (and conf/) instead")
        path = Path(pepper.path)
        remove_whole(path)  # with any draft copy a killed write left beside it
        return path


def since_rekey(loads: pa.Table) -> pa.Table:
    """The rows of register/loads from the newest REKEY_STARTED on (all when there was none): the loads
    whose keys the register's tables hold now."""
    started = pc.equal(loads["source"], REKEY_STARTED)
    if not pc.any(started).as_py():
        return loads
    return loads.filter(pc.greater_equal(loads["loaded_at"], pc.max(loads.filter(started)["loaded_at"])))


def active_pepper_id(loads: pa.Table) -> str | None:
    """The pepper_id of the register's newest load (register/loads: pepper_id, loaded_at, source), or None
    for an empty register.

    Raises KeyringError while a re-key is under way (its REKEY_STARTED row not yet followed by a load
    under the same pepper): the register then holds keys of two peppers, and no reader may join it.
    """
    if loads.num_rows == 0:
        return None
    order = pc.sort_indices(loads, [("loaded_at", "descending")])
    rows = loads.take(order).select(["pepper_id", "source"]).to_pylist()
    newest = rows[0]
    if newest["source"] == REKEY_STARTED:
        raise RekeyInProgress(f"the register is being re-keyed under pepper {newest['pepper_id']}: wait until "
                              "`anpr keys rotate` finished (or run it again if it was interrupted)")
    return str(newest["pepper_id"])


class RekeyInProgress(KeyringError):
    """The register is half re-keyed: readers wait, the operator finishes the rotation."""
