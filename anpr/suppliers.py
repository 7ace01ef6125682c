"""The supplier registry (conf/suppliers.toml): who may deliver for which municipalities and cameras.

API keys are stored as SHA-256 digests only. The keys are long random strings issued by the platform
team, not passwords, so one fast hash suffices: guessing a preimage of a 256-bit digest of a 32+
character random key is out of reach, and a request costs one hash instead of a key-derivation run.
Development keys start with "dev-"; their entries carry `development = true` and the cluster profile
refuses them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from anpr.atomic_files import replace_whole
from anpr.settings import CONF_DIR, DEV_SECRET_PREFIX

SUPPLIERS_FILE = "suppliers.toml"
MESSAGES_PER_MINUTE = 600  # the ingest contract's limit per supplier
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key(development: bool = False) -> str:
    return ("dev-" if development else "") + secrets.token_urlsafe(32)


class Supplier(BaseModel):
    name: str  # also the `supplier` header of every message it delivers
    company: str  # the receipt's `company`
    api_key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    development: bool = False
    enabled: bool = True
    municipalities: list[str] = Field(min_length=1)  # GM codes
    # camera ids (uuids, compared in lower case) it delivers for, besides those it registers
    cameras: list[Annotated[str, StringConstraints(to_lower=True)]] = Field(default_factory=list)
    messages_per_minute: int = Field(default=MESSAGES_PER_MINUTE, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("supplier names are lowercase letters, digits and '-' (2-63 characters)")
        return value


class SupplierRegistry:
    def __init__(self, suppliers: Iterable[Supplier]) -> None:
        self.suppliers = {s.name: s for s in suppliers}
        self._by_digest: dict[str, Supplier] = {}
        owners: dict[str, str] = {}
        for s in self.suppliers.values():
            if s.api_key_sha256 in self._by_digest:
                raise ValueError(f"suppliers {self._by_digest[s.api_key_sha256].name} and {s.name} share an API key")
            self._by_digest[s.api_key_sha256] = s
            for camera in s.cameras:
                if owners.setdefault(camera, s.name) != s.name:
                    raise ValueError(f"camera {camera} is listed for both {owners[camera]} and {s.name}")
        self.camera_owner = owners

    def authenticate(self, api_key: str) -> Supplier | None:
        digest = hash_key(api_key)
        found = self._by_digest.get(digest)
        # The dict lookup already picked the entry; comparing digests in constant time keeps the
        # answer's timing independent of how much of a wrong key's digest matched a stored one.
        if found is None or not hmac.compare_digest(found.api_key_sha256, digest):
            return None
        return found

    def refuse_development_keys(self) -> None:
        dev = [s.name for s in self.suppliers.values() if s.development and s.enabled]
        if dev:
            raise ValueError(f"cluster profile refuses development supplier keys ({', '.join(dev)}): "
                             f"issue real keys with `anpr onboard` and set development = false")


def load_suppliers(path: Path | None = None) -> SupplierRegistry:
    path = path or CONF_DIR / SUPPLIERS_FILE
    if not path.exists():
        return SupplierRegistry([])
    try:
        raw = tomllib.loads(path.read_text())
        return SupplierRegistry(Supplier.model_validate(s) for s in raw.get("suppliers", []))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def supplier_toml(s: Supplier) -> str:
    lines = ["[[suppliers]]", f'name = "{s.name}"', f'company = "{s.company}"',
             f'api_key_sha256 = "{s.api_key_sha256}"', f"development = {str(s.development).lower()}",
             f"enabled = {str(s.enabled).lower()}", f"municipalities = {_toml_list(s.municipalities)}",
             f"messages_per_minute = {s.messages_per_minute}", "cameras = ["]
    lines += [f'  "{c}",' for c in s.cameras] + ["]"]
    return "\n".join(lines) + "\n"


def save_supplier(path: Path, supplier: Supplier) -> None:
    """Add the supplier, or replace the entry of the same name; other entries keep their text."""
    text = path.read_text() if path.exists() else ("# Supplier registry: see docs/ingest.md. API keys only as "
                                                   "SHA-256 digests.\n")
    blocks = re.split(r"(?m)^\[\[suppliers\]\][ \t]*$", text)
    kept = [blocks[0].rstrip("\n") + "\n"]
    for block in blocks[1:]:
        if re.search(rf'^name = "{re.escape(supplier.name)}"$', block, re.M) is None:
            kept.append("[[suppliers]]" + block.rstrip("\n") + "\n")
    # in one step: the ingest service re-reads the registry while it runs
    replace_whole(path, "\n".join([*kept, supplier_toml(supplier)]).encode(), mode=0o644)


def is_development_key(api_key: str) -> bool:
    return api_key.startswith(DEV_SECRET_PREFIX)
