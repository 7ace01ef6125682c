"""The typed model of conf/register.toml: mappings and rules behind the derived register dimensions."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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


class SbiAfdeling(_Strict):
    code: str
    omschrijving: str

    @field_validator("code")
    @classmethod
    def _two_digits(cls, code: str) -> str:
        # The tables publish the afdeling (division); a finer code would mix levels in one column.
        if not re.fullmatch(r"\d{2}", code):
            raise ValueError(f"SBI afdeling code {code!r} must be exactly two digits (e.g. \"49\")")
        return code

    @field_validator("omschrijving")
    @classmethod
    def _named(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("SBI afdeling omschrijving must not be empty; leave the division out to name it from "
                             "its section")
        return text.strip()


class SbiConf(_Strict):
    """Names of SBI 2008 afdelingen (divisions) by code; a division not listed gets a name from its section."""

    afdelingen: list[SbiAfdeling] = Field(default_factory=list)

    @field_validator("afdelingen")
    @classmethod
    def _unique(cls, afdelingen: list[SbiAfdeling]) -> list[SbiAfdeling]:
        codes = [a.code for a in afdelingen]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"SBI afdeling codes must be unique; listed more than once: {', '.join(repeated)}")
        return afdelingen

    def naam(self, code: str) -> str | None:
        return next((a.omschrijving for a in self.afdelingen if a.code == code), None)


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


class RegisterConfError(ValueError):
    """conf/register.toml does not validate: one line naming the file and each invalid setting."""


def read_register_conf(path: Path) -> RegisterConf:
    """The typed conf; RegisterConfError naming the file and each invalid setting (e.g.
    "sbi.afdelingen.3.code: SBI afdeling code '494' must be exactly two digits")."""
    with path.open("rb") as f:
        raw = tomllib.load(f)
    try:
        return RegisterConf.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise RegisterConfError(f"{path}: {problems}") from None


@lru_cache(maxsize=1)
def load_register_conf() -> RegisterConf:
    return read_register_conf(CONF_DIR / REGISTER_CONF)
