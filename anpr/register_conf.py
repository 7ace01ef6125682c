"""The typed model of conf/register.toml: mappings and rules behind the derived register dimensions."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from anpr.settings import CONF_DIR

REGISTER_CONF = "register.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VoertuigTypeConf(_Strict):
    eu_categorie: dict[str, str]
    voertuigsoort: dict[str, str] = Field(default_factory=dict)
    bedrijfsauto: list[str] = Field(default_factory=lambda: ["Bedrijfsauto"])
    bestelauto_max_massa_kg: int = 3500
    anders: str = "Overig"


class BrandstofConf(_Strict):
    labels: dict[str, str]
    emissievrij: list[str]
    hybride: str = "Hybride"
    voorrang: list[str] = Field(default_factory=list)
    anders: str = "Overig"


class CarrosserieConf(_Strict):
    codes: dict[str, str]
    code_families: dict[str, str] = Field(default_factory=dict)
    inrichting: dict[str, str] = Field(default_factory=dict)
    anders: str = "Overig"


class SbiGroep(_Strict):
    code: str
    omschrijving: str
    prefixes: list[str] = Field(min_length=1)

    @field_validator("prefixes")
    @classmethod
    def _at_most_groep_level(cls, prefixes: list[str]) -> list[str]:
        # Three digits is the SBI "groep"; anything finer is refused by the disclosure declarations.
        for p in prefixes:
            if not (p.isdigit() and 2 <= len(p) <= 3):
                raise ValueError(f"SBI prefix {p!r} must be two or three digits (division or group)")
        return prefixes


class SbiConf(_Strict):
    groepen: list[SbiGroep] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> SbiConf:
        codes = [g.code for g in self.groepen]
        prefixes = [p for g in self.groepen for p in g.prefixes]
        if len(set(codes)) != len(codes):
            raise ValueError("SBI group codes must be unique")
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("an SBI prefix may belong to one group only")
        return self


class BedrijfsgrootteConf(_Strict):
    klein_tot: int = Field(50, ge=1)
    groot_vanaf: int = Field(250, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> BedrijfsgrootteConf:
        if self.groot_vanaf <= self.klein_tot:
            raise ValueError("groot_vanaf must be above klein_tot")
        return self


class ToegangRegel(_Strict):
    """Conditions (all must hold; None matches anything) and the first day without access."""

    voertuig_type: list[str] | None = None
    euro_min: int | None = Field(None, ge=0, le=6)
    euro_max: int | None = Field(None, ge=0, le=6)
    eerste_toelating_vanaf: date | None = None
    eerste_toelating_voor: date | None = None
    carrosserie: list[str] | None = None
    toegang_tot: date


class ZeToegangConf(_Strict):
    onderworpen: list[str]
    ingang: date
    regels: list[ToegangRegel] = Field(default_factory=list)


class OntheffingConf(_Strict):
    soorten: dict[str, str]

    @field_validator("soorten")
    @classmethod
    def _two_kinds(cls, soorten: dict[str, str]) -> dict[str, str]:
        # Only has/has-not and temporary/long-term may be kept (seed 001): never a reason.
        bad = sorted(set(soorten.values()) - {"Tijdelijk", "Langdurig"})
        if bad:
            raise ValueError(f"exemption kinds must map to Tijdelijk or Langdurig, not {bad}")
        return {k.lower(): v for k, v in soorten.items()}


class EigenaarConf(_Strict):
    soorten: dict[str, str]

    @field_validator("soorten")
    @classmethod
    def _two_kinds(cls, soorten: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(soorten.values()) - {"Bedrijf", "Particulier"})
        if bad:
            raise ValueError(f"owner kinds must map to Bedrijf or Particulier, not {bad}")
        return {k.lower(): v for k, v in soorten.items()}


class RegisterConf(_Strict):
    history_start: date = date(1900, 1, 1)
    voertuig_type: VoertuigTypeConf
    brandstof: BrandstofConf
    carrosserie: CarrosserieConf
    sbi: SbiConf
    bedrijfsgrootte: BedrijfsgrootteConf
    ze_toegang: ZeToegangConf
    ontheffing: OntheffingConf
    eigenaar: EigenaarConf


def read_register_conf(path: Path) -> RegisterConf:
    with path.open("rb") as f:
        return RegisterConf.model_validate(tomllib.load(f))


@lru_cache(maxsize=1)
def load_register_conf() -> RegisterConf:
    return read_register_conf(CONF_DIR / REGISTER_CONF)
