"""Typed disclosure-control settings from conf/disclosure.toml: defaults plus per-table overrides.

In the core because the catalogue serves each table's protection text; jobs/stats/sdc applies the rules."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from anpr.settings import CONF_DIR

# The protection text's last sentence without noise; the vendor API replaces it for callers whose counts it
# rounds (api/vendor/tables.py rounded_protection).
EXACT = "Published values are exact."

class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_vehicles: int = Field(default=10, ge=1)
    min_owners: int = Field(default=3, ge=1)
    dominance_n: int = Field(default=2, ge=1)
    dominance_k: float = Field(default=85.0, gt=0, le=100)
    protection_ratio: float = Field(default=0.20, ge=0)
    protection_min: float = Field(default=3.0, ge=0)
    noise: Literal["none", "round", "cellkey"] = "none"

    def margin(self, value: float) -> float:
        """The narrowest feasible interval the audit accepts for a suppressed cell of this value."""
        return max(self.protection_ratio * value, self.protection_min)

    def strictest(self, other: Rules) -> Rules:
        return Rules(min_vehicles=max(self.min_vehicles, other.min_vehicles),
                     min_owners=max(self.min_owners, other.min_owners),
                     dominance_n=max(self.dominance_n, other.dominance_n),
                     dominance_k=min(self.dominance_k, other.dominance_k),
                     protection_ratio=max(self.protection_ratio, other.protection_ratio),
                     protection_min=max(self.protection_min, other.protection_min),
                     noise=self.noise)


class NoiseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    round_base: int = Field(default=5, ge=2)
    cellkey_max: int = Field(default=2, ge=1)
    cellkey_probabilities: list[float] = Field(default_factory=lambda: [0.05, 0.2, 0.5, 0.2, 0.05])

    @model_validator(mode="after")
    def _check(self) -> NoiseSettings:
        if len(self.cellkey_probabilities) != 2 * self.cellkey_max + 1:
            raise ValueError("cellkey_probabilities needs one probability per perturbation -max..+max")
        if abs(sum(self.cellkey_probabilities) - 1) > 1e-9 or min(self.cellkey_probabilities) < 0:
            raise ValueError("cellkey_probabilities must be non-negative and sum to 1")
        return self


class AuditSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_rounds: int = Field(default=200, ge=1)
    exact: bool = False
    publish_trials: int = Field(default=0, ge=0)  # secondary cells tried for publication after the rounds
    # a secondary cell hiding more than this share of its zone's passages (vehicles, where it publishes none)
    # is published again and avoided, the rounds going on from there (protect._repaired), kept when that hides
    # less; at most this many times (off by default: on a city-sized zone those rounds had not ended after
    # four times the first protection's time, conf/disclosure.toml)
    costly_secondary_share: float = Field(default=0.02, ge=0.0, le=1.0)
    costly_secondary_trials: int = Field(default=0, ge=0)
    # true: the audit attacks the final pattern from scratch even where every primary cell passed a linked
    # round's attack on a pattern whose feasible set the final one holds (protect.Attested); same verdicts
    independent: bool = False


class DeclarationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sbi_max_level: str = "groep"


class RecodingPolicy(BaseModel):
    """Global recoding before suppression (docs/statistics.md, "Global recoding"), as tau-ARGUS users do."""

    model_config = ConfigDict(extra="forbid")
    # a table whose cells, over all zones of a month's first release, would be primary-suppressed more
    # often than this is published one level up every declared hierarchy it is keyed by (1.0: never)
    max_primary_share: float = Field(default=0.5, ge=0.0, le=1.0)
    # and, after a first protection, a table that puts more than this share of some zone's passages in
    # suppressed cells; its zones are then protected again, and the recoded pattern is kept if it hides fewer
    # passages over all tables (1.0: never)
    max_passages_share: float = Field(default=0.05, ge=0.0, le=1.0)
    # fine source columns whose level above anpr/catalogue.py RECODES declares
    hierarchies: list[str] = Field(default_factory=lambda: ["sbi_groep_code", "brandstof"])


class DisclosureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: Rules = Field(default_factory=lambda: Rules())
    noise: NoiseSettings = Field(default_factory=lambda: NoiseSettings())
    audit: AuditSettings = Field(default_factory=lambda: AuditSettings())
    declarations: DeclarationPolicy = Field(default_factory=lambda: DeclarationPolicy())
    recoding: RecodingPolicy = Field(default_factory=lambda: RecodingPolicy())
    tables: dict[str, dict[str, object]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_overrides(self) -> DisclosureConfig:
        for name in self.tables:
            self.rules_for(name)  # an unknown key or a bad value fails here, at load time
        return self

    def rules_for(self, table: str) -> Rules:
        return Rules.model_validate({**self.rules.model_dump(), **self.tables.get(table, {})})

    def with_min_vehicles(self, floor: int) -> DisclosureConfig:
        """The stricter of this file and another setting (conf/base.toml [disclosure]) wins."""
        rules = self.rules.model_copy(update={"min_vehicles": max(self.rules.min_vehicles, floor)})
        tables = {n: {**o, "min_vehicles": max(int(str(o.get("min_vehicles", floor))), floor)}
                  for n, o in self.tables.items()}
        return self.model_copy(update={"rules": rules, "tables": tables})

    def describe(self, table: str, counts: list[str]) -> str:
        """The protection text served with the table (api/vendor/tables.py, and per release in `protection`):
        exactly what the audit guarantees (docs/statistics.md, "The audit"), and no more. Each clause
        matches the code: dominance measure (jobs/stats/sdc/cells.py Registry.dominance_measure), counts
        attacked (jobs/stats/sdc/protect.py _targets), the attacker modelled (jobs/stats/sdc/system.py),
        unions (jobs/stats/sdc/unions.py unsafe_unions), every served release of the month together
        (jobs/stats/sdc/revision.py). `counts` lists the codes (P, R, V) of the counts the table publishes
        (TableSpec.counts)."""
        if not counts:
            # the camera table (4.12; the anonymous table has its own text, anpr/catalogue.py)
            return ("No data about vehicles or owners: published as is, except that in a zone where a camera "
                    "that recorded passages in every judgeable hour, showing no passage in an hour of the "
                    "passage tables, would tell that the zone saw fewer passages then than the judging threshold, "
                    "and so narrow a suppressed count below the rules of the count tables, the percentages of "
                    "those cameras are withheld (null), in this release and in every later one of the month.")
        r = self.rules_for(table)
        dominance_on = "passages" if "P" in counts else \
            "vehicles (of its passages where another table of the release shows the same vehicles' passages)"
        noise = {"none": EXACT,
                 "round": f"Published values are rounded to multiples of {self.noise.round_base}; the "
                          "guarantee holds for the exact values.",
                 "cellkey": f"Published values carry cell-key noise of at most {self.noise.cellkey_max}, the "
                            "same for the same cell in every table; the guarantee holds for the exact values."}[r.noise]
        return (f"A cell with fewer than {r.min_vehicles} distinct vehicles or fewer than {r.min_owners} "
                f"distinct owners, or whose {r.dominance_n} largest owners hold more than {r.dominance_k:g}% "
                f"of its {dominance_on}, publishes no counts (null); a population shown in several tables "
                "follows the strictest rules among them, and has one fate in all. Further cells are suppressed "
                "until, for each such cell and each count it would publish (a zero trip count excepted), the "
                f"values consistent with this release span at least {r.protection_ratio:.0%} of the count (at "
                f"least {r.protection_min:g}): consistent with every published count read with the published "
                "definitions (tables add up, categories that hold the same vehicles are one population, "
                "passages, trips, vehicles and visitor types constrain each other, tables that share dimensions "
                "in a cycle have a joint table), each range rounded inward to whole numbers (the bounds are those of "
                "counts taken as real numbers; an attacker who solves for whole numbers may narrow some ranges "
                "further still); and until every sum of suppressed cells that a total minus the row's other "
                "cells gives away, the total and those cells published or fixed by the published counts, and "
                "every sum of two to four suppressed cells that totals added and subtracted fix, passes the same "
                "frequency and dominance rules, and no such sum of the passage, trip or vehicle counts of any "
                "number of cells holds fewer vehicles or owners than the frequency rule allows (such sums of five "
                "or more cells are judged by the dominance rule too where few enough counts are linked to search "
                "them: not a city's passage counts, whose hours and cameras link thousands). The further "
                "suppressed cells carry no such guarantee: some of their counts can be "
                "recalculated, exactly or closely. The guarantee holds for all releases of the same month served "
                "so far taken together: a cell suppressed in one stays suppressed in later ones; a cell whose "
                "counts changed since an earlier release by a group of vehicles that breaks the rules above "
                "is suppressed, and the values consistent with all those releases span at least "
                f"{r.protection_ratio:.0%} of each such change (at least {r.protection_min:g}), the attacker "
                "taken to know which counts grew and which shrank, as they do for the earlier releases' "
                "suppressed cells; no sum of such changes of suppressed cells between two releases, nor of an "
                "earlier release's suppressed cells, that those releases' published counts fix holds fewer "
                f"vehicles or owners than the frequency rules allow. {noise}")


def parse_disclosure(text: str) -> DisclosureConfig:
    return DisclosureConfig.model_validate(tomllib.loads(text))


def load_disclosure(conf_dir: Path = CONF_DIR) -> DisclosureConfig:
    path = conf_dir / "disclosure.toml"
    if not path.exists():
        return DisclosureConfig()
    try:
        return parse_disclosure(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
