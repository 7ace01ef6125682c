"""Vendor contracts from conf/vendors.toml: the municipalities each vendor may read, its rate limit and
how long it may keep what it exports (the expiry every answer with release data carries)."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from anpr.settings import CONF_DIR

MUNICIPALITY_CODE = r"^GM\d{4}$"


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests_per_minute: int = Field(default=600, gt=0)
    burst: int = Field(default=120, gt=0)
    export_days: int = Field(default=90, gt=0)


class ContractDecl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    municipalities: list[str] = Field(min_length=1)
    requests_per_minute: int | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, gt=0)
    export_days: int | None = Field(default=None, gt=0)


class VendorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: Defaults = Defaults()
    vendors: dict[str, ContractDecl] = Field(default_factory=dict)


class Contract(BaseModel):
    """A vendor's contract with the defaults applied."""

    model_config = ConfigDict(frozen=True)
    vendor: str
    name: str
    municipalities: frozenset[str]
    requests_per_minute: int
    burst: int
    export_days: int = 90

    def expires_at(self, created_at: str) -> str:
        """When data of a release created at `created_at` (ISO 8601 with offset, as the release store
        gives it) must be destroyed by this vendor: created + export_days, in the same format. The rule:
        exported data carry a best-before date after which they are destroyed (seed 001, 4.2)."""
        return (datetime.fromisoformat(created_at) + timedelta(days=self.export_days)).isoformat()


def parse_contracts(text: str) -> dict[str, Contract]:
    """Contracts by vendor name; ValueError naming the problem on a malformed file."""
    parsed = VendorsFile.model_validate(tomllib.loads(text))
    out = {}
    for vendor, decl in parsed.vendors.items():
        bad = [m for m in decl.municipalities if not re.match(MUNICIPALITY_CODE, m)]
        if bad:
            raise ValueError(f"vendor {vendor}: municipality codes look like GM0344, not {bad}")
        out[vendor] = Contract(
            vendor=vendor, name=decl.name or vendor, municipalities=frozenset(decl.municipalities),
            requests_per_minute=decl.requests_per_minute or parsed.defaults.requests_per_minute,
            burst=decl.burst or parsed.defaults.burst,
            export_days=decl.export_days or parsed.defaults.export_days)
    return out


def load_contracts(conf_dir: Path = CONF_DIR) -> dict[str, Contract]:
    path = conf_dir / "vendors.toml"
    if not path.exists():
        return {}
    try:
        return parse_contracts(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
