"""What the ingest service keeps of a supplier's idempotency keys, file names and bodies: keyed digests.

Some ANPR systems build these from plates (`ZZ-123-Q:2026-12-05`), and what the service remembers of a
request lies on disk for 7 days (ingest/idempotency.sqlite). An unkeyed hash would not hide them: plates
are few enough to hash every one and look the digest up. So each is HMAC-SHA256 under a random secret of
this installation, made on first use at `<data_dir>/secrets/ingest/digest.key` (mode 0600) and kept, so
a replay after a restart of the service still finds its key. Losing the file only forgets the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from anpr.atomic_files import create_once
from anpr.contract import is_uuid
from anpr.settings import INGEST_DIGEST_KEY

SECRET_FILE = INGEST_DIGEST_KEY


def idempotency_identity(key: str) -> str:
    """The key as compared: a uuid in lower case (RFC 9562 uuids are case-insensitive), any other key as
    sent."""
    return key.lower() if is_uuid(key) else key



class Digests:
    """Keyed digests (64 hex characters) of supplier text, one purpose apart from another."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the ingest digest secret is shorter than 32 bytes")
        self._secret = secret

    def __repr__(self) -> str:
        return "Digests(<secret>)"

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> Digests:
        """The installation's digests, their secret made at `data_dir / SECRET_FILE` on first use."""
        return cls(_secret(data_dir / SECRET_FILE))

    @classmethod
    def ephemeral(cls) -> Digests:
        """Digests under a secret of this process only: for services built by hand (tests, benchmarks)
        that need not recognise a key after a restart."""
        return cls(secrets.token_hex(32).encode())

    def _of(self, purpose: bytes, data: bytes) -> str:
        return hmac.new(self._secret, purpose + b"\0" + data, hashlib.sha256).hexdigest()

    def idempotency_key(self, key: str) -> str:
        """The key as stored: its digest, uuids compared case-insensitively (`idempotency_identity`)."""
        return self._of(b"idempotency-key", idempotency_identity(key).encode())

    def filename(self, name: str) -> str:
        return self._of(b"filename", name.encode())

    def body(self, body: bytes) -> str:
        return self._of(b"body", body)


def _secret(path: Path) -> bytes:
    return create_once(path, secrets.token_hex(32).encode()).strip()
