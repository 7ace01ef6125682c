"""Vendor contracts from conf/vendors.toml: the municipalities each vendor may read, its access layer,
its rate limit and how long it may keep what it exports (the expiry every answer with release data
carries); and the open layer, which serves requests without a key as the contract ANONYMOUS."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from anpr.catalogue import LAYERS, TableSpec
from anpr.settings import CONF_DIR

MUNICIPALITY_CODE = r"^GM\d{4}$"
# The contract of requests without a key (the open layer); no vendor may take the name.
ANONYMOUS = "anonymous"
KEYED_LAYERS = ("vendor", "municipality")


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
    layer: str = "vendor"


class OpenLayerDecl(BaseModel):
    """[layers.open]: who publishes open data and how coarsely; no municipalities, no open layer."""

    model_config = ConfigDict(extra="forbid")
    municipalities: list[str] = Field(default_factory=list)
    round_to: int = Field(default=10, ge=1)
    requests_per_minute: int | None = Field(default=None, gt=0)  # per client address
    burst: int | None = Field(default=None, gt=0)


class LayersDecl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    open: OpenLayerDecl = OpenLayerDecl()


class VendorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: Defaults = Defaults()
    layers: LayersDecl = LayersDecl()
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
    layer: str = "vendor"  # one of anpr.catalogue.LAYERS
    round_to: int = 1  # counts are served rounded to a multiple of this (1: exact)

    def serves(self, spec: TableSpec) -> bool:
        """Whether this contract's layer reads the table (its `access` in conf/tables.toml)."""
        return spec.served_to(self.layer)

    def expires_at(self, created_at: str) -> str:
        """When data of a release created at `created_at` (ISO 8601 with offset, as the release store
        gives it) must be destroyed by this vendor: created + export_days, in the same format. The rule:
        exported data carry a best-before date after which they are destroyed (seed 001, 4.2)."""
        return (datetime.fromisoformat(created_at) + timedelta(days=self.export_days)).isoformat()


def _check_codes(who: str, codes: list[str]) -> None:
    bad = [m for m in codes if not re.match(MUNICIPALITY_CODE, m)]
    if bad:
        raise ValueError(f"{who}: municipality codes look like GM0344, not {bad}")


def parse_contracts(text: str) -> dict[str, Contract]:
    """Contracts by vendor name, and ANONYMOUS (layer open) when [layers.open] names municipalities;
    ValueError naming the problem (and the contract) on a malformed file or an unknown layer."""
    parsed = VendorsFile.model_validate(tomllib.loads(text))
    defaults = parsed.defaults
    out = {}
    for vendor, decl in parsed.vendors.items():
        _check_codes(f"vendor {vendor}", decl.municipalities)
        if vendor == ANONYMOUS:
            raise ValueError(f"vendor {ANONYMOUS}: the name is reserved for requests without a key (the open layer)")
        if decl.layer not in KEYED_LAYERS:
            what = "is the layer of requests without a key" if decl.layer in LAYERS else "is not a layer"
            raise ValueError(f"vendor {vendor}: layer {decl.layer!r} {what}; a contract's layer is "
                             f"{' or '.join(KEYED_LAYERS)}")
        out[vendor] = Contract(
            vendor=vendor, name=decl.name or vendor, municipalities=frozenset(decl.municipalities),
            requests_per_minute=decl.requests_per_minute or defaults.requests_per_minute,
            burst=decl.burst or defaults.burst, export_days=decl.export_days or defaults.export_days,
            layer=decl.layer)
    opened = parsed.layers.open
    _check_codes("layers.open", opened.municipalities)
    if opened.municipalities:
        out[ANONYMOUS] = Contract(
            vendor=ANONYMOUS, name="open data (no key)", municipalities=frozenset(opened.municipalities),
            requests_per_minute=opened.requests_per_minute or defaults.requests_per_minute,
            burst=opened.burst or defaults.burst, export_days=defaults.export_days, layer="open",
            round_to=opened.round_to)
    return out


def load_contracts(conf_dir: Path = CONF_DIR) -> dict[str, Contract]:
    path = conf_dir / "vendors.toml"
    if not path.exists():
        return {}
    try:
        return parse_contracts(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
